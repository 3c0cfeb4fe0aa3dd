"""The demo project `mash`, its users, groups and memberships, created through
Redmine's REST API as an administrator. Idempotent: what exists is reused."""

from __future__ import annotations

import dataclasses
from typing import Any

from redminelib import Redmine
from redminelib.exceptions import ResourceNotFoundError

from plugin.adapters.redmine.rest import RestReader
from plugin.domain.configuration import Config
from plugin.domain.names import GroupKey, RoleKey, TrackerKey

PROJECT_IDENTIFIER = "mash"
PROJECT_NAME = "MASH"
# Demo accounts only exist on local stacks and test instances.
DEMO_PASSWORD = "infoshare-demo"


@dataclasses.dataclass(frozen=True)
class DemoUser:
    login: str
    firstname: str
    lastname: str
    role: RoleKey | None = None  # a direct project role
    group: GroupKey | None = None  # a group membership (the group holds the role)


DEMO_USERS = (
    DemoUser("practitioner1", "Priya", "Practitioner", role=RoleKey.MASH_PRACTITIONER),
    DemoUser("practitioner2", "Paul", "Practitioner", role=RoleKey.MASH_PRACTITIONER),
    DemoUser("manager1", "Maya", "Manager", group=GroupKey.MASH_MANAGERS),
    DemoUser("manager2", "Mark", "Manager", group=GroupKey.MASH_MANAGERS),
    DemoUser("governance1", "Grace", "Governance", group=GroupKey.INFORMATION_GOVERNANCE),
    DemoUser("head1", "Hana", "Head of service", group=GroupKey.HEADS_OF_SERVICE),
    DemoUser("partnership1", "Pat", "Partnership", group=GroupKey.SAFEGUARDING_PARTNERSHIP),
)

# The role each group holds in the project. Heads of service are senior
# managers (stage 3 of escalations) and may approve; the partnership (stage 4)
# works on escalations as practitioners do.
GROUP_ROLES = {
    GroupKey.MASH_MANAGERS: RoleKey.MASH_MANAGER,
    GroupKey.INFORMATION_GOVERNANCE: RoleKey.INFORMATION_GOVERNANCE_LEAD,
    GroupKey.HEADS_OF_SERVICE: RoleKey.MASH_MANAGER,
    GroupKey.SAFEGUARDING_PARTNERSHIP: RoleKey.MASH_PRACTITIONER,
}


def demo_email(login: str) -> str:
    return f"{login}@mash.example.org"


class DemoSeeder:
    def __init__(self, admin: Redmine, config: Config):
        self.admin = admin
        self.reader = RestReader(admin)
        self.config = config

    def _ids(self, path: str, container: str, key: str = "name") -> dict[str, int]:
        return {item[key]: item["id"] for item in self.reader.get_all(path, container)}

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.admin.engine.request("post", f"{self.reader.base}{path}", data=payload)

    def seed(self) -> dict[str, int]:
        names = self.config.names
        trackers = self._ids("/trackers.json", "trackers")
        roles = {r["name"]: r["id"] for r in self.reader.get("/roles.json")["roles"]}
        groups = self._ids("/groups.json", "groups")
        users = {u["login"]: u["id"] for u in self.reader.users()}

        for user in DEMO_USERS:
            if user.login not in users:
                created = self._post(
                    "/users.json",
                    {
                        "user": {
                            "login": user.login,
                            "firstname": user.firstname,
                            "lastname": user.lastname,
                            "mail": demo_email(user.login),
                            "password": DEMO_PASSWORD,
                            "mail_notification": "only_my_events",
                        }
                    },
                )
                users[user.login] = created["user"]["id"]

        for group_key in GroupKey:
            group_id = groups[names.group(group_key)]
            members = {u["id"] for u in self.reader.get(f"/groups/{group_id}.json", include="users")["group"].get("users", [])}
            for user in DEMO_USERS:
                if user.group is group_key and users[user.login] not in members:
                    self._post(f"/groups/{group_id}/users.json", {"user_id": users[user.login]})

        project_trackers = [trackers[names.tracker(t)] for t in TrackerKey]
        try:
            project = self.reader.get(f"/projects/{PROJECT_IDENTIFIER}.json", include="trackers")["project"]
            enabled = {t["id"] for t in project.get("trackers", [])}
            if not set(project_trackers) <= enabled:
                # A stack made before a tracker was added (a newer contract).
                self.admin.engine.request(
                    "put", f"{self.reader.base}/projects/{PROJECT_IDENTIFIER}.json", data={"project": {"tracker_ids": sorted(enabled | set(project_trackers))}}
                )
        except ResourceNotFoundError:
            project = self._post(
                "/projects.json",
                {
                    "project": {
                        "name": PROJECT_NAME,
                        "identifier": PROJECT_IDENTIFIER,
                        "description": "Multi-Agency Safeguarding Hub: information requests (demo).",
                        "is_public": False,
                        "tracker_ids": project_trackers,
                        "enabled_module_names": ["issue_tracking"],
                    }
                },
            )["project"]

        wanted: list[tuple[str, int, RoleKey]] = [("user", users[u.login], u.role) for u in DEMO_USERS if u.role]
        wanted += [("group", groups[names.group(g)], r) for g, r in GROUP_ROLES.items()]
        wanted.append(("user", users[self.config.redmine.bot_login], RoleKey.INFOSHARE_SERVICE))
        existing = {
            (m.get("user") or m.get("group") or {}).get("id"): {r["name"] for r in m.get("roles", []) if not r.get("inherited")}
            for m in self.reader.get_all(f"/projects/{PROJECT_IDENTIFIER}/memberships.json", "memberships")
        }
        for _kind, principal_id, role in wanted:
            if names.role(role) not in existing.get(principal_id, set()):
                self._post(
                    f"/projects/{PROJECT_IDENTIFIER}/memberships.json",
                    {"membership": {"user_id": principal_id, "role_ids": [roles[names.role(role)]]}},
                )
        return {"project_id": project["id"], **{f"user:{k}": v for k, v in users.items()}}
