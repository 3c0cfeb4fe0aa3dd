"""Which Redmine a test runs on. Tests that exercise the shim (provisioning,
the gate, events, the fail mode, doctor, the approval path) are marked
`@on_both_redmines` and run on Debian 12's Redmine 5.0 and on Debian 13's
Redmine 6.0; the rest run on 5.0 (the rules are the service's, not Redmine's)."""

from __future__ import annotations

import pytest

from devstack.stack import RedmineRelease

on_both_redmines = pytest.mark.redmines(RedmineRelease.DEBIAN_12, RedmineRelease.DEBIAN_13)
