"""Pure rules: (previous state, proposed state, actor, config, now) -> verdict.

No network and no clock here. Each rule family has its module; the field
requirements they declare are also what provisioning turns into Redmine's own
required-field workflow, so there is one source for both.
"""
