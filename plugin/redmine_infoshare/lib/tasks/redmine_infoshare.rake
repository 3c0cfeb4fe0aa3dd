# frozen_string_literal: true

namespace :redmine_infoshare do
  desc <<~DESC
    Apply the InfoShare provisioning spec (idempotent).
      SPEC=path            JSON written by `infoshare redmine spec --output path` (required)
      PROJECTS=a,b         projects to enable the trackers on and add the service user to
      SERVICE_URL=url      where Redmine reaches the InfoShare service
      KEY_FILE=path        write the service user's API key here (mode 0600)
      ADMIN_KEY_FILE=path  write an administrator's API key here (local stacks and tests)
    The webhook secret is read from INFOSHARE_WEBHOOK_SECRET, never from the command line.
    Prints a JSON summary of what changed.
  DESC
  task provision: :environment do
    spec_path = ENV['SPEC'].presence || abort('SPEC=path/to/spec.json is required (see `infoshare redmine spec`)')
    spec = begin
      JSON.parse(File.read(spec_path))
    rescue Errno::ENOENT
      abort("SPEC file #{spec_path} does not exist")
    rescue JSON::ParserError => e
      abort("SPEC file #{spec_path} is not valid JSON: #{e.message}")
    end
    unless spec['version'] == RedmineInfoshare::Provisioner::SPEC_VERSION
      abort("SPEC version #{spec['version']} is not supported by this shim (#{RedmineInfoshare::Provisioner::SPEC_VERSION})")
    end

    provisioner = RedmineInfoshare::Provisioner.new(spec)
    begin
      provisioner.apply(
        service_url: ENV['SERVICE_URL'],
        secret: ENV['INFOSHARE_WEBHOOK_SECRET'],
        projects: ENV['PROJECTS'].to_s.split(',').map(&:strip).reject(&:empty?)
      )
    rescue RedmineInfoshare::Provisioner::SpecError, ActiveRecord::RecordInvalid => e
      abort("Provisioning failed, nothing was changed: #{e.message}")
    end

    RedmineInfoshare::Provisioner.write_api_key(provisioner.bot, ENV['KEY_FILE']) if ENV['KEY_FILE'].present?
    RedmineInfoshare::Provisioner.write_api_key(RedmineInfoshare::Provisioner.admin, ENV['ADMIN_KEY_FILE']) if ENV['ADMIN_KEY_FILE'].present?
    puts JSON.generate('changes' => provisioner.changes, 'bot' => provisioner.bot.login)
  end

  desc <<~DESC
    Enable Redmine's REST API and write an administrator's API key to a file,
    so `infoshare doctor` can inspect a Redmine that is not provisioned yet.
      ADMIN_KEY_FILE=path  (required; written with mode 0600)
  DESC
  task api_access: :environment do
    path = ENV['ADMIN_KEY_FILE'].presence || abort('ADMIN_KEY_FILE=path is required')
    Setting.rest_api_enabled = '1' unless Setting.rest_api_enabled?
    admin = RedmineInfoshare::Provisioner.admin
    RedmineInfoshare::Provisioner.write_api_key(admin, path)
    puts JSON.generate('admin' => admin.login)
  end
end
