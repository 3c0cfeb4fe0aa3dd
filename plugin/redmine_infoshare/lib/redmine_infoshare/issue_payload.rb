# frozen_string_literal: true

require 'digest'

module RedmineInfoshare
  # An issue and its journals in the shape of Redmine's REST API
  # (GET /issues/:id.json?include=journals), so the service reads one shape
  # whether it comes from the gate, an event, Redmine 7's webhooks or a REST
  # call. Events carry only which issue and which save (the service reads the
  # rest from Redmine); the gate's question carries what the rules read, at a
  # size that does not grow with what people type or how long the history is.
  module IssuePayload
    # Attributes whose past the rules read: the status (and the tracker and
    # project, which decide which fields an issue has).
    HISTORY_ATTRIBUTES = %w[status_id tracker_id project_id].freeze
    def self.ref(record, *extra)
      return nil unless record

      h = {'id' => record.id, 'name' => record.respond_to?(:name) ? record.name.to_s : record.to_s}
      extra.each {|attr| h[attr.to_s] = record.public_send(attr)}
      h
    end

    def self.time(value)
      value&.utc&.iso8601
    end

    # A value longer than `limit` bytes, as its digest: the rules ask of a
    # long text only whether it is set and whether it changed, and a digest
    # answers both at a fixed size, so a megabyte pasted into a field (and
    # kept in its history) never makes a question too big to ask.
    def self.bounded(value, limit)
      return value if limit.nil? || value.nil? || value.bytesize <= limit

      "sha256:#{Digest::SHA256.hexdigest(value)}"
    end

    def self.custom_fields(issue, limit = nil)
      issue.custom_field_values.map {|cfv| custom_field_entry(cfv.custom_field, cfv.value, cfv.custom_field.multiple?, limit) }
    end

    # A field's entry as the REST API shows it: a multiple field's values
    # are a list of strings, a single field's value a string or null.
    # (`multiple?` allocates on each call, and this runs for every field of
    # every gated save.)
    def self.custom_field_entry(field, value, multiple = field.multiple?, limit = nil)
      entry = {'id' => field.id, 'name' => field.name}
      entry['multiple'] = true if multiple
      entry['value'] = multiple ? Array(value).map {|v| bounded(v.to_s, limit) } : bounded(value&.to_s, limit)
      entry
    end

    # Which issue an event is about: identifiers only. The service reads the
    # issue itself from Redmine, so events carry no case details.
    def self.reference(issue)
      {
        'id' => issue.id,
        'project' => ref(issue.project),
        'tracker' => ref(issue.tracker),
        'status' => ref(issue.status, :is_closed),
        'updated_on' => time(issue.updated_on)
      }.compact
    end

    # What the rules read of an issue, which is all the gate sends: not the
    # subject, description or priority (case details the rules have no use
    # for), users by id only (the request's principals name them), and long
    # values as digests, so building it loads nothing more on the path of
    # every save and its size stays bounded.
    def self.judged(issue, limit = nil)
      judged_from(issue, issue.status, custom_fields(issue, limit)) {|attr| issue.public_send(attr) }
    end

    # `judged`, with the attributes read through the block.
    def self.judged_from(issue, status, custom_fields)
      {
        'id' => issue.id,
        'project' => {'id' => issue.project_id},
        'tracker' => ref(issue.tracker),
        'status' => ref(status, :is_closed),
        'author' => id_ref(yield(:author_id)),
        'assigned_to' => id_ref(yield(:assigned_to_id)),
        'start_date' => yield(:start_date)&.iso8601,
        'due_date' => yield(:due_date)&.iso8601,
        'custom_fields' => custom_fields,
        'created_on' => time(yield(:created_on)),
        'closed_on' => time(yield(:closed_on))
      }.compact
    end

    def self.id_ref(id)
      id && {'id' => id}
    end

    # `judged` of the issue as it is stored, while `issue` holds a save's
    # changes: from the values Rails and Redmine keep of what was loaded,
    # instead of loading the issue again (which cost ~7 ms of every gated
    # save). A change of tracker or project changes which fields the issue
    # has, so then it is read from the database.
    def self.stored(issue, limit = nil)
      return nil if issue.new_record?
      return judged(Issue.find(issue.id), limit) if issue.tracker_id_changed? || issue.project_id_changed?

      stored_with(issue, stored_custom_fields(issue, limit))
    end

    # `stored`, told as what differs from `proposed` (the gate's
    # `previous_diff`): a save changes a field or two, so this is a fraction
    # of the whole issue. Attributes the stored issue lacks are null. Only
    # the custom fields a save may have changed are read as stored: those
    # whose value differs from the one loaded, and those with no saved value;
    # every other one is stored as proposed. A change of tracker or project
    # changes which fields the issue has: then nil, and the caller sends the
    # stored issue whole.
    def self.stored_diff(issue, proposed, limit = nil)
      return nil if issue.new_record? || issue.tracker_id_changed? || issue.project_id_changed?

      stored = stored_with(issue, nil)
      diff = stored.reject {|key, value| proposed[key] == value }
      proposed.each_key {|key| diff[key] = nil unless key == 'custom_fields' || stored.key?(key) }
      told = proposed['custom_fields'].index_by {|entry| entry['id'] }
      diff['custom_fields'] = stored_custom_fields(issue, limit, changed_only: true).reject {|entry| told[entry['id']] == entry }
      diff
    end

    # The stored attributes (from what Rails kept of the loaded values) with
    # the given custom field entries (nil: none).
    def self.stored_with(issue, custom_fields)
      judged_from(issue, stored_record(issue, :status, IssueStatus), custom_fields) {|attr| issue.attribute_in_database(attr) }
    end

    # The record an association pointed to when loaded: the loaded one when
    # the save leaves it alone (no query), else looked up by the stored id.
    def self.stored_record(issue, association, model)
      key = :"#{association}_id"
      return issue.public_send(association) unless issue.attribute_changed?(key)

      id = issue.attribute_in_database(key)
      id && model.find_by(id: id)
    end

    # Custom values reach the database only when the issue is saved, so the
    # stored ones are the saved CustomValue records' values.
    def self.stored_custom_fields(issue, limit = nil, changed_only: false)
      saved = issue.custom_values.select(&:persisted?).group_by(&:custom_field_id)
      chosen = issue.custom_field_values
      chosen = chosen.select {|cfv| cfv.value != cfv.value_was || !saved.key?(cfv.custom_field_id) } if changed_only
      chosen.map do |cfv|
        field = cfv.custom_field
        values = (saved[field.id] || []).map(&:value_in_database)
        # As custom_fields(issue) reads a freshly loaded issue: a multiple
        # field without values is [""], a single one nil.
        multiple = field.multiple?
        custom_field_entry(field, multiple ? (values.empty? ? [nil] : values) : values.first, multiple, limit)
      end
    end

    # Which save an event is about: the journal's identity and who made it,
    # never its notes or values.
    def self.journal(journal)
      return nil unless journal&.persisted?

      {'id' => journal.id, 'user' => ref(journal.user), 'private_notes' => journal.private_notes?, 'created_on' => time(journal.created_on)}
    end

    # The stored journals of an issue as the gate sends them: who changed
    # what, for the fields whose past the rules read (`field_ids`, and the
    # HISTORY_ATTRIBUTES), long values as digests; no notes (nor whether
    # they were private), and no journal that changed none of those. Read
    # with plain SQL instead of as records or through a relation (the gate
    # runs on every save, and building the relation cost four times the
    # query), and only since this process last saved the issue
    # (HistoryIndex). Returns the journals, the ids of their users, and what
    # to remember once the save commits.
    def self.stored_journals(issue, field_ids, limit = nil)
      return [[], [], nil] if issue.new_record?

      rows, read = HistoryIndex.rows(issue, field_ids, HISTORY_ATTRIBUTES)
      created_on = Journal.type_for_attribute('created_on')
      journals = {}
      rows.each do |id, user_id, created, property, prop_key, old_value, value|
        next unless property # a newer journal with nothing told of

        journal = journals[id.to_i] ||= {'id' => id.to_i, 'user_id' => user_id&.to_i, 'created_on' => time(created_on.deserialize(created)), 'details' => []}
        journal['details'] << {'property' => property, 'name' => prop_key, 'old_value' => bounded(old_value, limit), 'new_value' => bounded(value, limit)}
      end
      [journals.values, journals.values.map {|j| j['user_id'] }.compact.uniq, read]
    end

    # The statuses journals name (by id), so the service can tell them apart.
    def self.statuses_named_in(journals)
      principals_and_statuses(nil, [], {}, status_ids_named_in(journals)).last
    end

    def self.status_ids_named_in(journals)
      journals.flat_map do |j|
        j['details'].select {|d| d['property'] == 'attr' && d['name'] == 'status_id' }.flat_map {|d| [d['old_value'], d['new_value']] }
      end.compact.map(&:to_i).uniq
    end

    # The users a gate request names (by id: the actor, the author, whoever
    # wrote a journal it is told of), with their roles in the issue's project
    # (direct or through a group: Redmine gives group members their own
    # inherited member roles), which is what the service judges by. Not their
    # names: no rule's verdict names a person, and loading the users cost
    # every save a query. A user with none gets Redmine's own answer (the
    # built-in non-member role of a public project), from `known` users or
    # loaded.
    def self.principals(project, ids, known = {})
      principals_and_statuses(project, ids, known, []).first
    end

    # `principals`, and the names of the statuses with `status_ids`, read
    # with one plain query (a query a save costs, and building a relation
    # cost more than the query: benchmarks/FINDINGS.md).
    def self.principals_and_statuses(project, ids, known, status_ids)
      ids = ids.compact.uniq
      with_roles = project && !project.archived? && ids.any?
      rows = lookup_rows(with_roles ? project.id : nil, ids, status_ids)
      statuses = rows.select {|kind, _, _| kind == 'status' }.map {|_, id, name| {'id' => id.to_i, 'name' => name} }
      return [ids.map {|id| {'id' => id, 'roles' => []} }, statuses] unless with_roles

      roles = Hash.new {|h, k| h[k] = [] }
      rows.each {|kind, user_id, name| roles[user_id.to_i] << name if kind == 'role' }
      missing = ids - roles.keys - known.keys
      users = missing.empty? ? known : known.merge(Principal.where(id: missing).index_by(&:id))
      principals = ids.map do |id|
        names = if roles.key?(id) then roles[id]
                elsif users[id].is_a?(User) then users[id].roles_for_project(project).map(&:name)
                else []
                end
        {'id' => id, 'roles' => names}
      end
      [principals, statuses]
    end

    def self.lookup_rows(project_id, user_ids, status_ids)
      parts = []
      parts << MemberRole.sanitize_sql_array([MEMBER_ROLES_SQL, project_id, user_ids]) if project_id
      parts << IssueStatus.sanitize_sql_array([STATUSES_SQL, status_ids]) if status_ids.any?
      return [] if parts.empty?

      MemberRole.connection.select_rows(parts.join(' UNION ALL '), 'InfoShare gate')
    end

    MEMBER_ROLES_SQL = <<~SQL.squish
      SELECT DISTINCT 'role', members.user_id, roles.name
      FROM member_roles INNER JOIN members ON members.id = member_roles.member_id
                        INNER JOIN roles ON roles.id = member_roles.role_id
      WHERE members.project_id = ? AND members.user_id IN (?)
    SQL

    STATUSES_SQL = <<~SQL.squish
      SELECT 'status', issue_statuses.id, issue_statuses.name FROM issue_statuses WHERE issue_statuses.id IN (?)
    SQL
  end
end
