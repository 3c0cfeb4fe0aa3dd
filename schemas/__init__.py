"""marshmallow contracts: the request record, event payloads and the configuration. No I/O."""
