# Run by tests/integration/test_shim_client.py with `rails runner`: the
# shim's gate client asks the service about the latest request as it is
# stored (an unchanged save, which every rule allows), over whatever
# INFOSHARE_SERVICE_URL says, and prints what it got as JSON.
require 'json'

tracker = Tracker.find_by!(name: ENV.fetch('INFOSHARE_TRACKER'))
issue = Issue.where(tracker: tracker).order(:id).last
User.current = issue.author
result = RedmineInfoshare::GateClient.check(issue)
puts JSON.generate('issue_id' => issue.id, 'reachable' => result.reachable, 'messages' => result.messages)
