# frozen_string_literal: true

require 'openssl'
require 'socket'
require 'uri'

module RedmineInfoshare
  # Signed POSTs to the InfoShare service.
  #
  # `send_request` writes the request and returns without waiting for the
  # answer; `Exchange#response` reads it. The gate sends its question before
  # Redmine runs its own validations of a save and reads the answer after
  # them, so the service decides meanwhile, on its own core. (A thread could
  # not do this: it needs Ruby's global lock to make progress, which the
  # validating thread holds.) Each exchange is one HTTP/1.0 request on its own
  # connection, so the answer ends where the connection does.
  module ServiceClient
    Response = Struct.new(:code, :body)

    class Timeout < StandardError; end

    def self.post(path, body, delivery_id:, open_timeout:, read_timeout:)
      send_request(path, body, delivery_id: delivery_id, open_timeout: open_timeout, read_timeout: read_timeout).response
    end

    def self.send_request(path, body, delivery_id:, open_timeout:, read_timeout:)
      uri = URI.parse(Settings.service_url.chomp('/') + path)
      headers = Signature.headers(Settings.secret, body, delivery_id)
      Exchange.new(uri, headers, body, open_timeout: open_timeout, read_timeout: read_timeout)
    end

    # One request and its answer on a connection of their own.
    class Exchange
      def initialize(uri, headers, body, open_timeout:, read_timeout:)
        @read_timeout = read_timeout
        @socket = connect(uri, open_timeout)
        deadline = now + read_timeout
        request = "POST #{uri.request_uri} HTTP/1.0\r\nHost: #{uri.host}:#{uri.port}\r\nContent-Length: #{body.bytesize}\r\n" +
                  headers.map {|name, value| "#{name}: #{value}\r\n" }.join + "\r\n"
        write(request.b + body.b, deadline)
      rescue StandardError
        close
        raise
      end

      # The answer: waits at most the read timeout from now. It ends after
      # Content-Length bytes of body, or where the connection does.
      def response
        deadline = now + @read_timeout
        raw = +''.b
        until complete?(raw)
          chunk = wait(deadline) { @socket.read_nonblock(16_384, exception: false) }
          break if chunk.nil?

          raw << chunk
        end
        parse(raw)
      ensure
        close
      end

      private

      def now
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end

      def connect(uri, open_timeout)
        tcp = Socket.tcp(uri.host, uri.port, connect_timeout: open_timeout)
        tcp.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
        return tcp unless uri.scheme == 'https'

        context = OpenSSL::SSL::SSLContext.new
        context.set_params(verify_mode: OpenSSL::SSL::VERIFY_PEER)
        ssl = OpenSSL::SSL::SSLSocket.new(tcp, context)
        ssl.hostname = uri.host
        ssl.sync_close = true
        @socket = ssl
        wait(now + open_timeout) { ssl.connect_nonblock(exception: false) }
        ssl.post_connection_check(uri.host)
        ssl
      end

      def write(data, deadline)
        until data.empty?
          written = wait(deadline) { @socket.write_nonblock(data, exception: false) }
          data = data.byteslice(written..)
        end
      end

      # Runs a non-blocking call until it is done, waiting for the socket
      # between tries, until the deadline.
      def wait(deadline)
        loop do
          result = yield
          return result unless %i[wait_readable wait_writable].include?(result)

          remaining = deadline - now
          raise Timeout, 'the InfoShare service did not answer in time' if remaining <= 0

          ready = if result == :wait_readable
                    IO.select([@socket], nil, nil, remaining)
                  else
                    IO.select(nil, [@socket], nil, remaining)
                  end
          raise Timeout, 'the InfoShare service did not answer in time' unless ready
        end
      end

      def complete?(raw)
        head_end = raw.index("\r\n\r\n")
        return false unless head_end

        length = raw[0, head_end][/^content-length:\s*(\d+)\s*$/i, 1]
        length && raw.bytesize - head_end - 4 >= length.to_i
      end

      def parse(raw)
        head, body = raw.split("\r\n\r\n", 2)
        status = head.to_s[%r{\AHTTP/\d\.\d (\d{3})}, 1]
        raise IOError, 'the InfoShare service sent no HTTP answer' unless status

        length = head[/^content-length:\s*(\d+)\s*$/i, 1]
        body = body.to_s
        body = body.byteslice(0, length.to_i) if length
        Response.new(status, body.force_encoding(Encoding::UTF_8))
      end

      def close
        @socket&.close
      rescue IOError, SystemCallError
        nil
      end
    end
  end
end
