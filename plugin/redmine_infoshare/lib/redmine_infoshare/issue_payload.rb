# frozen_string_literal: true

module RedmineInfoshare
  # An issue and its journal in the shape of Redmine's REST API
  # (GET /issues/:id.json?include=journals), so the service reads one shape
  # whether it comes from an event, Redmine 7's webhooks or a REST call.
  module IssuePayload
    def self.ref(record, *extra)
      return nil unless record

      h = {'id' => record.id, 'name' => record.respond_to?(:name) ? record.name.to_s : record.to_s}
      extra.each {|attr| h[attr.to_s] = record.public_send(attr)}
      h
    end

    def self.time(value)
      value&.utc&.iso8601
    end

    def self.custom_fields(issue)
      issue.custom_field_values.map do |cfv|
        field = cfv.custom_field
        entry = {'id' => field.id, 'name' => field.name}
        entry['multiple'] = true if field.multiple?
        entry['value'] = field.multiple? ? Array(cfv.value).map(&:to_s) : cfv.value&.to_s
        entry
      end
    end

    def self.issue(issue)
      {
        'id' => issue.id,
        'project' => ref(issue.project),
        'tracker' => ref(issue.tracker),
        'status' => ref(issue.status, :is_closed),
        'priority' => ref(issue.priority),
        'author' => ref(issue.author),
        'assigned_to' => ref(issue.assigned_to),
        'parent' => issue.parent_id ? {'id' => issue.parent_id} : nil,
        'subject' => issue.subject,
        'description' => issue.description,
        'start_date' => issue.start_date&.iso8601,
        'due_date' => issue.due_date&.iso8601,
        'is_private' => issue.is_private?,
        'custom_fields' => custom_fields(issue),
        'created_on' => time(issue.created_on),
        'updated_on' => time(issue.updated_on),
        'closed_on' => time(issue.closed_on)
      }.compact
    end

    # A deleted issue: identifiers only, as the record is gone.
    def self.deleted_issue(issue)
      {
        'id' => issue.id,
        'project' => ref(issue.project),
        'tracker' => ref(issue.tracker),
        'status' => ref(issue.status, :is_closed),
        'custom_fields' => []
      }
    end

    def self.journal(journal, notes: true)
      return nil unless journal&.persisted?

      payload = {
        'id' => journal.id,
        'user' => ref(journal.user),
        'private_notes' => journal.private_notes?,
        'created_on' => time(journal.created_on),
        'details' => journal.details.map do |d|
          {'property' => d.property, 'name' => d.prop_key, 'old_value' => d.old_value, 'new_value' => d.value}
        end
      }
      payload['notes'] = journal.notes if notes
      payload
    end

    # Journals the service reads who recorded what from: changes only, no notes.
    def self.journals(issue)
      issue.journals.includes(:details, :user).sort_by(&:id).map {|j| journal(j, notes: false) }
    end

    # The users a gate request names, with their roles in the issue's project
    # (direct or through a group), which is what the service judges by.
    def self.principals(project, users)
      users.compact.uniq.map do |user|
        {'id' => user.id, 'name' => user.name, 'roles' => project ? user.roles_for_project(project).map(&:name) : []}
      end
    end
  end
end
