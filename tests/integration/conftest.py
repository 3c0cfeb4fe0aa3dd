"""Fixtures for tests against a real Redmine live in tests/conftest.py, shared with tests/e2e."""
