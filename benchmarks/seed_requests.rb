# Seeds many closed information requests and open escalations straight into a
# benchmark Redmine's database with insert_all: seconds, where the REST API
# would take hours. Run by benchmarks/cases.py as
#   REDMINE_INSTANCE=<bench instance> RAILS_ENV=production ruby bin/rails runner seed_requests.rb
# with SEED (JSON): {"project": "mash", "author": "practitioner1", "today": "2026-11-21",
#   "requests": 50000, "requests_due": 500, "request_values": {field name: value or [values]},
#   "shared_on_field": "Shared on", "category_years": 6,
#   "escalations": 1000, "escalations_overdue": 10, "escalation_values": {...},
#   "escalation_request_status": "Received", "escalation_request_values": {...}}
# Requests are Shared and closed, complete as a practitioner records them; the
# first `requests_due` have review dates within the next 30 days, the rest
# years away. Escalations are at the stage `escalation_values` names, the
# first `escalations_overdue` past their stage's due date, the others due
# over the next 60 days (so later days find more overdue). With "incidents",
# information incidents, and with "open_requests", open unanswered requests,
# as described where they are written below.
require 'json'

seed = JSON.parse(ENV.fetch('SEED'))
today = Date.parse(seed['today'])
project = Project.find_by!(identifier: seed['project'])
author = User.find_by!(login: seed['author'])
service = User.find_by!(login: seed.fetch('service_login'))
priority = IssuePriority.default || IssuePriority.first
field_id = ->(name) { IssueCustomField.find_by!(name: name).id }
now = Time.now.utc

# One row per value (a multiple-value field has several).
def value_rows(issue_id, values)
  values.flat_map do |id, value|
    Array(value).map {|v| {customized_type: 'Issue', customized_id: issue_id, custom_field_id: id, value: v} }
  end
end

def insert(rows, values_for)
  return if rows.empty?

  # SQLite's adapter cannot return the new ids; nothing else writes to the
  # benchmark instance while it is seeded, so they are the ones after the last.
  first = (Issue.maximum(:id) || 0) + 1
  Issue.insert_all!(rows)
  ids = Issue.where('id >= ?', first).order(:id).pluck(:id)
  raise "expected #{rows.size} new issues, found #{ids.size}" unless ids.size == rows.size

  # Each is its own tree root (nested-set columns), as Issue#save would make it.
  Issue.where(id: ids).update_all('root_id = id, lft = 1, rgt = 2')
  values = ids.each_with_index.flat_map {|id, index| value_rows(id, values_for.call(index)) }
  values.each_slice(5000) {|slice| CustomValue.insert_all!(slice) }
end

base = {project_id: project.id, author_id: author.id, priority_id: priority.id, is_private: false, done_ratio: 0,
        lock_version: 0, created_on: now, updated_on: now}

request_tracker = Tracker.find_by!(name: 'Information request')
shared = IssueStatus.find_by!(name: 'Shared')
common = seed.fetch('request_values').to_h {|name, value| [field_id.call(name), value] }
review_field = field_id.call('Retention review date')
shared_on_field = field_id.call(seed.fetch('shared_on_field'))
years = seed.fetch('category_years')
total, due = seed['requests'], seed['requests_due']

# The review date the service itself would set (closing date + the category's
# years), so the job finds nothing to correct: the due ones within 30 days,
# the rest spread over the next five years. No 29 February (a closing date a
# leap day earlier would not give it back).
review_on = lambda do |i|
  date = i < due ? today + (i % 30) : today + 31 + (i % 1800)
  date.month == 2 && date.day == 29 ? date + 1 : date
end

(0...total).each_slice(2000) do |slice|
  dates = slice.map {|i| review_on.call(i) }
  rows = slice.each_with_index.map do |i, index|
    closed = Time.utc(*dates[index].prev_year(years).then {|d| [d.year, d.month, d.day] }, 12)
    base.merge(tracker_id: request_tracker.id, status_id: shared.id, subject: "Benchmark request #{i}",
               created_on: closed - 7 * 86_400, updated_on: closed, closed_on: closed)
  end
  insert(rows, lambda do |index|
    review = dates[index]
    common.merge(review_field => review.iso8601, shared_on_field => review.prev_year(years).iso8601)
  end)
end

