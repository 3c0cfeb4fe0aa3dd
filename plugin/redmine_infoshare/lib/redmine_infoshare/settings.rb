# frozen_string_literal: true

module RedmineInfoshare
  # The plugin's settings, stored by Redmine (Administration > Plugins). The
  # service URL and the secret may instead come from the environment of the
  # Redmine process, which wins, so a deployment can keep the secret out of the
  # database.
  module Settings
    ENV_SERVICE_URL = 'INFOSHARE_SERVICE_URL'
    ENV_SECRET = 'INFOSHARE_WEBHOOK_SECRET'

    def self.defaults
      {
        'service_url' => '',
        'secret' => '',
        'trackers' => [],
        'block_when_unreachable' => [],
        'gate_timeout_ms' => '2000',
        'events_enabled' => '1',
        'history_fields' => [],
        'gate_value_limit' => '256'
      }
    end

    def self.stored
      value = Setting.plugin_redmine_infoshare
      value.is_a?(Hash) ? defaults.merge(value.stringify_keys) : defaults
    end

    def self.service_url
      ENV[ENV_SERVICE_URL].presence || stored['service_url'].to_s.strip
    end

    def self.secret
      ENV[ENV_SECRET].presence || stored['secret'].to_s
    end

    def self.service_url_from_env?
      ENV[ENV_SERVICE_URL].present?
    end

    def self.secret_from_env?
      ENV[ENV_SECRET].present?
    end

    def self.tracker_names
      Array(stored['trackers']).map(&:to_s).reject(&:blank?)
    end

    def self.block_when_unreachable
      Array(stored['block_when_unreachable']).map(&:to_s).reject(&:blank?)
    end

    def self.gate_timeout_seconds
      [stored['gate_timeout_ms'].to_i, 100].max / 1000.0
    end

    # The custom fields whose past the rules read (from the provisioning
    # spec): the gate sends their journal details and no others. Their ids,
    # looked up once per list of names.
    def self.history_field_ids
      names = Array(stored['history_fields']).map(&:to_s).reject(&:blank?)
      @history_field_ids = nil unless @history_field_names == names
      @history_field_names = names
      @history_field_ids ||= IssueCustomField.where(name: names).pluck(:id).map(&:to_s)
    end

    # Values longer than this (bytes) go to the gate as digests.
    def self.gate_value_limit
      [stored['gate_value_limit'].to_i, 64].max
    end

    def self.events_enabled?
      stored['events_enabled'].to_s == '1'
    end

    # INFOSHARE_GATE=off in the Redmine process's environment skips the gate
    # (the benchmarks measure Redmine with and without it side by side).
    def self.gate_enabled?
      ENV['INFOSHARE_GATE'] != 'off'
    end

    def self.configured?
      service_url.present? && secret.present?
    end

    def self.handles?(issue)
      issue.tracker.present? && tracker_names.include?(issue.tracker.name)
    end
  end
end
