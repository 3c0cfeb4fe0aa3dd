# Run by integration tests with `rails runner`: saves an issue as a person
# would, journalled, but skipping validations (the gate among them): a change
# made behind Redmine's back, which only the worker and the reconciler can
# still find. Reads ISSUE_ID, LOGIN, STATUS (a status name, optional) and
# VALUES (JSON: custom field name -> value) from the environment.
require 'json'

issue = Issue.find(Integer(ENV.fetch('ISSUE_ID')))
user = User.find_by!(login: ENV.fetch('LOGIN'))
User.current = user
issue.init_journal(user)
JSON.parse(ENV.fetch('VALUES', '{}')).each do |name, value|
  field = IssueCustomField.find_by!(name: name)
  issue.custom_field_values = {field.id.to_s => value}
end
issue.status = IssueStatus.find_by!(name: ENV['STATUS']) if ENV['STATUS'].present?
issue.save!(validate: false)
puts JSON.generate('issue' => issue.id, 'status' => issue.status.name)