# Each escalation is about an open request where the disagreement was raised,
# related to it as the service relates the ones it opens.
escalation_tracker = Tracker.find_by!(name: 'Escalation')
in_escalation = IssueStatus.find_by!(name: 'In escalation')
request_status = IssueStatus.find_by!(name: seed.fetch('escalation_request_status'))
escalation_values = seed.fetch('escalation_values').to_h {|name, value| [field_id.call(name), value] }
disputed_values = seed.fetch('escalation_request_values').to_h {|name, value| [field_id.call(name), value] }
(0...seed['escalations']).each_slice(1000) do |slice|
  disputed = Issue.maximum(:id) + 1
  # Answered long after today, as far as the timeliness sweep is concerned.
  insert(slice.map {|i| base.merge(tracker_id: request_tracker.id, status_id: request_status.id, subject: "Disputed request #{i}", due_date: today + 30) },
         ->(_index) { disputed_values })
  first = Issue.maximum(:id) + 1
  # Opened by the service on the day their stage started, as it opens them
  # (an escalation a person opened with a stage would start its stage on
  # the day they did, and not be overdue).
  rows = slice.map do |i|
    late = i < seed['escalations_overdue']
    started = today - (late ? 10 : 0)
    opened = Time.utc(started.year, started.month, started.day, 12)
    base.merge(tracker_id: escalation_tracker.id, status_id: in_escalation.id, subject: "Benchmark escalation #{i}",
               author_id: service.id, created_on: opened, updated_on: opened,
               start_date: started, due_date: today + (late ? -3 : 1 + (i % 60)))
  end
  insert(rows, ->(_index) { escalation_values })
  relations = slice.each_index.map {|k| {issue_from_id: first + k, issue_to_id: disputed + k, relation_type: 'relates'} }
  IssueRelation.insert_all!(relations)
end
# Information incidents: the first `incidents_open` open with no ICO report
# decision (half became aware a day ago, their clock running; half 20 to 60
# days ago, long past their deadline), the rest closed and decided months or
# years ago. Times are written as the service writes them (site time zone).
incidents = seed.fetch('incidents', 0)
if incidents.positive?
  zone = ActiveSupport::TimeZone[seed.fetch('time_zone')]
  incident_tracker = Tracker.find_by!(name: seed.fetch('incident_tracker'))
  reported = IssueStatus.find_by!(name: seed.fetch('incident_open_status'))
  closed_status = IssueStatus.find_by!(name: seed.fetch('incident_closed_status'))
  f = seed.fetch('incident_fields').transform_values {|name| field_id.call(name) }
  common_incident = seed.fetch('incident_values').to_h {|name, value| [field_id.call(name), value] }
  closed_values = seed.fetch('incident_closed_values').to_h {|name, value| [field_id.call(name), value] }
  open_count = seed.fetch('incidents_open')
  # Assigned as the service assigns an incident it has seen.
  owner = Group.find_by!(lastname: seed.fetch('incident_owner'))
  aware_at = lambda do |i|
    days = if i < open_count then (i.even? ? 1 : 20 + (i % 40)) else 100 + (i % 1000) end
    (now - days * 86_400).change(sec: 0)
  end
  stamp = ->(t) { t.in_time_zone(zone).strftime('%Y-%m-%d %H:%M') }
  (0...incidents).each_slice(2000) do |slice|
    awares = slice.map {|i| aware_at.call(i) }
    rows = slice.each_with_index.map do |i, index|
      aware = awares[index]
      deadline = aware + 72 * 3600
      open = i < open_count
      base.merge(tracker_id: incident_tracker.id, status_id: (open ? reported : closed_status).id, subject: "Benchmark incident #{i}",
                 assigned_to_id: owner.id,
                 created_on: aware, updated_on: aware, closed_on: (open ? nil : aware + 10 * 86_400),
                 start_date: aware.in_time_zone(zone).to_date, due_date: deadline.in_time_zone(zone).to_date)
    end
    insert(rows, lambda do |index|
      aware = awares[index]
      values = common_incident.merge(f['aware'] => stamp.call(aware), f['deadline'] => stamp.call(aware + 72 * 3600))
      slice[index] < open_count ? values : values.merge(closed_values)
    end)
  end
end

# Open, unanswered requests for the timeliness sweep: each takes its logging
# time, Response due and Due date from one of `open_slots` (computed by the
# benchmark with the service's own calendar, so the sweep finds nothing to
# correct); the slots of the first `open_overdue` are past their due.
open_requests = seed.fetch('open_requests', 0)
if open_requests.positive?
  received = IssueStatus.find_by!(name: seed.fetch('open_status'))
  due_field = field_id.call(seed.fetch('response_due_field'))
  open_values = seed.fetch('open_values').to_h {|name, value| [field_id.call(name), value] }
  late_slots, timely_slots = seed.fetch('overdue_slots'), seed.fetch('timely_slots')
  late_count = seed.fetch('open_overdue')
  slot = ->(i) { i < late_count ? late_slots[i % late_slots.size] : timely_slots[i % timely_slots.size] }
  (0...open_requests).each_slice(2000) do |slice|
    rows = slice.map do |i|
      s = slot.call(i)
      logged = Time.iso8601(s['created_on'])
      base.merge(tracker_id: request_tracker.id, status_id: received.id, subject: "Open request #{i}",
                 created_on: logged, updated_on: logged, start_date: Date.parse(s['start_date']), due_date: Date.parse(s['due_date']))
    end
    insert(rows, ->(index) { open_values.merge(due_field => slot.call(slice[index])['response_due']) })
  end
end

puts JSON.generate('issues' => Issue.count)
