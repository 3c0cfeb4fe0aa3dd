"""`infoshare doctor`: check a live Redmine against the provisioning spec.

Reading is done over REST (`gather_live_state`); comparing is a pure function
(`compare`) so every difference it can report is unit-tested. Redmine's REST
API does not show workflows, field rules, per-tracker permissions or plugin
settings; the shim's admin-only `/infoshare/state.json` does.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Callable

from plugin.provisioning.spec import Spec


class FindingKind(str, enum.Enum):
    MISSING = "missing"
    DIFFERENT = "different"
    EXTRA = "extra"


@dataclasses.dataclass(frozen=True)
class Finding:
    kind: FindingKind
    what: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.what}" + (f" ({self.detail})" if self.detail else "")


@dataclasses.dataclass
class LiveState:
    """What a Redmine holds, as far as the spec is concerned. `shim_state` is
    None when the plugin is not installed (the endpoint answered 404)."""

    statuses: list[dict[str, Any]]
    trackers: list[dict[str, Any]]
    roles: list[dict[str, Any]]  # each with permissions (GET /roles/:id.json)
    groups: list[dict[str, Any]]
    custom_fields: list[dict[str, Any]]
    bot: dict[str, Any] | None
    shim_state: dict[str, Any] | None
    projects: dict[str, dict[str, Any] | None]  # identifier -> {trackers, bot_roles, queries (public ones' names)} or None
    # With Redmine 7's webhooks (redmine.events_from = "native"): the hook's
    # owner as REST shows them, {"login", "user" (or None), "projects":
    # {identifier: [role, ...]}}, each role with its permissions and issues_visibility.
    webhook_owner: dict[str, Any] | None = None


# What a Redmine 7 webhook's owner needs in each InfoShare project: the hook
# sends only events of issues its owner may see, in projects where they may
# use webhooks (app/models/webhook.rb, hooks_for).
WEBHOOK_OWNER_NEEDS = ("use_webhooks", "view_issues")
# Without it a private note saved with changes comes with no journal (the
# worker still judges the save; the delivery only says less).
WEBHOOK_OWNER_SHOULD = ("view_private_notes",)


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i.get("name"): i for i in items}


def _ref_name(value: Any) -> str | None:
    return value.get("name") if isinstance(value, dict) else None


def _compare_statuses(spec: Spec, live: LiveState) -> list[Finding]:
    found = _by_name(live.statuses)
    out = []
    for s in spec.statuses:
        have = found.get(s.name)
        if have is None:
            out.append(Finding(FindingKind.MISSING, f"status {s.name!r}"))
        elif bool(have.get("is_closed")) != s.is_closed:
            out.append(Finding(FindingKind.DIFFERENT, f"status {s.name!r}", f"closed should be {s.is_closed}"))
    return out


def _compare_trackers(spec: Spec, live: LiveState) -> list[Finding]:
    found = _by_name(live.trackers)
    out = []
    for t in spec.trackers:
        have = found.get(t.name)
        if have is None:
            out.append(Finding(FindingKind.MISSING, f"tracker {t.name!r}"))
        elif _ref_name(have.get("default_status")) != t.default_status:
            out.append(
                Finding(
                    FindingKind.DIFFERENT,
                    f"tracker {t.name!r}",
                    f"default status is {_ref_name(have.get('default_status'))!r}, should be {t.default_status!r}",
                )
            )
    return out


def _compare_roles(spec: Spec, live: LiveState) -> list[Finding]:
    found = _by_name(live.roles)
    out = []
    for r in spec.roles:
        have = found.get(r.name)
        if have is None:
            out.append(Finding(FindingKind.MISSING, f"role {r.name!r}"))
            continue
        perms = set(have.get("permissions") or [])
        lacking = sorted(set(r.permissions) - perms)
        extra = sorted(perms - set(r.permissions))
        if lacking:
            out.append(Finding(FindingKind.DIFFERENT, f"role {r.name!r}", "lacks permissions " + ", ".join(lacking)))
        if extra:
            out.append(Finding(FindingKind.DIFFERENT, f"role {r.name!r}", "has permissions beyond the spec: " + ", ".join(extra)))
        if bool(have.get("assignable")) != r.assignable:
            out.append(Finding(FindingKind.DIFFERENT, f"role {r.name!r}", f"assignable should be {r.assignable}"))
    return out


def _compare_exclusive_permissions(spec: Spec, live: LiveState) -> list[Finding]:
    """A permission only the service may hold (rewriting history) held by
    any other role: Redmine's default Manager role gets every permission."""
    out = []
    for role in live.roles:
        for perm, allowed in spec.exclusive_permissions.items():
            if role.get("name") not in allowed and perm in (role.get("permissions") or []):
                out.append(
                    Finding(
                        FindingKind.DIFFERENT,
                        f"role {role.get('name')!r}",
                        f"holds {perm}, which only {', '.join(allowed)} may hold; apply the spec again to take it away",
                    )
                )
    return out


