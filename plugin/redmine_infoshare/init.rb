# frozen_string_literal: true

# redmine_infoshare: the Redmine side of InfoShare. It only carries messages
# between Redmine and the InfoShare service (events after commit, the gate
# before a save) and applies the provisioning spec the service generates. The
# rules themselves live in the service; nothing here decides a case.

Redmine::Plugin.register :redmine_infoshare do
  name 'InfoShare for Redmine'
  author 'InfoShare'
  description 'Connects Redmine to the InfoShare service for MASH information requests'
  version RedmineInfoshare::VERSION
  requires_redmine version_or_higher: '5.0.0'

  settings default: RedmineInfoshare::Settings.defaults,
           partial: 'settings/infoshare_settings'

  # Rewriting a ticket's history (retention's anonymisation). Provisioning
  # grants it to the InfoShare service's role only; see the redactions controller.
  permission :infoshare_redact_history, {infoshare_redactions: [:create]}, require: :member
end

# Case details must not reach Redmine's own log either: its request log lines
# ("Started GET ...", "Parameters: ...", "Redirected to ...") show these as
# [FILTERED]. Redmine already filters passwords. Added in place: Rails keeps a
# reference to these lists from its first request on.
filters = Rails.application.config.filter_parameters
filters.concat(RedmineInfoshare::LOG_FILTERED_PARAMETERS - filters)
redirects = Rails.application.config.filter_redirect
redirects << RedmineInfoshare::LOG_FILTERED_REDIRECT unless redirects.include?(RedmineInfoshare::LOG_FILTERED_REDIRECT)

# Applied here rather than in a to_prepare block: Redmine 5 runs init.rb inside
# its own to_prepare, where a nested one would never fire. The guard keeps it
# single when Redmine 6 runs init.rb again on reload.
unless Issue.included_modules.include?(RedmineInfoshare::IssuePatch)
  Issue.include RedmineInfoshare::IssuePatch
end
unless IssueRelation.included_modules.include?(RedmineInfoshare::RelationPatch)
  IssueRelation.include RedmineInfoshare::RelationPatch
end
