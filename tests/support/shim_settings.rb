# Run by integration tests with `rails runner`: merges the JSON object in
# SETTINGS into the shim's plugin settings and prints the settings as they
# were, so a test can turn the shim's events and gate off (a Redmine 7 site
# without the shim) and put them back. Redmine re-reads settings on its next
# request (Setting.check_cache).
require 'json'
before = Setting.plugin_redmine_infoshare
before = before.is_a?(Hash) ? before.stringify_keys : {}
Setting.plugin_redmine_infoshare = before.merge(JSON.parse(ENV.fetch('SETTINGS')))
puts JSON.generate(before)
