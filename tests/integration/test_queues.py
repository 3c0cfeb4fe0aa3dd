"""Issue 20 (work queues) against a real Redmine: the public queries DOMAIN.md
names are provisioned in the project, idempotently, and list the right
tickets for the people who start from them."""

from __future__ import annotations

from plugin.domain.names import StatusKey
from plugin.domain.record import FieldKey
from tests.integration.test_retention import close_request
from tests.support.releases import on_both_redmines
from tests.support.rest import intake_values

F = FieldKey
QUEUES = ("Awaiting approval", "My open requests", "Overdue requests", "Open escalations", "Reviews due", "Open incidents", "Legal holds")


def queue_ids(rest) -> dict[str, int]:
    project = rest.get_json("/projects/mash.json")["project"]["id"]
    return {q["name"]: q["id"] for q in rest.get_json("/queries.json", limit=100)["queries"] if q.get("project_id") == project and q.get("is_public")}


def listed(rest, login: str, queue: str) -> set[int]:
    query_id = queue_ids(rest)[queue]
    redmine = rest.as_user(login)
    found = redmine.engine.request("get", f"{rest.url}/projects/mash/issues.json", params={"query_id": query_id, "limit": 100})
    return {i["id"] for i in found["issues"]}


@on_both_redmines
def test_every_queue_is_provisioned_as_a_public_query(live, rest):
    assert set(QUEUES) <= set(queue_ids(rest))
    assert not any("query" in change for change in live.provision(projects=("mash",)))  # a second application changes nothing


def test_each_queue_lists_what_its_role_works_on(live, rest):
    mine = rest.create_issue("practitioner1", intake_values(request_channel="Letter", requester_phone=""), subject="Queue: mine",
                             assigned_to_id=rest.admin.user.filter(name="practitioner1")[0].id)
    someone_elses = rest.create_issue("practitioner2", intake_values(request_channel="Letter", requester_phone=""), subject="Queue: not mine")
    live.settle()
    assert mine in listed(rest, "practitioner1", "My open requests") and someone_elses not in listed(rest, "practitioner1", "My open requests")

    held, _ = close_request(live, rest, subject="Queue: held")
    rest.update_issue("governance1", held, {F.LEGAL_HOLD: "1", F.LEGAL_HOLD_REASON: "Inquiry"})
    live.settle()
    assert held in listed(rest, "governance1", "Legal holds") and mine not in listed(rest, "governance1", "Legal holds")
    assert mine not in listed(rest, "manager1", "Awaiting approval")
    assert rest.issue(mine)["status"]["name"] == StatusKey.RECEIVED.default_name
