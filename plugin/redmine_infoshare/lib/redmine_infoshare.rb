# frozen_string_literal: true

module RedmineInfoshare
  VERSION = '0.1.0'

  # Request parameters that can carry case details, filtered from Redmine's
  # own request log: both the "Parameters:" line and the "Started GET ..."
  # line (Rails logs the path with these filtered from its query string).
  # Strings match anywhere in a key, case-insensitively, also in raw query
  # keys such as v%5Bcf_3%5D%5B%5D; anchored patterns match whole keys only,
  # so ids (query_id, status_id, issue_id, tokens) stay readable.
  LOG_FILTERED_PARAMETERS = [
    'cf_',                 # custom field filters: cf_3=~text, op[cf_3], v[cf_3][]
    'custom_field_values', # issue[custom_field_values][N] in forms
    'custom_fields',       # REST issue[custom_fields]
    'subject', 'description', 'notes', 'comments',
    'filename',            # attachments and uploads
    'any_searchable',      # Redmine 6's free-text issue filter
    'back_url',            # carries whole issue-list URLs with their filter values
    /\Aq\z/,               # /search?q=..., autocompletes
    /\Atext\z/,            # previews of descriptions and notes
    /(?:\A|\[|%5B)attachment(?:\]|%5D|\z)/i # the attachment filename filter, not attachments[...] tokens
  ].freeze

  # Redirect locations (after a bulk edit, to back_url) carry filter values;
  # Rails 6.1 (Redmine 5) logs them raw unless they match this.
  LOG_FILTERED_REDIRECT =
    /[?&](?:[^=&#]*(?:cf_|subject|description|notes|comments|filename|any_searchable|back_url|attachment)[^=&#]*|q|text)=/i
end
