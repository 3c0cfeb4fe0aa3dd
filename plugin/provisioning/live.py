"""Reading a live Redmine's provisioned state over REST, for `infoshare doctor`."""

from __future__ import annotations

from typing import Any, Iterable

from redminelib import Redmine
from redminelib.exceptions import ResourceNotFoundError

from plugin.adapters.redmine.rest import RestReader
from plugin.provisioning.doctor import LiveState
from plugin.provisioning.spec import Spec


def _bot(reader: RestReader, login: str) -> dict[str, Any] | None:
    # Locked users included, so a locked bot is reported as such.
    for user in reader.users(name=login):
        if user.get("login") == login:
            return user
    return None


def _project(reader: RestReader, identifier: str, bot_id: int | None, queries: list[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        project = reader.get(f"/projects/{identifier}.json", include="trackers")["project"]
    except ResourceNotFoundError:
        return None
    bot_roles = [
        role.get("name")
        for membership in reader.get_all(f"/projects/{identifier}/memberships.json", "memberships")
        if bot_id is not None and (membership.get("user") or {}).get("id") == bot_id
        for role in membership.get("roles", [])
    ]
    public = [q.get("name") for q in queries if q.get("project_id") == project.get("id") and q.get("is_public")]
    return {"trackers": [t.get("name") for t in project.get("trackers", [])], "bot_roles": bot_roles, "queries": public}


def _roles(reader: RestReader, wanted: Iterable[str] | None) -> list[dict[str, Any]]:
    """The roles named (all of them for None), each with its permissions."""
    names = None if wanted is None else set(wanted)
    return [reader.get(f"/roles/{r['id']}.json")["role"] for r in reader.get("/roles.json")["roles"] if names is None or r["name"] in names]


def _webhook_owner(reader: RestReader, login: str, projects: Iterable[str], roles_by_id: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The Redmine 7 webhook owner's account and, per project, their roles
    (directly or through a group) with each role's permissions."""
    user = _bot(reader, login)
    found: dict[str, list[dict[str, Any]]] = {}
    for identifier in projects:
        try:
            memberships = reader.get_all(f"/projects/{identifier}/memberships.json", "memberships")
        except ResourceNotFoundError:
            continue  # the project itself is reported missing
        role_ids = {
            role["id"]
            for membership in memberships
            if user is not None and (membership.get("user") or {}).get("id") == user["id"]
            for role in membership.get("roles", [])
        }
        for role_id in role_ids - set(roles_by_id):
            roles_by_id[role_id] = reader.get(f"/roles/{role_id}.json")["role"]
        found[identifier] = [roles_by_id[i] for i in sorted(role_ids)]
    return {"login": login, "user": user, "projects": found}


def gather_live_state(redmine: Redmine, spec: Spec, projects: Iterable[str], *, webhook_owner: str | None = None) -> LiveState:
    """Everything doctor compares; with `webhook_owner` (Redmine 7's webhooks)
    that user's roles in the projects too."""
    reader = RestReader(redmine)
    try:
        shim_state = reader.get("/infoshare/state.json")
    except ResourceNotFoundError:
        shim_state = None
    bot = _bot(reader, spec.bot.login)
    projects = list(projects)
    # Every role, not only the spec's: doctor checks that no other holds a
    # permission only the service may have.
    roles = _roles(reader, None)
    queries = reader.get_all("/queries.json", "queries") if projects else []
    return LiveState(
        statuses=reader.get("/issue_statuses.json")["issue_statuses"],
        trackers=reader.get("/trackers.json")["trackers"],
        roles=roles,
        groups=reader.get_all("/groups.json", "groups"),
        custom_fields=reader.get("/custom_fields.json")["custom_fields"],
        bot=bot,
        shim_state=shim_state,
        projects={p: _project(reader, p, bot and bot.get("id"), queries) for p in projects},
        webhook_owner=_webhook_owner(reader, webhook_owner, projects, {r["id"]: r for r in roles}) if webhook_owner else None,
    )
