# Run by integration tests with `rails runner`: creates COUNT information
# requests in project `mash` as LOGIN, each Shared without its decision
# reasons, skipping validations (the gate among them) and in this short-lived
# process, whose events never leave it: breaches that only the reconciler can
# find. With BROKEN=1 the first is also made one Redmine refuses to update:
# its Consent date holds text that is not a date, so any save that changes a
# custom field is refused (422: Redmine checks every date it is given). Reads VALUES (JSON: field name -> value);
# prints the new ids as JSON.
require 'json'

user = User.find_by!(login: ENV.fetch('LOGIN'))
User.current = user
project = Project.find_by!(identifier: 'mash')
tracker = Tracker.find_by!(name: 'Information request')
shared = IssueStatus.find_by!(name: 'Shared')
values = JSON.parse(ENV.fetch('VALUES')).to_h {|name, value| [IssueCustomField.find_by!(name: name).id.to_s, value] }
# One transaction: the test instance's SQLite is locked for as short a time as can be.
ids = ActiveRecord::Base.transaction do
  created = Integer(ENV.fetch('COUNT')).times.map do |n|
    issue = Issue.new(project: project, tracker: tracker, author: user, subject: "Behind the gate #{n}", status: shared)
    issue.custom_field_values = values
    issue.save!(validate: false)
    issue.id
  end
  if ENV['BROKEN'] == '1'
    field = IssueCustomField.find_by!(name: 'Consent date')
    CustomValue.where(customized_type: 'Issue', customized_id: created.first, custom_field_id: field.id).update_all(value: 'not a date')
  end
  created
end
puts JSON.generate('ids' => ids)
