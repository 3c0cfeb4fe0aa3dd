# frozen_string_literal: true

module RedmineInfoshare
  VERSION = '0.1.0'

  # Request parameters that can carry case details.
  LOG_FILTERED_PARAMETERS = %i[custom_fields custom_field_values notes subject description].freeze
end
