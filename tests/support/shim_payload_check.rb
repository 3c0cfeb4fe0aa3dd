# Run by tests/integration/test_operations.py with `rails runner` on a test
# instance. The shim builds the gate's payload from what Redmine already has in
# memory and with few queries; this rebuilds each part the plain way (records
# loaded afresh) for every issue and user, and prints the differences as JSON.
require 'json'

P = RedmineInfoshare::IssuePayload
G = RedmineInfoshare::GateClient
H = RedmineInfoshare::HistoryIndex
FIELDS = RedmineInfoshare::Settings.history_field_ids
LIMIT = RedmineInfoshare::Settings.gate_value_limit
differences = []
differences << 'no history fields in the plugin settings' if FIELDS.empty?

# The journals as the gate tells them, read the plain way: the details of the
# history fields and attributes, long values as digests, journals with none left out.
def plain_journals(issue)
  Issue.find(issue.id).journals.includes(:details, :user).sort_by(&:id).filter_map do |j|
    details = j.details.sort_by(&:id).select do |d|
      (d.property == 'attr' && P::HISTORY_ATTRIBUTES.include?(d.prop_key)) || (d.property == 'cf' && FIELDS.include?(d.prop_key))
    end
    next if details.empty?

    {'id' => j.id, 'created_on' => P.time(j.created_on), 'user' => j.user_id && {'id' => j.user_id},
     'details' => details.map {|d| {'property' => d.property, 'name' => d.prop_key, 'old_value' => P.bounded(d.old_value, LIMIT), 'new_value' => P.bounded(d.value, LIMIT)} }}
  end
end

Issue.find_each do |issue|
  fresh = P.judged(Issue.find(issue.id), LIMIT)
  differences << "stored ##{issue.id}" unless P.stored(issue, LIMIT) == fresh

  # A save's changes in memory leave what is stored alone.
  changing = Issue.find(issue.id)
  single = changing.custom_field_values.find {|v| !v.custom_field.multiple? }
  multiple = changing.custom_field_values.find {|v| v.custom_field.multiple? }
  changes = {}
  changes[single.custom_field_id.to_s] = 'changed in memory' if single
  changes[multiple.custom_field_id.to_s] = Array(multiple.custom_field.possible_values).first(1) if multiple
  changing.custom_field_values = changes
  changing.status = IssueStatus.where.not(id: changing.status_id).first
  changing.subject = 'changed in memory'
  differences << "stored after changes ##{issue.id}" unless P.stored(changing, LIMIT) == fresh

  # The stored issue told as what differs from the proposed one gives it back.
  proposed = P.judged(changing, LIMIT)
  diff = P.stored_diff(changing, proposed, LIMIT)
  told = diff['custom_fields'].index_by {|entry| entry['id'] }
  rebuilt = proposed.merge(diff.except('custom_fields')).compact
                    .merge('custom_fields' => proposed['custom_fields'].map {|entry| told.fetch(entry['id'], entry) })
  differences << "stored as a diff ##{issue.id}" unless rebuilt == fresh
  differences << "diff not smaller ##{issue.id}" unless diff['custom_fields'].size <= 2

  H.forget_all
  journals, user_ids, read = P.stored_journals(issue, FIELDS, LIMIT)
  differences << "journals ##{issue.id}" unless journals.map {|j| G.journal_payload(j) } == plain_journals(issue)
  differences << "journal users ##{issue.id}" unless user_ids.sort == plain_journals(issue).filter_map {|j| j.dig('user', 'id') }.uniq.sort
  # Read again since a save remembered (its journal the newest): the same.
  H.remember(read, issue.journals.reorder(:id).last)
  again, = P.stored_journals(issue, FIELDS, LIMIT)
  differences << "journals since the last save ##{issue.id}" unless again.map {|j| G.journal_payload(j) } == plain_journals(issue)

  named = plain_journals(issue).flat_map {|j| j['details'] }.select {|d| d['property'] == 'attr' && d['name'] == 'status_id' }
                                 .flat_map {|d| [d['old_value'], d['new_value']] }.compact.map(&:to_i).uniq.sort
  differences << "statuses ##{issue.id}" unless P.statuses_named_in(journals).map {|s| s['id'] }.sort == named
end

# The history remembered by this process, while others change it: a journal
# another process writes (changing a fact, or nothing told of), a value
# rewritten in place (redaction), a journal deleted, and a save of this
# process's own, which is remembered only once it commits.
if (issue = Issue.where(tracker: Tracker.where(name: 'Information request')).reorder(:id).last) && FIELDS.any?
  told = lambda { P.stored_journals(Issue.find(issue.id), FIELDS, LIMIT).first.map {|j| G.journal_payload(j) } }
  check = ->(what) { differences << "history remembered, #{what}" unless told.call == plain_journals(issue) }
  H.forget_all
  _, _, read = P.stored_journals(issue, FIELDS, LIMIT)
  H.remember(read, issue.journals.reorder(:id).last)
  author = User.find_by(login: 'practitioner1')
  User.current = author
  # As another Redmine process would write them: no save of this process's.
  written = lambda do |**attributes|
    journal = Journal.new(journalized: issue, user: author, notes: '', **attributes)
    journal.notify = false
    journal.save!
    journal
  end
  elsewhere = written.call(details: [JournalDetail.new(property: 'cf', prop_key: FIELDS.first, old_value: 'a', value: 'b' * (LIMIT + 1))])
  written.call(notes: 'nothing told of')
  check.call('after journals written elsewhere')
  check.call('read twice')
  JournalDetail.where(journal_id: elsewhere.id).update_all(value: 'redacted')
  check.call('after a value was rewritten in place')
  elsewhere.details.delete_all
  elsewhere.delete
  check.call('after a journal was deleted')
  before = H.instance_variable_get(:@entries)[issue.id]
  saving = Issue.find(issue.id)
  saving.init_journal(author, 'A note from this process')
  Issue.transaction do
    saving.save # asks the gate, then is undone
    raise ActiveRecord::Rollback
  end
  differences << 'a save rolled back was remembered' unless H.instance_variable_get(:@entries)[issue.id] == before
  check.call('after a save rolled back')
  text = IssueCustomField.where(id: FIELDS, field_format: %w[string text]).reorder(:id).first
  saving = Issue.find(issue.id)
  saving.init_journal(author)
  saving.custom_field_values = {text.id.to_s => "changed by this process #{Time.now.to_f}"}
  saved = saving.save
  if saved
    entry = H.instance_variable_get(:@entries)[issue.id]
    differences << 'own save not remembered' unless entry&.upto == saving.current_journal.id && entry.told.include?(saving.current_journal.id)
    check.call("after this process's own save")
  else
    differences << "own save refused (#{saving.errors.count} messages)"
  end
end

users = User.all.to_a
Project.all.each do |project|
  plain = users.map {|u| {'id' => u.id, 'roles' => u.roles_for_project(project).map(&:name).sort} }
  fast = P.principals(project, users.map(&:id)).map {|p| p.merge('roles' => p['roles'].sort) }
  differences << "principals in #{project.identifier}" unless fast == plain
end

puts JSON.generate('issues' => Issue.count, 'users' => users.size, 'projects' => Project.count, 'differences' => differences)
