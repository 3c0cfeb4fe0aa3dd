# frozen_string_literal: true

get 'infoshare/state', to: 'infoshare_state#show', format: 'json'
post 'infoshare/issues/:id/redact', to: 'infoshare_redactions#create', format: 'json'
