# frozen_string_literal: true

# Gives one request a long history straight in the benchmark Redmine's
# database (insert_all: seconds, where REST would take minutes), as a busy
# request gathers one: notes, drafts of its long texts (a megabyte pasted by
# mistake and taken out again among them), and now and then a change to one
# of the facts an approval is given on. Run by benchmarks/cases.py as
#   rails runner long_history.rb  with ISSUE_ID, JOURNALS (e.g. 1000), AUTHOR (a login),
# and FACTS=0 for a history that never changes a fact (drafts and notes only).
# The issue's stored values end as the last journal leaves them.
require 'json'

issue = Issue.find(Integer(ENV.fetch('ISSUE_ID')))
user = User.find_by!(login: ENV.fetch('AUTHOR'))
count = Integer(ENV.fetch('JOURNALS'))
facts = ENV.fetch('FACTS', '1') != '0'
drafts = IssueCustomField.find_by!(name: 'Decision reasons')
fact = IssueCustomField.find_by!(name: 'Requester organisation')
value_of = ->(field) { issue.custom_values.find {|v| v.custom_field_id == field.id }&.value }
current = {drafts.id => value_of.call(drafts), fact.id => value_of.call(fact)}
megabyte = 'Pasted by mistake. ' * 60_000
first_id = (Journal.maximum(:id) || 0) + 1
now = Time.now.utc - count
stamps = Journal.column_names.include?('updated_on') ? %i[created_on updated_on] : %i[created_on] # updated_on: Redmine 5.1 on
journals = count.times.map do |n|
  {journalized_type: 'Issue', journalized_id: issue.id, user_id: user.id, notes: n.even? ? "Called the school back (#{n})." : '',
   private_notes: false}.merge(stamps.to_h {|column| [column, now + n] })
end
Journal.insert_all!(journals)
ids = Journal.where('id >= ?', first_id).where(journalized_id: issue.id).order(:id).pluck(:id)
raise "expected #{count} journals, found #{ids.size}" unless ids.size == count

details = []
ids.each_with_index do |journal_id, n|
  next if n.even? && n % 100 != 0 # a note alone

  field = facts && (n % 100).zero? ? fact : drafts
  value = if field == fact then "Example Surgery (#{n})"
          elsif n == count / 2 + 1 then megabyte
          else "Reasons, draft #{n}: " + ('the attendance record matters to the enquiry. ' * 8)
          end
  details << {journal_id: journal_id, property: 'cf', prop_key: field.id.to_s, old_value: current[field.id], value: value}
  current[field.id] = value
end
details.each_slice(2000) {|slice| JournalDetail.insert_all!(slice) }
current.each do |field_id, value|
  CustomValue.where(customized_type: 'Issue', customized_id: issue.id, custom_field_id: field_id).update_all(value: value)
end
puts JSON.generate('issue' => issue.id, 'journals' => issue.journals.count, 'details' => details.size)
