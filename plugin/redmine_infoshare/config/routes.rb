# frozen_string_literal: true

get 'infoshare/state', to: 'infoshare_state#show', format: 'json'
