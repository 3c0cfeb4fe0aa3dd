# frozen_string_literal: true

require 'openssl'

module RedmineInfoshare
  # HMAC-SHA256 over "timestamp.body", as the service verifies it.
  module Signature
    TIMESTAMP_HEADER = 'X-InfoShare-Timestamp'
    SIGNATURE_HEADER = 'X-InfoShare-Signature'
    DELIVERY_HEADER = 'X-InfoShare-Delivery'

    def self.headers(secret, body, delivery_id, now = Time.now.to_i)
      digest = OpenSSL::HMAC.hexdigest('SHA256', secret, "#{now}.#{body}")
      {
        'Content-Type' => 'application/json',
        TIMESTAMP_HEADER => now.to_s,
        SIGNATURE_HEADER => "sha256=#{digest}",
        DELIVERY_HEADER => delivery_id
      }
    end
  end
end
