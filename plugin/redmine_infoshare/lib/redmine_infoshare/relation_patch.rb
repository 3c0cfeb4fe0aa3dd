# frozen_string_literal: true

module RedmineInfoshare
  # Adding or removing a relation journals both issues without saving them, so
  # no issue event fires; this sends one for each side the service handles
  # (an Escalation related to a request starts the procedure).
  module RelationPatch
    def self.included(base)
      base.class_eval do
        after_commit :infoshare_emit_relation_change, on: [:create, :destroy]
      end
    end

    private

    def infoshare_emit_relation_change
      [issue_from, issue_to].compact.each do |issue|
        next unless Settings.handles?(issue)

        EventSender.emit(issue, 'issue.updated', journal: issue.current_journal)
      end
    end
  end
end
