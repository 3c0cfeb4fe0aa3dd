# Run by tests/integration/test_operations.py with `rails runner` on a test
# instance. The shim builds the gate's payload from what Redmine already has in
# memory and with few queries; this rebuilds each part the plain way (records
# loaded afresh) for every issue and user, and prints the differences as JSON.
require 'json'

P = RedmineInfoshare::IssuePayload
G = RedmineInfoshare::GateClient
differences = []

def plain_journals(issue)
  Issue.find(issue.id).journals.includes(:details, :user).sort_by(&:id).map do |j|
    {'id' => j.id, 'user' => P.ref(j.user), 'private_notes' => j.private_notes?, 'created_on' => P.time(j.created_on),
     'details' => j.details.sort_by(&:id).map {|d| {'property' => d.property, 'name' => d.prop_key, 'old_value' => d.old_value, 'new_value' => d.value} }}
  end
end

Issue.find_each do |issue|
  fresh = P.judged(Issue.find(issue.id))
  differences << "stored ##{issue.id}" unless P.stored(issue) == fresh

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
  differences << "stored after changes ##{issue.id}" unless P.stored(changing) == fresh

  journals, user_ids = P.stored_journals(issue)
  users = G.users_by_id([issue.author], user_ids)
  differences << "journals ##{issue.id}" unless journals.map {|j| G.journal_payload(j, users) } == plain_journals(issue)

  named = plain_journals(issue).flat_map {|j| j['details'] }.select {|d| d['property'] == 'attr' && d['name'] == 'status_id' }
                                 .flat_map {|d| [d['old_value'], d['new_value']] }.compact.map(&:to_i).uniq.sort
  differences << "statuses ##{issue.id}" unless P.statuses_named_in(journals).map {|s| s['id'] }.sort == named
end

users = User.all.to_a
Project.all.each do |project|
  plain = users.map {|u| {'id' => u.id, 'name' => u.name, 'roles' => u.roles_for_project(project).map(&:name).sort} }
  fast = P.principals(project, users).map {|p| p.merge('roles' => p['roles'].sort) }
  differences << "principals in #{project.identifier}" unless fast == plain
end

puts JSON.generate('issues' => Issue.count, 'users' => users.size, 'projects' => Project.count, 'differences' => differences)
