"""Issue 17 against a real Redmine: after Anonymise, none of a request's
personal text can be read anywhere in Redmine (the issue, its history, its
attachments, the escalation that copied it, search, and the database file
itself), and only the service can rewrite a ticket's history."""

from __future__ import annotations

import datetime as dt
import json
import secrets

import pytest
from redminelib.exceptions import ForbiddenError, ResourceNotFoundError

from plugin.adapters.redmine.client import make_redmine
from plugin.domain.names import StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from plugin.policy.retention import personal_fields
from tests.integration.test_retention import complete, notes, raise_a_disagreement, reviews_of, run
from tests.support.redmine_env import read_from_another_process
from tests.support.releases import on_both_redmines
from tests.support.rest import decision_values, intake_values
from tests.support.waiting import wait_until

F = FieldKey
S = StatusKey
MARKER = "[redacted under retention review]"
# Set by the service or by other roles only; everything else a practitioner can type is filled in.
NOT_TYPED_BY_A_PRACTITIONER = {F.APPROVAL_REASON, F.APPROVED_BY, F.SHARED_BY, F.APPROVAL_NOTES, F.LEGAL_HOLD_REASON, F.DISAGREEMENT_DETAILS,
                               F.EMERGENCY_OVERRIDE_REASON}


def unique() -> str:
    return f"Zq{secrets.token_hex(6)}"


def everything_readable(rest, issue_id: int) -> str:
    """All an administrator can read of an issue over REST."""
    return json.dumps(rest.get_json(f"/issues/{issue_id}.json", include="journals,attachments,relations,children,watchers"))


def personal_request(live, rest, tmp_path, personal: str) -> tuple[int, int, int]:
    """A closed request with `personal` in its subject, description, every text
    field, a public and a private note, an attachment (name and content), and
    an escalation that copied it; returns the request, its escalation, the attachment."""
    values = intake_values(request_channel="Letter", requester_phone="")
    issue_id = rest.create_issue("practitioner1", values, subject=f"About {personal}", description=f"{personal} at a named school")
    escalation_id = raise_a_disagreement(live, rest, issue_id, f"{personal}: we disagree")
    rest.update_issue("practitioner1", escalation_id, {F.OTHER_AGENCY: f"{personal} agency", F.IMPACT_ON_CHILD: f"{personal} impact"},
                      notes=f"Stage 1 call about {personal}")
    texts = {k: f"{k.value} of {personal}" for k in personal_fields(TrackerKey.INFORMATION_REQUEST, ()) if k not in NOT_TYPED_BY_A_PRACTITIONER}
    closing = {**decision_values(decision="Do not share"), **texts, F.RETENTION_CATEGORY: "No further action"}
    rest.update_issue("practitioner1", issue_id, closing, status=S.NOT_SHARED, notes=f"Phoned back {personal}")
    # A correction: the first value is only in the history now (and in the space its row left in the database file).
    rest.update_issue("practitioner1", issue_id, {F.REQUESTER_ORGANISATION: f"{personal} Surgery, corrected"})
    rest.update_issue("manager1", issue_id, {F.APPROVAL_NOTES: f"manager on {personal}"})
    rest.update_issue("manager1", issue_id, notes=f"Private: {personal}'s history", private_notes=True)
    letter = tmp_path / f"{personal}-letter.txt"
    letter.write_text(f"Letter about {personal}\n")
    rest.as_user("practitioner1").issue.update(issue_id, uploads=[{"path": str(letter), "filename": letter.name}])
    (attachment,) = rest.get_json(f"/issues/{issue_id}.json", include="attachments")["issue"]["attachments"]
    wait_until(lambda: rest.field_value(rest.issue(issue_id), F.RETENTION_REVIEW_DATE), what="the review date")
    live.settle()
    assert personal in everything_readable(rest, issue_id) and personal in everything_readable(rest, escalation_id)
    return issue_id, escalation_id, attachment["id"]


