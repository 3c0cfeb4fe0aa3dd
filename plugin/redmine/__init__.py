"""The Redmine adapter: a python-redmine client with real timeouts and retries."""
