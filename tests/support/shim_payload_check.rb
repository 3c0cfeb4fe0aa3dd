# Run by tests/integration/test_operations.py with `rails runner` on a test
# instance. The shim builds the gate's payload from what Redmine already has in
# memory and with few queries; this rebuilds each part the plain way (records
# loaded afresh) for every issue and user, and prints the differences as JSON.
require 'json'

P = RedmineInfoshare::IssuePayload
G = RedmineInfoshare::GateClient
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

  journals, user_ids = P.stored_journals(issue, FIELDS, LIMIT)
  differences << "journals ##{issue.id}" unless journals.map {|j| G.journal_payload(j) } == plain_journals(issue)
  differences << "journal users ##{issue.id}" unless user_ids.sort == plain_journals(issue).filter_map {|j| j.dig('user', 'id') }.uniq.sort

  named = plain_journals(issue).flat_map {|j| j['details'] }.select {|d| d['property'] == 'attr' && d['name'] == 'status_id' }
                                 .flat_map {|d| [d['old_value'], d['new_value']] }.compact.map(&:to_i).uniq.sort
  differences << "statuses ##{issue.id}" unless P.statuses_named_in(journals).map {|s| s['id'] }.sort == named
end

users = User.all.to_a
Project.all.each do |project|
  plain = users.map {|u| {'id' => u.id, 'roles' => u.roles_for_project(project).map(&:name).sort} }
  fast = P.principals(project, users.map(&:id)).map {|p| p.merge('roles' => p['roles'].sort) }
  differences << "principals in #{project.identifier}" unless fast == plain
end

puts JSON.generate('issues' => Issue.count, 'users' => users.size, 'projects' => Project.count, 'differences' => differences)