def _compare_groups(spec: Spec, live: LiveState) -> list[Finding]:
    found = _by_name(live.groups)
    return [Finding(FindingKind.MISSING, f"group {g.name!r}") for g in spec.groups if g.name not in found]


def _possible_values(field: dict[str, Any]) -> list[str]:
    return [v.get("value") if isinstance(v, dict) else v for v in field.get("possible_values") or []]


def _compare_custom_fields(spec: Spec, live: LiveState) -> list[Finding]:
    found = _by_name([f for f in live.custom_fields if f.get("customized_type", "issue") == "issue"])
    out = []
    for f in spec.custom_fields:
        have = found.get(f.name)
        what = f"custom field {f.name!r}"
        if have is None:
            out.append(Finding(FindingKind.MISSING, what))
            continue
        if have.get("field_format") != f.field_format:
            out.append(Finding(FindingKind.DIFFERENT, what, f"format is {have.get('field_format')!r}, should be {f.field_format!r}"))
            continue
        if f.field_format == "list" and _possible_values(have) != list(f.possible_values):
            out.append(Finding(FindingKind.DIFFERENT, what, "possible values differ from the spec: " + ", ".join(f.possible_values)))
        if bool(have.get("multiple")) != f.multiple:
            out.append(Finding(FindingKind.DIFFERENT, what, f"multiple should be {f.multiple}"))
        if f.is_filter and not have.get("is_filter"):
            out.append(Finding(FindingKind.DIFFERENT, what, "must be 'used as a filter': the service queries by it"))
        if not have.get("visible", True):
            out.append(Finding(FindingKind.DIFFERENT, what, "must be visible to all roles"))
        trackers = {_ref_name(t) for t in have.get("trackers") or []}
        for tracker in f.trackers:
            if tracker not in trackers:
                out.append(Finding(FindingKind.DIFFERENT, what, f"not enabled for tracker {tracker!r}"))
    return out


def _compare_bot(spec: Spec, live: LiveState) -> list[Finding]:
    what = f"service user {spec.bot.login!r}"
    if live.bot is None:
        return [Finding(FindingKind.MISSING, what)]
    out = []
    if live.bot.get("status", 1) != 1:
        out.append(Finding(FindingKind.DIFFERENT, what, "is locked or not active"))
    if live.bot.get("admin"):
        out.append(Finding(FindingKind.DIFFERENT, what, "is an administrator; it needs only the service role"))
    return out


def _rule_key(r: dict[str, Any]) -> tuple:
    return (r["tracker"], r["role"], r["status"], r["field"])


