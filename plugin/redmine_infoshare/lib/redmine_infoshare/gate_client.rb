# frozen_string_literal: true

require 'json'
require 'securerandom'

module RedmineInfoshare
  # Asks the service whether a save may go ahead. The service holds the rules;
  # this only sends the proposed and previous issue and the actor, and hands
  # back the messages to show. `reachable` is false when there is no usable
  # answer, and the caller applies the configured fail mode.
  module GateClient
    Result = Struct.new(:reachable, :messages, keyword_init: true)

    def self.check(issue, actor = User.current)
      return Result.new(reachable: false, messages: []) unless Settings.configured?

      request_id = SecureRandom.uuid
      journals, user_ids = IssuePayload.stored_journals(issue)
      users = users_by_id([actor, issue.author], user_ids)
      body = JSON.generate(
        'request_id' => request_id,
        'issue' => IssuePayload.issue(issue),
        'previous' => IssuePayload.stored(issue),
        'journals' => journals.map {|j| journal_payload(j, users) },
        'statuses' => IssuePayload.statuses_named_in(journals),
        'principals' => IssuePayload.principals(issue.project, users.values.select {|u| u.is_a?(User) }),
        'actor' => {'id' => actor&.id, 'login' => actor&.logged? ? actor.login : nil, 'admin' => actor&.admin? || false}
      )
      timeout = Settings.gate_timeout_seconds
      response = ServiceClient.post('/v1/gate', body, delivery_id: request_id,
                                                      open_timeout: timeout, read_timeout: timeout)
      unless response.code.to_i == 200
        Rails.logger.warn("[infoshare] gate answered HTTP #{response.code} for issue ##{issue.id || 'new'}")
        return Result.new(reachable: false, messages: [])
      end
      answer = JSON.parse(response.body)
      messages = answer['allow'] ? [] : Array(answer['violations']).map {|v| v['message'].to_s}.reject(&:empty?)
      Result.new(reachable: true, messages: messages)
    rescue StandardError => e
      Rails.logger.warn("[infoshare] gate not reachable for issue ##{issue&.id || 'new'}: #{e.class}")
      Result.new(reachable: false, messages: [])
    end

    # The users at hand (actor, author) and those the journals name, by id;
    # only the missing ones are loaded.
    def self.users_by_id(known, ids)
      users = known.compact.index_by(&:id)
      missing = ids - users.keys
      Principal.where(id: missing).each {|p| users[p.id] = p } if missing.any?
      users
    end

    def self.journal_payload(journal, users)
      user = users[journal['user_id']]
      journal.except('user_id').merge('user' => user && IssuePayload.ref(user))
    end
  end
end