def redmine_files(live) -> list:
    """Redmine's database file (and its logs of pending writes) and its attachment store."""
    db = live.instance.db_path
    found = [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")) if p.exists()]
    return found + [p for p in (live.instance.path / "files").rglob("*") if p.is_file()]


def anonymise_at_its_review(live, rest, request_id: int, escalation_id: int, personal: str) -> None:
    """The review opens on the request's review date; governance1 completes it as Anonymise."""
    review_date = dt.date.fromisoformat(rest.field_value(rest.issue(request_id), F.RETENTION_REVIEW_DATE))
    run(live, review_date)
    (review,) = reviews_of(rest, request_id)
    complete(rest, review["id"], {F.REVIEW_OUTCOME: "Anonymise", F.REVIEW_JUSTIFICATION: "Outcome needed for statistics only"})
    wait_until(lambda: personal not in everything_readable(rest, escalation_id), what="the escalation anonymised", timeout=60)
    live.settle()


def test_after_anonymise_no_personal_text_can_be_read_anywhere_in_redmine(live, rest, tmp_path):
    personal = unique()
    request_id, escalation_id, attachment_id = personal_request(live, rest, tmp_path, personal)
    assert any(personal.encode() in read_from_another_process(p) for p in redmine_files(live))  # the scan can see it
    anonymise_at_its_review(live, rest, request_id, escalation_id, personal)

    for issue_id in (request_id, escalation_id):
        assert personal not in everything_readable(rest, issue_id), f"#{issue_id} still shows personal text"
    with pytest.raises(ResourceNotFoundError):
        rest.get_json(f"/attachments/{attachment_id}.json")
    found = rest.get_json("/search.json", q=personal, all_words=1, titles_only=0, issues=1, attachments=1, open_issues=0)
    assert found["total_count"] == 0
    for path in redmine_files(live):
        assert personal.encode() not in read_from_another_process(path), f"{path.name} still holds personal text"

    request = rest.issue(request_id)
    assert request["subject"] == MARKER and request["description"] == MARKER
    assert rest.field_value(request, F.DECISION) == "Do not share"  # the decision's choices stay for the report
    assert rest.field_value(request, F.RETENTION_CATEGORY) == "No further action"
    (note,) = [n for n in notes(request) if "anonymised on the decision of Grace Governance" in n]
    typed = len(personal_fields(TrackerKey.INFORMATION_REQUEST, ())) - len(NOT_TYPED_BY_A_PRACTITIONER) + 2  # + approval notes, disagreement details
    assert f"{typed} text field(s), 2 note(s) and 1 attachment(s) removed" in note
    assert f"1 linked escalation (#{escalation_id}) the same way" in note
    audit = live.cli("audit", "show", "--issue", str(request_id)).stdout
    assert any("redaction" in line and "R-RETENTION" in line for line in audit.splitlines()) and personal not in audit
    # Safe to repeat: the reconciler finds nothing left to do.
    before = len(rest.issue(request_id)["journals"])
    live.cli("reconcile", "--since", (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).isoformat(timespec="minutes"))
    live.settle()
    assert len(rest.issue(request_id)["journals"]) == before


def test_an_anonymisation_left_half_done_is_finished_and_noted_once(live, rest, tmp_path):
    """As a worker killed mid-way leaves it: the request's notes partly
    rewritten (by the service's own endpoint), the escalation untouched."""
    personal = unique()
    request_id, escalation_id, _ = personal_request(live, rest, tmp_path, personal)
    journal = next(j for j in rest.issue(request_id)["journals"] if personal in (j.get("notes") or ""))
    service = make_redmine(rest.config.redmine, api_key=live.bot_key_path.read_text().strip(), url=rest.url)
    service.engine.request("post", f"{rest.url}/infoshare/issues/{request_id}/redact.json",
                           data={"journal_ids": [journal["id"]], "marker": MARKER})
    anonymise_at_its_review(live, rest, request_id, escalation_id, personal)
    assert personal not in everything_readable(rest, request_id)
    assert len([n for n in notes(rest.issue(request_id)) if "anonymised on the decision of" in n]) == 1


@on_both_redmines
def test_only_the_service_can_rewrite_a_tickets_history(live, rest):
    personal = unique()
    issue_id = rest.create_issue("practitioner1", intake_values(requester_name=f"Dr {personal}"), subject=f"Live request {personal}")
    rest.update_issue("practitioner1", issue_id, {F.REQUESTER_NAME: f"Dr {personal} (corrected)"}, notes=f"note on {personal}")
    live.settle()
    journals = rest.issue(issue_id)["journals"]
    body = {"custom_field_ids": [rest.field_ids[F.REQUESTER_NAME]], "attributes": ["subject"], "journal_ids": [j["id"] for j in journals],
            "marker": "rewritten"}
    # A project manager of Redmine's own (the default Manager role holds every permission but this one, which
    # provisioning took away), the MASH roles, and the administrator: all refused.
    member = rest.admin.user.create(login=f"pm{personal[-6:]}", firstname="Project", lastname="Manager", mail=f"pm{personal[-6:]}@mash.example.org",
                                    password="infoshare-demo-pm")
    manager_role = next(r for r in rest.get_json("/roles.json")["roles"] if r["name"] == "Manager")
    rest.admin.project_membership.create(project_id="mash", user_id=member.id, role_ids=[manager_role["id"]])
    for login in ("practitioner1", "manager1", "governance1", member.login, None):
        with pytest.raises(ForbiddenError):
            rest.as_user(login).engine.request("post", f"{rest.url}/infoshare/issues/{issue_id}/redact.json", data=body)
    after = rest.issue(issue_id)
    assert after["journals"] == journals and personal in after["subject"]
    assert "infoshare_redact_history" not in rest.get_json(f"/roles/{manager_role['id']}.json")["role"]["permissions"]
