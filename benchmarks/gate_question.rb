# frozen_string_literal: true

# Run by the gate benchmark with `rails runner` (benchmarks/cases.py): how long
# the shim takes, inside Redmine, to build the gate's question for a save of
# one request (a custom field changed, nothing saved), and how many objects it
# allocates, in all and by part. Prints JSON.
require 'json'

issue = Issue.find(Integer(ENV.fetch('ISSUE_ID')))
field = CustomField.find(Integer(ENV.fetch('FIELD_ID')))
rounds = Integer(ENV.fetch('ROUNDS', '300'))
actor = issue.author
User.current = actor
issue.custom_field_values = {field.id.to_s => 'A change that is never saved'}

def measure(rounds)
  rounds.times { yield } # warm
  GC.start
  objects = GC.stat(:total_allocated_objects)
  started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  rounds.times { yield }
  took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  {'ms' => took * 1000 / rounds, 'objects' => (GC.stat(:total_allocated_objects) - objects) / rounds}
end

gate = RedmineInfoshare::GateClient
payload = RedmineInfoshare::IssuePayload
settings = RedmineInfoshare::Settings
fields, limit = settings.history_field_ids, settings.gate_value_limit
index = RedmineInfoshare::HistoryIndex
index.forget_all
journals, user_ids, read = payload.stored_journals(issue, fields, limit)
newest = issue.journals.reorder(:id).last
# As after a save of this process's that committed (the usual case): the
# history since then is read; the whole history only on a process's first save.
index.remember(read, newest)
named = [actor.id, issue.author_id, *user_ids]
proposed = payload.judged(issue, limit)
body = gate.request_body(issue, actor, 'profile')
parsed = JSON.parse(body)
parts = {
  'the whole question' => -> { gate.request_body(issue, actor, 'profile') },
  'stored journals, since this process last saved' => -> { payload.stored_journals(issue, fields, limit) },
  'stored journals, the whole history (a first save)' => lambda {
    index.forget_all
    payload.stored_journals(issue, fields, limit).tap { index.remember(read, newest) }
  },
  'the roles of the people it names' => -> { payload.principals(issue.project, named, {actor.id => actor}) },
  'the issue as proposed' => -> { payload.judged(issue, limit) },
  'the stored issue, as what differs' => -> { payload.stored_diff(issue, proposed, limit) },
  'JSON' => -> { JSON.generate(parsed) },
  'signature' => -> { RedmineInfoshare::Signature.headers('x' * 64, body, 'profile') }
}
puts JSON.generate(
  'issue_id' => issue.id, 'journals' => journals.size, 'bytes' => body.bytesize,
  'parts' => parts.transform_values {|part| measure(rounds, &part) }
)
