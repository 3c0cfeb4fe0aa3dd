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

      previous = issue.new_record? ? nil : Issue.find(issue.id)
      journals = previous ? IssuePayload.journals(previous) : []
      users = [actor, issue.author] + (previous ? previous.journals.map(&:user) : [])
      body = JSON.generate(
        'request_id' => SecureRandom.uuid,
        'issue' => IssuePayload.issue(issue),
        'previous' => previous && IssuePayload.issue(previous),
        'journals' => journals,
        'statuses' => IssueStatus.pluck(:id, :name).map {|id, name| {'id' => id, 'name' => name} },
        'principals' => IssuePayload.principals(issue.project, users.select {|u| u.is_a?(User) }),
        'actor' => {'id' => actor&.id, 'login' => actor&.logged? ? actor.login : nil, 'admin' => actor&.admin? || false}
      )
      timeout = Settings.gate_timeout_seconds
      response = ServiceClient.post('/v1/gate', body, delivery_id: JSON.parse(body)['request_id'],
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
  end
end
