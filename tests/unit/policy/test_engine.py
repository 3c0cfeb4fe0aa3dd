import dataclasses
import datetime as dt

from plugin.service.gate_decision import GateOutcome, decide
from plugin.policy import engine
from plugin.policy.breach import breach_actions, note_key
from plugin.policy.model import AssignTo, Once, RuleId, Verdict, Violation, violation_identity
from plugin.domain.names import GroupKey, StatusKey, TrackerKey
from plugin.domain.record import FieldKey
from tests.unit.conftest import make_config
from tests.unit.policy import helpers
from tests.unit.policy.helpers import CONFIG, NOW, ctx, decided, shared, state


def test_rules_apply_to_information_requests_only():
    assert engine.violations(ctx(state(base={}, tracker=None))) == ()
    assert engine.violations(ctx(state(StatusKey.IN_ESCALATION, base={}, tracker=TrackerKey.ESCALATION))) == ()
    assert len(engine.violations(ctx(state(base={})))) == 5  # no direction yet: what every direction asks


def test_evaluate_returns_the_violations_as_a_verdict():
    verdict = engine.evaluate(ctx(shared(decision_reasons="")))
    assert [v.identity for v in verdict.violations] == ["R-DECISION:decision_reasons:missing"]
    assert not verdict.allowed
    # The only action: writing the request's Response due and its dates (R-TIMELINESS).
    assert [a.audit() for a in verdict.actions] == [{"fields": ["response_due"]}, {"dates": ["start_date", "due_date"]}]
    assert engine.evaluate(ctx(shared())).allowed


def test_new_violations_ignore_what_was_already_broken():
    broken = shared(decision_reasons="")
    # A note on a ticket already in breach is not refused...
    assert engine.new_violations(ctx(broken, previous=broken)) == ()
    # ...but a save that breaks something more is.
    worse = shared(decision_reasons="", secure_method="")
    assert [v.identity for v in engine.new_violations(ctx(worse, previous=broken))] == ["R-SHARE:secure_method:missing"]


def test_everything_is_new_for_a_new_issue_or_one_changing_tracker():
    proposed = decided(StatusKey.SHARED)
    assert len(engine.new_violations(ctx(proposed))) == len(engine.violations(ctx(proposed)))
    other = state(base={}, tracker=None)
    assert len(engine.new_violations(ctx(proposed, previous=other))) == len(engine.violations(ctx(proposed)))


def test_verdicts_combine():
    v = Violation(RuleId.SHARE, FieldKey.SHARED_ON, "future", "m")
    combined = Verdict((v,)) + Verdict((), (AssignTo(group=GroupKey.MASH_MANAGERS),))
    assert combined.violations == (v,) and len(combined.actions) == 1


def test_identity():
    assert violation_identity("R-AUDIT", None, "x") == "R-AUDIT:-:x"
    assert Violation(RuleId.INTAKE, FieldKey.URGENCY, "missing", "m").identity == "R-INTAKE:urgency:missing"


def test_context_dates_are_local():
    c = ctx(state(), now=dt.datetime(2026, 7, 1, 23, 30, tzinfo=dt.timezone.utc))
    assert c.today == dt.date(2026, 7, 2)
    assert c.local_date(dt.datetime(2026, 1, 1, 23, 30, tzinfo=dt.timezone.utc)) == dt.date(2026, 1, 1)


def test_breach_actions_note_and_assign():
    v = Violation(RuleId.DECISION, FieldKey.DECISION_REASONS, "missing", "Decision reasons: record them (R-DECISION).")
    (once,) = breach_actions(17, v, make_config(reconciler={"breach_assignee": "heads_of_service"}))
    assert isinstance(once, Once) and once.key == note_key(17) == "breach-17"
    assert "breach 17, R-DECISION" in once.note and "Decision reasons: record them (R-DECISION)." in once.note
    assert "Heads of service" in once.note
    assert once.actions == (AssignTo(group=GroupKey.HEADS_OF_SERVICE),)


def _request(issue, previous=None, login="practitioner1", admin=False):
    return {"issue": issue, "previous": previous, "actor": {"id": 10, "login": login, "admin": admin}}


def _rest(status="Shared", **cf):
    return {
        "id": 5,
        "tracker": {"id": 4, "name": "Information request"},
        "status": {"id": 9, "name": status},
        "project": {"id": 1},
        "custom_fields": [{"id": i, "name": CONFIG.names.field(FieldKey(k)), "value": v} for i, (k, v) in enumerate(cf.items(), 1)],
    }


def test_gate_refuses_new_violations():
    decision = decide(CONFIG, _request(_rest()), NOW)
    assert decision.outcome is GateOutcome.REFUSED and not decision.allow
    assert any(v.rule is RuleId.DECISION for v in decision.violations)


def test_gate_allows_what_breaks_nothing_new():
    decision = decide(CONFIG, _request(_rest(), previous=_rest()), NOW)
    assert decision.outcome is GateOutcome.ALLOWED and decision.allow


def test_gate_does_not_judge_the_service_or_other_trackers():
    assert decide(CONFIG, _request(_rest(), login="infoshare-bot"), NOW).outcome is GateOutcome.NOT_JUDGED
    bug = {**_rest(), "tracker": {"id": 1, "name": "Bug"}}
    assert decide(CONFIG, _request(bug), NOW).outcome is GateOutcome.NOT_JUDGED


def test_gate_lets_administrators_through_when_configured():
    bypass = decide(CONFIG, _request(_rest(), admin=True), NOW)
    assert bypass.outcome is GateOutcome.BYPASSED and bypass.allow and bypass.violations
    strict = make_config(gate={"admins_bypass": False})
    assert decide(strict, _request(_rest(), admin=True), NOW).outcome is GateOutcome.REFUSED


def test_evaluate_leaves_other_trackers_alone():
    assert engine.evaluate(ctx(state(base={}, tracker=None))) == Verdict()


def test_user_names_come_from_the_project_or_the_history():
    from plugin.policy.model import Principal, Step

    step = Step("5", 99, "From the journal", None, state())
    c = ctx(state())
    c = c.__class__(**{**c.__dict__, "history": (step,), "principals": {12: Principal(12, "Maya Manager")}})
    assert c.user_name(12) == "Maya Manager"
    assert c.user_name(99) == "From the journal"
    assert c.user_name(None) == "" and c.user_name(7) == ""
    assert not c.holds_role(None, "MASH manager")


def test_roles_are_read_as_they_were_at_a_moment():
    from plugin.policy.model import Principal

    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    history = {12: ((t0, frozenset({"MASH manager"})), (t0 + dt.timedelta(days=10), frozenset({"MASH practitioner"})))}
    ctx = dataclasses.replace(
        helpers.ctx(helpers.state()), principals={12: Principal(12, "Maya", frozenset({"MASH practitioner"}))}, role_history=history
    )
    assert ctx.holds_role(12, "MASH manager", at=t0 + dt.timedelta(days=1))
    assert not ctx.holds_role(12, "MASH manager", at=t0 + dt.timedelta(days=11))
    # Before the first sighting, the first roles seen stand; without a moment, the roles now.
    assert ctx.holds_role(12, "MASH manager", at=t0 - dt.timedelta(days=5))
    assert not ctx.holds_role(12, "MASH manager")
    assert not ctx.holds_role(None, "MASH manager") and not ctx.holds_role(99, "MASH manager", at=t0)
