# frozen_string_literal: true

module RedmineInfoshare
  # Which of an issue's journals the gate must be told of, remembered per
  # Redmine process so a save reads only the journals written since this
  # process last saved the issue, whatever the length of its history
  # (reading all of them cost a save of a request with 1,000 journals about
  # half a millisecond more than one with 20: benchmarks/FINDINGS.md).
  #
  # Only which journals matter is remembered, never a value: the details of
  # those journals are read afresh at every save, so a value rewritten in
  # place (retention's redaction) is never sent as it was, and a journal
  # deleted is simply no longer found. Redmine never adds details to a
  # journal once it is written.
  #
  # What is remembered comes only from a committed save: the journals read
  # while asking the gate, plus the save's own journal, are kept when the
  # save commits (`remember`) and dropped if it rolls back, so a journal
  # that was never committed is never taken for part of the history. Why
  # the save's own journal is the newest: Redmine writes an issue's
  # journals while holding the issue's row (its optimistic lock refuses a
  # second save that read the same version), so no journal of the issue
  # that changes a field can appear behind it. The only journals written
  # without saving the issue are for relations and attachments, which the
  # rules do not read.
  module HistoryIndex
    # Bounded: an entry is a few integers, and the least recently saved
    # issues are forgotten first (their next save reads the whole history).
    MAX_ISSUES = 10_000

    # `fields`: the custom field ids told of when this was read (a new list
    # of fields in the plugin's settings starts again); `upto`: every journal
    # up to this id has been considered; `told`: those that change a field
    # whose past the rules read.
    Entry = Struct.new(:fields, :upto, :told)

    # What one save's read found, until the save commits (`attributes`: the
    # issue's own attributes told of, with the fields).
    Read = Struct.new(:issue_id, :fields, :attributes, :upto, :told)

    @lock = Mutex.new
    @entries = {}

    class << self
      # The rows (COLUMNS) of the journals to tell the gate of, in order (a
      # journal read only to know the newest gives one row, nil after its
      # first columns), and the Read to remember once the save commits.
      def rows(issue, field_ids, attributes)
        entry = lookup(issue.id, field_ids)
        told_of = [attributes, field_ids.empty? ? [''] : field_ids]
        if entry
          rows = select(SINCE_SQL, *told_of, issue.id, entry.upto, *told_of, entry.told.empty? ? [0] : entry.told, issue.id)
          return [rows, read_from(issue.id, field_ids, attributes, entry, rows)] if (entry.told - rows.map {|row| row[0].to_i }).empty?

          # A journal told of is gone (deleted, or the database restored from
          # an older copy): what this process remembers no longer holds.
        end
        rows = select(ALL_SQL, *told_of, issue.id, issue.id, issue.id)
        [rows, read_from(issue.id, field_ids, attributes, nil, rows)]
      end

      # The save committed: what its read found, and its own journal (none
      # when the save changed nothing).
      def remember(read, journal)
        return unless read

        journal = nil unless journal&.persisted?
        # No journal read and none written: the issue had none.
        upto = [read.upto, journal&.id, 0].compact.max
        told = read.told.dup
        told << journal.id if journal && journal.details.any? {|d| told_of?(d.property, d.prop_key, read.fields, read.attributes) }
        @lock.synchronize do
          @entries.delete(read.issue_id)
          @entries[read.issue_id] = Entry.new(read.fields, upto, told.uniq.sort.freeze)
          @entries.shift while @entries.size > MAX_ISSUES
        end
      end

      def forget_all
        @lock.synchronize { @entries.clear }
      end

      def size
        @lock.synchronize { @entries.size }
      end

      private

      def lookup(issue_id, field_ids)
        @lock.synchronize do
          entry = @entries[issue_id]
          entry if entry && entry.fields == field_ids
        end
      end

      def read_from(issue_id, field_ids, attributes, entry, rows)
        upto = [entry&.upto, *rows.map {|row| row[0].to_i }].compact.max
        told = rows.select {|row| row[3] }.map {|row| row[0].to_i }
        Read.new(issue_id, field_ids, attributes, upto, ((entry ? entry.told : []) + told).uniq)
      end

      def told_of?(property, prop_key, field_ids, attributes)
        (property == 'attr' && attributes.include?(prop_key)) || (property == 'cf' && field_ids.include?(prop_key))
      end

      def select(sql, *args)
        Journal.connection.select_rows(Journal.sanitize_sql_array([sql, *args]), 'InfoShare gate')
      end
    end

    TOLD_OF = <<~SQL.squish
      ((journal_details.property = 'attr' AND journal_details.prop_key IN (?))
        OR (journal_details.property = 'cf' AND journal_details.prop_key IN (?)))
    SQL

    COLUMNS = <<~SQL.squish
      journals.id, journals.user_id, journals.created_on,
      journal_details.property, journal_details.prop_key, journal_details.old_value, journal_details.value, journal_details.id
    SQL

    # The whole history: only journals with a detail told of, and the
    # newest journal (a row of nils after its id), so the next read can
    # start after it.
    ALL_SQL = <<~SQL.squish
      SELECT #{COLUMNS}
      FROM journals INNER JOIN journal_details ON journal_details.journal_id = journals.id AND #{TOLD_OF}
      WHERE journals.journalized_type = 'Issue' AND journals.journalized_id = ?
      UNION ALL
      SELECT journals.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL
      FROM journals
      WHERE journals.id = (SELECT MAX(newest.id) FROM journals newest WHERE newest.journalized_id = ? AND newest.journalized_type = 'Issue')
        AND journals.journalized_id = ?
      ORDER BY 1, 8
    SQL

    # Since the last remembered save: every newer journal (one row of nils
    # for one with nothing told of, so the newest is known), then the
    # details of the older ones told of, looked up by id. Two parts, so
    # each is one seek in an index (the newer ones: a range of ids inside
    # the index on journalized_id and journalized_type, which holds them).
    SINCE_SQL = <<~SQL.squish
      SELECT #{COLUMNS}
      FROM journals LEFT JOIN journal_details ON journal_details.journal_id = journals.id AND #{TOLD_OF}
      WHERE journals.journalized_id = ? AND journals.journalized_type = 'Issue' AND journals.id > ?
      UNION ALL
      SELECT #{COLUMNS}
      FROM journals INNER JOIN journal_details ON journal_details.journal_id = journals.id AND #{TOLD_OF}
      WHERE journals.id IN (?) AND journals.journalized_id = ? AND journals.journalized_type = 'Issue'
      ORDER BY 1, 8
    SQL
  end
end