def _compare_shim(spec: Spec, live: LiveState) -> list[Finding]:
    state = live.shim_state
    if state is None and live.webhook_owner is not None:
        return []  # Redmine 7's webhooks without the shim: see manual_checks
    if state is None:
        return [
            Finding(
                FindingKind.MISSING,
                "the redmine_infoshare plugin",
                "GET /infoshare/state.json answered 404; install the shim and restart Redmine",
            )
        ]
    out = []
    for key, value in spec.settings.items():
        if str(state.get("settings", {}).get(key)) != value:
            out.append(Finding(FindingKind.DIFFERENT, f"setting {key}", f"should be {value}"))
    shim = state.get("shim", {})
    if sorted(shim.get("trackers") or []) != sorted(t.name for t in spec.trackers):
        out.append(Finding(FindingKind.DIFFERENT, "plugin setting 'trackers handled'", "should be " + ", ".join(t.name for t in spec.trackers)))
    if sorted(shim.get("block_when_unreachable") or []) != sorted(spec.shim["block_when_unreachable"]):
        out.append(
            Finding(
                FindingKind.DIFFERENT,
                "plugin setting 'refuse while unreachable'",
                "should be " + ", ".join(spec.shim["block_when_unreachable"]),
            )
        )
    if sorted(shim.get("history_fields") or []) != sorted(spec.shim["history_fields"]):
        out.append(
            Finding(
                FindingKind.DIFFERENT,
                "plugin setting 'history fields'",
                "the gate would not be told the past of the fields the rules read; apply the spec again",
            )
        )
    if str(shim.get("gate_value_limit")) != str(spec.shim["gate_value_limit"]):
        out.append(Finding(FindingKind.DIFFERENT, "plugin setting 'gate value limit'", f"should be {spec.shim['gate_value_limit']}"))
    if not shim.get("service_url_set"):
        out.append(Finding(FindingKind.MISSING, "plugin setting 'service URL'", "Redmine does not know where the service is"))
    if not shim.get("secret_set"):
        out.append(Finding(FindingKind.MISSING, "plugin setting 'shared secret'", "events cannot be signed"))

    managed_trackers = {t.name for t in spec.trackers}
    managed_roles = {r.name for r in spec.roles}

    def managed(item: dict[str, Any]) -> bool:
        return item.get("tracker") in managed_trackers and item.get("role") in managed_roles

    want_t = {(t.tracker, t.role, t.from_status, t.to_status) for t in spec.transitions}
    have_t = {(t["tracker"], t["role"], t["from_status"], t["to_status"]) for t in state.get("transitions", []) if managed(t)}
    for t in sorted(want_t - have_t):
        out.append(Finding(FindingKind.MISSING, f"transition {t[0]} / {t[1]}: {t[2]} -> {t[3]}"))
    for t in sorted(have_t - want_t):
        out.append(Finding(FindingKind.EXTRA, f"transition {t[0]} / {t[1]}: {t[2]} -> {t[3]}"))

    want_r = {(r.tracker, r.role, r.status, r.field): r.rule for r in spec.field_rules}
    have_r = {_rule_key(r): r["rule"] for r in state.get("field_rules", []) if managed(r)}
    for key in sorted(want_r):
        if key not in have_r:
            out.append(Finding(FindingKind.MISSING, f"field rule {key[0]} / {key[1]} / {key[2]}: {key[3]} {want_r[key]}"))
        elif have_r[key] != want_r[key]:
            out.append(Finding(FindingKind.DIFFERENT, f"field rule {key[0]} / {key[1]} / {key[2]}: {key[3]}", f"is {have_r[key]}, should be {want_r[key]}"))
    for key in sorted(set(have_r) - set(want_r)):
        out.append(Finding(FindingKind.EXTRA, f"field rule {key[0]} / {key[1]} / {key[2]}: {key[3]} {have_r[key]}"))

    live_perms = state.get("tracker_permissions", {})
    for role in spec.roles:
        have = live_perms.get(role.name)
        if have is None:
            continue  # the role itself is reported missing
        for perm in role.permissions:
            if perm not in have:
                continue  # not a per-tracker permission, or reported as lacking
            wanted = sorted(role.tracker_permissions[perm]) if perm in role.tracker_permissions else "all"
            if have[perm] != wanted:
                out.append(
                    Finding(
                        FindingKind.DIFFERENT,
                        f"role {role.name!r} permission {perm}",
                        f"applies to {have[perm]}, should apply to {wanted}",
                    )
                )
    return out


