# frozen_string_literal: true

require 'json'
require 'securerandom'

module RedmineInfoshare
  # Asks the service whether a save may go ahead. The service holds the rules;
  # this only sends the proposed and previous issue and the actor, and hands
  # back the messages to show. `reachable` is false when there is no usable
  # answer, and the caller applies the configured fail mode.
  module GateClient
    # `fields`: Redmine's names of the fields the messages are about, so
    # Redmine's own "cannot be blank" for the same field is not shown twice.
    Result = Struct.new(:reachable, :messages, :fields, keyword_init: true)
    UNREACHABLE = Result.new(reachable: false, messages: [], fields: []).freeze

    # An answer on its way: the question has been sent, and the service
    # decides while Redmine runs its own validations of the save (the round
    # trip then costs the save almost nothing: benchmarks/RESULTS.md).
    class Answer
      # `history`: the journals read for the question (HistoryIndex::Read),
      # to remember once the save commits.
      attr_reader :history

      def initialize(issue_id, exchange = nil, ready: nil, history: nil)
        @issue_id = issue_id
        @exchange = exchange
        @ready = ready
        @history = history
      end

      def self.ready(result, history: nil)
        new(nil, ready: result, history: history)
      end

      def result
        @ready ||= GateClient.receive(@exchange, @issue_id)
      end
    end

    # Builds the question (it reads the database) and sends it, without
    # waiting for the answer.
    def self.ask(issue, actor = User.current)
      return Answer.ready(UNREACHABLE) unless Settings.configured?

      request_id = SecureRandom.uuid
      timeout = Settings.gate_timeout_seconds
      body, history = question(issue, actor, request_id)
      exchange = GateTiming.part('send_ms') do
        ServiceClient.send_request('/v1/gate', body, delivery_id: request_id, open_timeout: timeout, read_timeout: timeout)
      end
      Answer.new(issue.id, exchange, history: history)
    rescue StandardError => e
      Rails.logger.warn("[infoshare] gate not reachable for issue ##{issue&.id || 'new'}: #{e.class}")
      # What was read of the history is no less true for the service being away.
      Answer.ready(UNREACHABLE, history: history)
    end

    def self.receive(exchange, issue_id)
      interpret(exchange.response, issue_id)
    rescue StandardError => e
      Rails.logger.warn("[infoshare] gate not reachable for issue ##{issue_id || 'new'}: #{e.class}")
      UNREACHABLE
    end

    def self.check(issue, actor = User.current)
      ask(issue, actor).result
    end

    def self.request_body(issue, actor, request_id)
      question(issue, actor, request_id).first
    end

    # The question's body, and the journals read for it (HistoryIndex::Read).
    def self.question(issue, actor, request_id)
      limit = Settings.gate_value_limit
      journals, user_ids, history = GateTiming.part('history_ms') { IssuePayload.stored_journals(issue, Settings.history_field_ids, limit) }
      proposed = IssuePayload.judged(issue, limit)
      diff = IssuePayload.stored_diff(issue, proposed, limit)
      principals, statuses = IssuePayload.principals_and_statuses(issue.project, [actor&.id, issue.author_id, *user_ids],
                                                                  actor&.id ? {actor.id => actor} : {}, IssuePayload.status_ids_named_in(journals))
      body = JSON.generate(
        'request_id' => request_id,
        'issue' => proposed,
        **(diff ? {'previous_diff' => diff} : {'previous' => IssuePayload.stored(issue, limit)}),
        'journals' => journals.map {|j| journal_payload(j) },
        'statuses' => statuses,
        'principals' => principals,
        'actor' => {'id' => actor&.id, 'login' => actor&.logged? ? actor.login : nil, 'admin' => actor&.admin? || false}
      )
      [body, history]
    end

    # Anything but 200 is no usable answer: the fail mode applies, and the
    # answer's code is logged with the issue (the service counts it too).
    def self.interpret(response, issue_id)
      unless response.code.to_i == 200
        Rails.logger.warn("[infoshare] gate answered HTTP #{response.code} for issue ##{issue_id || 'new'}; the fail mode applies")
        return UNREACHABLE
      end
      answer = JSON.parse(response.body)
      violations = answer['allow'] ? [] : Array(answer['violations'])
      messages = violations.map {|v| v['message'].to_s}.reject(&:empty?)
      Result.new(reachable: true, messages: messages, fields: violations.map {|v| v['field_name'].to_s}.reject(&:empty?).uniq)
    end

    # Journals name their user by id (the principals list their roles).
    def self.journal_payload(journal)
      journal.except('user_id').merge('user' => IssuePayload.id_ref(journal['user_id']))
    end
  end
end
