# frozen_string_literal: true

# GET /infoshare/state.json: what Redmine's REST API does not show of the
# provisioned state (workflow transitions, field rules, per-tracker
# permissions, the shim's settings and what the gate has cost this process's
# saves), for `infoshare doctor` and the gate benchmark. Administrators
# only; it reports whether a secret is set, never the secret.
class InfoshareStateController < ApplicationController
  # The issue permissions Redmine lets a role limit to some trackers.
  TRACKER_PERMISSIONS = %w[view_issues add_issues edit_issues add_issue_notes delete_issues].freeze

  accept_api_auth :show
  before_action :require_admin

  def show
    render json: {
      'plugin_version' => RedmineInfoshare::VERSION,
      'redmine_version' => Redmine::VERSION.to_s,
      'settings' => {
        'rest_api_enabled' => Setting.rest_api_enabled.to_s,
        'issue_group_assignment' => Setting.issue_group_assignment.to_s
      },
      'shim' => {
        'service_url_set' => RedmineInfoshare::Settings.service_url.present?,
        'secret_set' => RedmineInfoshare::Settings.secret.present?,
        'trackers' => RedmineInfoshare::Settings.tracker_names,
        'block_when_unreachable' => RedmineInfoshare::Settings.block_when_unreachable,
        'gate_timeout_ms' => RedmineInfoshare::Settings.stored['gate_timeout_ms'].to_s,
        'history_fields' => Array(RedmineInfoshare::Settings.stored['history_fields']).map(&:to_s).reject(&:blank?),
        'gate_value_limit' => RedmineInfoshare::Settings.stored['gate_value_limit'].to_s,
        # This process's, since it started: what the gate cost its saves.
        'gate_timing' => RedmineInfoshare::GateTiming.totals,
        # How many requests' histories this process remembers (HistoryIndex).
        'history_remembered' => RedmineInfoshare::HistoryIndex.size
      },
      # This Redmine process's garbage collector since it started (what the
      # gate allocates is paid for here too).
      'process' => {'gc_runs' => GC.stat(:count), 'gc_ms' => GC.stat.fetch(:time, 0)},
      'transitions' => transitions,
      'field_rules' => field_rules,
      'tracker_permissions' => tracker_permissions
    }
  end

  private

  def names(model)
    @names ||= {}
    @names[model] ||= model.pluck(:id, model == Group ? :lastname : :name).to_h
  end

  def transitions
    WorkflowTransition.where(author: false, assignee: false).
      pluck(:tracker_id, :role_id, :old_status_id, :new_status_id).filter_map do |t, r, a, b|
        next if a.to_i.zero?

        {'tracker' => names(Tracker)[t], 'role' => names(Role)[r],
         'from_status' => names(IssueStatus)[a], 'to_status' => names(IssueStatus)[b]}
      end
  end

  def field_rules
    fields = names(IssueCustomField).transform_keys(&:to_s)
    WorkflowPermission.pluck(:tracker_id, :role_id, :old_status_id, :field_name, :rule).map do |t, r, s, f, rule|
      {'tracker' => names(Tracker)[t], 'role' => names(Role)[r], 'status' => names(IssueStatus)[s],
       'field' => fields[f] || f, 'rule' => rule}
    end
  end

  def tracker_permissions
    Role.where(builtin: 0).to_h do |role|
      perms = role.permissions.map(&:to_s) & TRACKER_PERMISSIONS
      [role.name, perms.to_h do |p|
        [p, role.permissions_all_trackers?(p) ? 'all' : role.permissions_tracker_ids(p).map {|id| names(Tracker)[id]}.compact.sort]
      end]
    end
  end
end