def _compare_projects(spec: Spec, live: LiveState) -> list[Finding]:
    out = []
    for identifier, project in live.projects.items():
        what = f"project {identifier!r}"
        if project is None:
            out.append(Finding(FindingKind.MISSING, what, "listed in redmine.projects but not found"))
            continue
        enabled = set(project.get("trackers", []))
        for t in spec.trackers:
            if t.name not in enabled:
                out.append(Finding(FindingKind.DIFFERENT, what, f"tracker {t.name!r} not enabled"))
        if spec.bot.role not in project.get("bot_roles", []):
            out.append(Finding(FindingKind.DIFFERENT, what, f"{spec.bot.login} is not a member with role {spec.bot.role!r}"))
        public = set(project.get("queries", []))
        for q in spec.queries:
            if q.name not in public:
                out.append(Finding(FindingKind.MISSING, f"work queue {q.name!r} in {what}", "a public issue query; apply the spec again"))
    return out


def _compare_webhook_owner(spec: Spec, live: LiveState) -> list[Finding]:
    owner = live.webhook_owner
    if owner is None:
        return []
    what = f"webhook owner {owner['login']!r}"
    user = owner.get("user")
    if user is None:
        return [Finding(FindingKind.MISSING, what, "no such user; set redmine.webhook_owner to the login the Redmine 7 webhook belongs to")]
    out = []
    if user.get("status", 1) != 1:
        out.append(Finding(FindingKind.DIFFERENT, what, "is locked or not active: Redmine 7 sends nothing for an inactive owner's webhook"))
    if user.get("admin"):
        return out  # an administrator sees every issue and may use webhooks everywhere
    for identifier, roles in owner.get("projects", {}).items():
        if not roles:
            out.append(Finding(FindingKind.MISSING, f"{what} in project {identifier!r}", "not a member: the webhook sends nothing from this project"))
            continue
        granted = {p for r in roles for p in r.get("permissions") or []}
        for permission in WEBHOOK_OWNER_NEEDS:
            if permission not in granted:
                out.append(Finding(FindingKind.MISSING, f"{what} in project {identifier!r}", f"no role gives {permission}"))
        for permission in WEBHOOK_OWNER_SHOULD:
            if permission not in granted:
                out.append(Finding(FindingKind.DIFFERENT, f"{what} in project {identifier!r}",
                                   f"no role gives {permission}: private notes saved with changes arrive without their journal"))
        if not any(r.get("issues_visibility") == "all" for r in roles if "view_issues" in (r.get("permissions") or [])):
            out.append(Finding(FindingKind.DIFFERENT, f"{what} in project {identifier!r}",
                               "sees only some issues (role issues visibility is not 'All issues'): others send no event"))
    return out


def manual_checks(webhook_url: str) -> list[str]:
    """What only Redmine's web pages show with Redmine 7's webhooks
    (there is no REST API for them), for `infoshare doctor` to list."""
    return [
        "Administration > Settings > API: 'Enable webhooks' is ticked",
        f"My account > Webhooks, logged in as the webhook owner: a webhook to {webhook_url}, active, with the service's webhook.secret as its secret",
        "that webhook sends issue.created, issue.updated and issue.deleted, for every project in redmine.projects",
        "the workflows and required fields of `infoshare redmine-spec`, set by hand (without the shim nothing reads them back)",
    ]


COMPARISONS: tuple[Callable[[Spec, LiveState], list[Finding]], ...] = (
    _compare_statuses,
    _compare_trackers,
    _compare_roles,
    _compare_exclusive_permissions,
    _compare_groups,
    _compare_custom_fields,
    _compare_bot,
    _compare_shim,
    _compare_projects,
    _compare_webhook_owner,
)


def compare(spec: Spec, live: LiveState) -> list[Finding]:
    return [finding for check in COMPARISONS for finding in check(spec, live)]
