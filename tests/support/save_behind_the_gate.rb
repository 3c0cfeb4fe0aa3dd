# Run by integration tests with `rails runner`: saves an issue as a person
# would, journalled, but skipping validations (the gate among them): a change
# made behind Redmine's back, which only the worker and the reconciler can
# still find. Reads ISSUE_ID, LOGIN, STATUS (a status name, optional) and
# VALUES (JSON: custom field name -> value) from the environment; or SAVES,
# a JSON list of {"status": ..., "values": {...}}, saved one after another
# (one journal each) in the one process.
require 'json'

issue_id = Integer(ENV.fetch('ISSUE_ID'))
user = User.find_by!(login: ENV.fetch('LOGIN'))
User.current = user
saves = ENV['SAVES'].present? ? JSON.parse(ENV['SAVES']) : [{'status' => ENV['STATUS'], 'values' => JSON.parse(ENV.fetch('VALUES', '{}'))}]
issue = nil
saves.each do |save|
  issue = Issue.find(issue_id)
  issue.init_journal(user)
  (save['values'] || {}).each do |name, value|
    field = IssueCustomField.find_by!(name: name)
    issue.custom_field_values = {field.id.to_s => value}
  end
  issue.status = IssueStatus.find_by!(name: save['status']) if save['status'].present?
  issue.save!(validate: false)
end
puts JSON.generate('issue' => issue.id, 'status' => issue.status.name)
