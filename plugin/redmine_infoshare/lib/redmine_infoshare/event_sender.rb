# frozen_string_literal: true

require 'json'
require 'securerandom'

module RedmineInfoshare
  # Sends events to the service off the request thread, like Redmine 7's
  # webhooks: the payload is built in the after-commit callback (where the
  # issue and User.current are at hand) and posted by one background thread per
  # process. A failed delivery is logged by issue id and left to the service's
  # reconciler, which re-reads changed issues; nothing here retries forever.
  module EventSender
    QUEUE_SIZE = 1000
    OPEN_TIMEOUT = 2
    READ_TIMEOUT = 5

    @lock = Mutex.new
    @queue = nil
    @thread = nil
    @pid = nil

    class << self
      def emit(issue, type, journal: nil, actor: User.current)
        return unless Settings.events_enabled? && Settings.configured?

        body = JSON.generate(
          'delivery_id' => SecureRandom.uuid,
          'type' => type,
          'occurred_at' => Time.now.utc.iso8601(3),
          'actor' => actor&.logged? ? {'id' => actor.id, 'login' => actor.login} : {},
          'issue' => IssuePayload.reference(issue),
          'journal' => IssuePayload.journal(journal)
        )
        enqueue(issue.id, body)
      rescue StandardError => e
        # Never let event delivery break a save that has already committed.
        Rails.logger.error("[infoshare] event for issue ##{issue&.id} not built: #{e.class}")
      end

      # Posts now, on the calling thread. Used by the background thread and
      # by anything that must know the outcome.
      def deliver(issue_id, body)
        delivery_id = JSON.parse(body)['delivery_id']
        response = ServiceClient.post('/v1/events', body, delivery_id: delivery_id,
                                                          open_timeout: OPEN_TIMEOUT, read_timeout: READ_TIMEOUT)
        unless response.code.to_i.between?(200, 299)
          Rails.logger.warn("[infoshare] event for issue ##{issue_id} refused by the service: HTTP #{response.code}")
        end
        response.code.to_i
      rescue StandardError => e
        Rails.logger.warn("[infoshare] event for issue ##{issue_id} not delivered: #{e.class}")
        nil
      end

      private

      def enqueue(issue_id, body)
        q = queue
        if q.size >= QUEUE_SIZE
          Rails.logger.warn("[infoshare] event queue full; event for issue ##{issue_id} dropped")
          return
        end
        q << [issue_id, body]
      end

      # One queue and thread per process, started lazily so a forking server
      # (Puma, Passenger) gets its own in each worker.
      def queue
        @lock.synchronize do
          if @pid != Process.pid || @thread.nil? || !@thread.alive?
            @pid = Process.pid
            @queue = Queue.new
            @thread = Thread.new { run(@queue) }
            @thread.name = 'infoshare-events' if @thread.respond_to?(:name=)
          end
          @queue
        end
      end

      def run(q)
        loop do
          issue_id, body = q.pop
          Rails.application.executor.wrap { deliver(issue_id, body) }
        end
      end
    end
  end
end
