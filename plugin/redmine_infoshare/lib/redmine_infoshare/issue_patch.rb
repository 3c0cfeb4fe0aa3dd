# frozen_string_literal: true

module RedmineInfoshare
  # After-commit event emission for issues of the trackers InfoShare handles.
  module IssuePatch
    def self.included(base)
      base.class_eval do
        after_commit :infoshare_emit_created, on: :create
        after_commit :infoshare_emit_updated, on: :update
        after_commit :infoshare_emit_deleted, on: :destroy
      end
    end

    private

    def infoshare_emit_created
      EventSender.emit(self, 'issue.created') if Settings.handles?(self)
    end

    def infoshare_emit_updated
      EventSender.emit(self, 'issue.updated', journal: current_journal) if Settings.handles?(self)
    end

    def infoshare_emit_deleted
      EventSender.emit(self, 'issue.deleted') if Settings.handles?(self)
    end
  end
end
