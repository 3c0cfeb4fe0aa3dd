"""Provisioning: the spec generated from the configuration, and doctor."""
