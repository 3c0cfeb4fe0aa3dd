# frozen_string_literal: true

require 'json'
require 'net/http'
require 'uri'

module RedmineInfoshare
  # Signed POSTs to the InfoShare service.
  module ServiceClient
    def self.post(path, body, delivery_id:, open_timeout:, read_timeout:)
      uri = URI.parse(Settings.service_url.chomp('/') + path)
      http = Net::HTTP.new(uri.host, uri.port)
      http.use_ssl = uri.scheme == 'https'
      http.open_timeout = open_timeout
      http.read_timeout = read_timeout
      http.write_timeout = read_timeout if http.respond_to?(:write_timeout=)
      request = Net::HTTP::Post.new(uri.request_uri, Signature.headers(Settings.secret, body, delivery_id))
      request.body = body
      http.request(request)
    end
  end
end
