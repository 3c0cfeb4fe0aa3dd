# frozen_string_literal: true

module RedmineInfoshare
  # The two places InfoShare meets an issue's life: the gate while Redmine
  # validates a save, and events after the save is committed.
  module IssuePatch
    def self.included(base)
      base.class_eval do
        # The question goes out once Redmine's own before-validation changes
        # are made, and the answer is read after its own validations ran.
        before_validation :infoshare_gate_ask
        validate :infoshare_gate
        after_commit :infoshare_emit_created, on: :create
        after_commit :infoshare_emit_updated, on: :update
        after_commit :infoshare_emit_deleted, on: :destroy
        after_rollback :infoshare_forget_history_read
      end
    end

    private

    def infoshare_gate_ask
      @infoshare_gate_answer = nil
      @infoshare_history_read = nil
      return unless Settings.gate_enabled? && Settings.handles?(self)

      started = GateTiming.now
      @infoshare_gate_answer = GateClient.ask(self)
      @infoshare_history_read = @infoshare_gate_answer.history
      GateTiming.asked(started)
    end

    def infoshare_gate
      answer = @infoshare_gate_answer
      @infoshare_gate_answer = nil
      return unless answer

      waiting = GateTiming.now
      result = answer.result
      GateTiming.answered(waiting)
      if result.reachable
        # One message per problem: Redmine's required-field rule reports a
        # blank custom field under the field's name; the service's message
        # for that field says what to do and why, so Redmine's is dropped.
        # Redmine's rule still holds wherever the service says nothing.
        result.fields.each {|name| errors.delete(name.to_sym) }
        result.messages.each {|message| errors.add(:base, message) }
      elsif infoshare_entering_blocked_status?
        errors.add(:base, ::I18n.t(:infoshare_error_unreachable, status: status.name))
      end
    end

    # The fail mode: only entering one of the configured statuses is refused
    # while the service cannot answer; the reconciler checks the rest later.
    def infoshare_entering_blocked_status?
      (new_record? || status_id_changed?) && Settings.block_when_unreachable.include?(status&.name)
    end

    def infoshare_emit_created
      EventSender.emit(self, 'issue.created') if Settings.handles?(self)
    end

    def infoshare_emit_updated
      infoshare_remember_history
      EventSender.emit(self, 'issue.updated', journal: current_journal) if Settings.handles?(self)
    end

    # The journals the gate read, and this save's own, are history now.
    def infoshare_remember_history
      read = @infoshare_history_read
      @infoshare_history_read = nil
      HistoryIndex.remember(read, current_journal)
    rescue StandardError => e
      Rails.logger.error("[infoshare] history of issue ##{id} not remembered: #{e.class}")
    end

    def infoshare_forget_history_read
      @infoshare_history_read = nil
    end

    def infoshare_emit_deleted
      EventSender.emit(self, 'issue.deleted') if Settings.handles?(self)
    end
  end
end
