# frozen_string_literal: true

module RedmineInfoshare
  # What a redaction removes must not survive in the database file itself.
  # SQLite leaves deleted and overwritten text in free space unless
  # secure_delete is on (and text freed by earlier edits, before it was,
  # stays until VACUUM rebuilds the file); with a write-ahead log the old
  # pages stay in the main file until a checkpoint. PostgreSQL and MySQL
  # reuse the space of old row versions themselves; nothing is done there.
  module SecureErase
    module_function

    def sqlite?
      ActiveRecord::Base.connection.adapter_name.to_s.downcase.include?('sqlite')
    end

    def before
      ActiveRecord::Base.connection.execute('PRAGMA secure_delete = ON') if sqlite?
    end

    def after_commit
      return unless sqlite?

      connection = ActiveRecord::Base.connection
      connection.execute('VACUUM')
      connection.execute('PRAGMA wal_checkpoint(TRUNCATE)')
    rescue ActiveRecord::StatementInvalid => e
      # Another connection is reading: the redaction stands, and the freed
      # pages are overwritten by the next VACUUM or by reuse.
      Rails.logger.warn("InfoShare: database space not erased after a redaction (#{e.class})")
    end
  end
end
