# frozen_string_literal: true

module RedmineInfoshare
  # What the gate has cost this Redmine process's saves since it started:
  # how many questions, the time spent asking (building and sending the
  # question, on the save's own thread) and the time spent waiting for the
  # answer once Redmine's own validations were done; of the asking, the
  # time reading the history (journals) and connecting and sending. Shown to
  # administrators in /infoshare/state.json, so an operator (and the gate
  # benchmark) can see the gate's cost inside Redmine, not only around it.
  module GateTiming
    @lock = Mutex.new
    @totals = {'questions' => 0, 'ask_ms' => 0.0, 'history_ms' => 0.0, 'send_ms' => 0.0, 'wait_ms' => 0.0}

    def self.now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end

    def self.asked(started)
      add('questions' => 1, 'ask_ms' => (now - started) * 1000)
    end

    def self.answered(started)
      add('wait_ms' => (now - started) * 1000)
    end

    # The time the block took, added to `key` (one of the parts of asking).
    def self.part(key)
      started = now
      result = yield
      add(key => (now - started) * 1000)
      result
    end

    def self.add(amounts)
      @lock.synchronize { amounts.each {|key, amount| @totals[key] += amount } }
    end

    def self.totals
      @lock.synchronize { @totals.transform_values {|v| v.is_a?(Float) ? v.round(3) : v } }
    end
  end
end
