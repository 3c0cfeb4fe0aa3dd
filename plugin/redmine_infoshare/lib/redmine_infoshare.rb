# frozen_string_literal: true

module RedmineInfoshare
  VERSION = '0.1.0'
end
