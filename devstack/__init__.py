"""The local stack and test fixtures: a Debian Redmine instance with the shim,
the demo project and users, and the InfoShare processes. Development tooling;
a production site attaches the service to its own Redmine (see README)."""
