"""`infoshare`: the command line of the InfoShare service.

Every command reads the configuration from --config PATH, else
INFOSHARE_CONFIG, else ./config.toml (the stack commands write their own).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from plugin.adapters.config_file import ConfigError, load_config, resolve_config_path
from plugin.adapters.logs import configure_logging
from plugin.domain.configuration import Config

ADMIN_KEY_ENV = "INFOSHARE_REDMINE_ADMIN_API_KEY"


def _run_job(call):
    """Run a job; another run in progress is a clear message, not a traceback."""
    from plugin.service.judge import JobBusy

    try:
        return call()
    except JobBusy as exc:
        raise click.ClickException(str(exc)) from None


class CommandContext:
    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                raise click.ClickException(exc.render()) from None
        return self._config


pass_ctx = click.make_pass_decorator(CommandContext)


@click.group()
@click.option("--config", "config_path", metavar="PATH", help="Configuration file (default: $INFOSHARE_CONFIG, else ./config.toml).")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """InfoShare for Redmine: MASH information requests, decisions, approvals,
    escalations and retention reviews."""
    ctx.obj = CommandContext(config_path)


@main.command("check-config")
@pass_ctx
def check_config(ctx: CommandContext) -> None:
    """Validate the configuration file and say where it was read from."""
    config = ctx.config
    click.echo(f"Configuration {config.source} is valid.")


# -- processes ------------------------------------------------------------------


@main.command()
@click.option("--bind", default="127.0.0.1:5005", show_default=True, help="HOST:PORT to listen on.")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes (default: CPU count, at least 2).")
@pass_ctx
def serve(ctx: CommandContext, bind: str, workers: int | None) -> None:
    """Run the web service (events, gate, health) under gunicorn."""
    ctx.config  # fail here, with the key named, rather than in every worker
    os.environ["INFOSHARE_CONFIG"] = str(resolve_config_path(ctx.config_path).resolve())
    argv = ["gunicorn", "-c", "python:webhooks.gunicorn_conf", "--bind", bind]
    if workers:
        argv += ["--workers", str(workers)]
    argv.append("webhooks:create_app()")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    os.execv(str(gunicorn), argv)


@main.command()
@click.option("--once", is_flag=True, help="Drain the inbox once and exit.")
@pass_ctx
def worker(ctx: CommandContext, once: bool) -> None:
    """Process accepted events from the inbox (judge each save, record
    breaches, apply actions)."""
    from plugin.service.wiring import build_services

    config = ctx.config
    configure_logging(config.service.log_level)
    inbox = build_services(config).inbox_worker(prompts_in_background=not once)
    if once:
        result = inbox.drain_all()
        click.echo(json.dumps(result.__dict__))
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    inbox.run_forever(config.inbox.poll_seconds, stop)


@main.command()
@pass_ctx
def scheduler(ctx: CommandContext) -> None:
    """Run the scheduled jobs (reconciler, timers) and the inbox worker.
    Run exactly one."""
    from plugin.scheduler.scheduler import run
    from plugin.service.wiring import build_services

    configure_logging(ctx.config.service.log_level)
    run(build_services(ctx.config))


def _parse_since(value: str | None, config: Config):
    import datetime as dt
    import zoneinfo

    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("write a date or time such as 2026-11-21 or 2026-11-21T09:30", param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(config.calendar.timezone))
    return moment


@main.command()
@click.option("--since", metavar="TIME", help="Check issues updated since this time (default: the stored cursor less the overlap).")
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@pass_ctx
def reconcile(ctx: CommandContext, since: str | None, dry_run: bool) -> None:
    """Re-check every InfoShare issue updated since the cursor, including each
    save since then; record breaches and compensate."""
    from plugin.service.wiring import build_services

    config = ctx.config
    configure_logging(config.service.log_level)
    services = build_services(config, dry_run=dry_run, echo=click.echo)
    services.judge.progress = _terminal_progress("Reconciling")
    report = _run_job(lambda: services.reconciler.run(_parse_since(since, config)))
    prefix = "Dry run: " if dry_run else ""
    click.echo(
        f"{prefix}checked {report.issues} issue(s) updated since {report.window_start.isoformat()}"
        f"{f' ({report.unchanged} more unchanged since judged)' if report.unchanged else ''}: "
        f"{report.new_breaches} new breach(es), {report.resolved_breaches} resolved, {report.actions_applied} action(s) applied."
    )
    _echo_problems(report.problems)


def _noon_of(today: str | None, config: Config):
    """`--today DATE` as a moment: noon of that day in the configured time
    zone (so the rules' "today" is that date); else now."""
    import datetime as dt
    import zoneinfo

    from plugin.clock import utcnow

    if today is None:
        return utcnow()
    try:
        day = dt.date.fromisoformat(today)
    except ValueError:
        raise click.BadParameter("write a date such as 2026-11-23", param_hint="--today") from None
    return dt.datetime.combine(day, dt.time(12), tzinfo=zoneinfo.ZoneInfo(config.calendar.timezone))


@main.group()
def approvals() -> None:
    """Manager approval of shares (R-APPROVAL)."""


@approvals.command("remind")
@click.option("--today", metavar="DATE", help="Act as if today were DATE (default: today).")
@click.option("--dry-run", is_flag=True, help="Show what would be posted; change nothing.")
@pass_ctx
def approvals_remind(ctx: CommandContext, today: str | None, dry_run: bool) -> None:
    """Remind managers of retrospective approvals still outstanding after an
    emergency override (the scheduler does this every morning)."""
    from plugin.service.wiring import build_services

    config = ctx.config
    configure_logging(config.service.log_level)
    services = build_services(config, dry_run=dry_run, echo=click.echo)
    report = _run_job(lambda: services.approvals.run(_noon_of(today, config)))
    click.echo(f"{report.reminders} reminder(s) {'would be posted (dry run)' if dry_run else 'posted'}.")
    _echo_problems(report.problems)


@main.group()
def escalations() -> None:
    """The escalation and conflict resolution procedure (R-ESCALATION)."""


@escalations.command("run")
@click.option("--today", metavar="DATE", help="Act as if today were DATE (default: today).")
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@pass_ctx
def escalations_run(ctx: CommandContext, today: str | None, dry_run: bool) -> None:
    """Move every overdue unresolved escalation to its next stage, and start
    escalations people opened (the scheduler does this every morning)."""
    from plugin.service.wiring import build_services

    config = ctx.config
    configure_logging(config.service.log_level)
    services = build_services(config, dry_run=dry_run, echo=click.echo)
    services.judge.progress = _terminal_progress("Escalations")
    report = _run_job(lambda: services.escalations.run(_noon_of(today, config)))
    verb = "would move" if dry_run else "moved"
    click.echo(f"Checked {report.checked} escalation(s): {verb} {len(report.moved)} to the next stage, started {len(report.started)}.")
    for issue_id in report.moved:
        click.echo(f"  #{issue_id} moved to its next stage")
    for issue_id in report.set_by_hand:
        click.echo(f"  #{issue_id} had its stage set by hand: reassigned and its clock restarted")
    for issue_id in report.final_stage_overdue:
        click.echo(f"  #{issue_id} is overdue at the final stage and stays open")
    _echo_problems(report.problems)


def _moment(value: str | None, config: Config):
    """`--now "YYYY-MM-DD HH:MM"` in the configured time zone; else now."""
    import datetime as dt
    import zoneinfo

    from plugin.clock import utcnow

    if value is None:
        return utcnow()
    try:
        naive = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise click.BadParameter('write a date and time such as "2026-11-23 14:30"', param_hint="--now") from None
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(config.calendar.timezone))


def _job_services(ctx: CommandContext, dry_run: bool, label: str):
    """The services for one job run from the terminal, with its progress shown."""
    from plugin.service.wiring import build_services

    configure_logging(ctx.config.service.log_level)
    services = build_services(ctx.config, dry_run=dry_run, echo=click.echo)
    services.judge.progress = _terminal_progress(label)
    return services


@main.group()
def timeliness() -> None:
    """Timely answers (R-TIMELINESS) and written confirmations of shares (R-SHARE)."""


@timeliness.command("run")
@click.option("--now", "now", metavar='"YYYY-MM-DD HH:MM"', help="Act as if it were this moment (default: now).")
@click.option("--dry-run", is_flag=True, help="Show what would be posted; change nothing.")
@pass_ctx
def timeliness_run(ctx: CommandContext, now: str | None, dry_run: bool) -> None:
    """Note each unanswered request past its Response due (the approvers group
    made watchers) and remind each working day while it stays unanswered;
    remind the approvers of requests waiting for approval longer than their
    urgency allows; remind whoever shared, each working day after the share,
    until its written confirmation is recorded. The scheduler runs this every
    few minutes."""
    services = _job_services(ctx, dry_run, "Timeliness")
    report = _run_job(lambda: services.timeliness.run(_moment(now, ctx.config)))
    verb = "would post" if dry_run else "posted"
    click.echo(
        f"{report.checked} request(s) due a look ({report.asleep} more unchanged and not due yet): {verb} {len(report.overdue)} overdue note(s), "
        f"{len(report.overdue_reminders)} overdue reminder(s), {len(report.approval_waits)} approval-wait reminder(s); "
        f"{report.unconfirmed} share(s) not confirmed in writing: {len(report.confirmation_reminders)} reminder(s); "
        f"{report.redmine_requests} Redmine request(s)."
    )
    for issue_id in report.red_noted:
        click.echo(f"  #{issue_id}: Red request noted to the approvers")
    for issue_id in report.overdue:
        click.echo(f"  #{issue_id}: past its Response due and not answered; the approvers are watching")
    for issue_id in report.overdue_reminders:
        click.echo(f"  #{issue_id}: still not answered; the approvers were reminded")
    for issue_id in report.approval_waits:
        click.echo(f"  #{issue_id}: waiting for approval too long; the approvers were reminded")
    for issue_id in report.confirmation_reminders:
        click.echo(f"  #{issue_id}: the person who shared was reminded")
    _echo_problems(report.problems)


@main.group()
def incidents() -> None:
    """Information incidents and their ICO deadlines (R-INCIDENT)."""


@incidents.command("run")
@click.option("--now", "now", metavar='"YYYY-MM-DD HH:MM"', help="Act as if it were this moment (default: now).")
@click.option("--dry-run", is_flag=True, help="Show what would be posted; change nothing.")
@pass_ctx
def incidents_run(ctx: CommandContext, now: str | None, dry_run: bool) -> None:
    """Post the ICO-deadline reminders (24, 48 and 66 hours after becoming
    aware) and the deadline-passed notes of open incidents (the scheduler does
    this every few minutes)."""
    services = _job_services(ctx, dry_run, "Incidents")
    report = _run_job(lambda: services.incidents.run(_moment(now, ctx.config)))
    verb = "would post" if dry_run else "posted"
    click.echo(
        f"Checked {report.checked} open incident(s) without an ICO report decision ({report.asleep} more unchanged and not due yet): {verb} {len(report.reminders)} reminder(s) "
        f"and {len(report.deadlines_passed)} deadline note(s); {report.redmine_requests} Redmine request(s)."
    )
    for issue_id in report.deadlines_passed:
        click.echo(f"  #{issue_id} is past its ICO deadline with no decision")
    _echo_problems(report.problems)


@main.group()
def retention() -> None:
    """Retention reviews (R-RETENTION)."""


@retention.command("run")
@click.option("--today", metavar="DATE", help="Act as if today were DATE (default: today).")
@click.option("--dry-run", is_flag=True, help="Show what would be done; change nothing.")
@pass_ctx
def retention_run(ctx: CommandContext, today: str | None, dry_run: bool) -> None:
    """Open the retention reviews that are due and post their reminders (the
    scheduler does this every day)."""
    from plugin.service.wiring import build_services

    config = ctx.config
    configure_logging(config.service.log_level)
    services = build_services(config, dry_run=dry_run, echo=click.echo)
    services.judge.progress = _terminal_progress("Retention reviews")
    report = _run_job(lambda: services.retention.run(_noon_of(today, config)))
    verb = "would open" if dry_run else "opened"
    click.echo(
        f"{report.due} request(s) due for review: {verb} {len(report.opened)} review(s), "
        f"{report.reminders} reminder(s); {len(report.on_hold)} under legal hold, {report.hold_reviews} hold(s) put to "
        f"governance for their yearly review; {report.redmine_requests} Redmine request(s)."
    )
    for issue_id in report.opened:
        click.echo(f"  review #{issue_id} opened")
    for issue_id in report.on_hold:
        click.echo(f"  request #{issue_id} is under legal hold: not reviewed for retention")
    _echo_problems(report.problems)


def _echo_problems(issue_ids: list[int]) -> None:
    """Issues a batch could not handle: it went on without them."""
    for issue_id in issue_ids:
        click.echo(f"  #{issue_id} could not be handled; recorded as a problem (see `infoshare problems`), tried again later")


def _day(value: str, option: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("write a date such as 2026-11-01", param_hint=option) from None


def _terminal_progress(label: str):
    """A progress bar on an interactive terminal; nothing in logs or pipes."""
    if not sys.stderr.isatty():
        return None
    state: dict = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state.get("done", 0))
        state["done"] = done
        if done >= total:
            state.pop("bar").__exit__(None, None, None)

    return update


@main.command()
@click.option("--from", "start", required=True, metavar="DATE", help="First day of the period.")
@click.option("--to", "end", required=True, metavar="DATE", help="Last day of the period.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Directory to write report.html and the CSV files to.")
@pass_ctx
def report(ctx: CommandContext, start: str, end: str, out: str) -> None:
    """Write the governance report for a period: HTML with charts, and CSV."""
    from plugin.service import report as governance
    from plugin.adapters.redmine.adapter import RedmineAdapter
    from plugin.adapters.redmine.client import make_redmine
    from plugin.clock import utcnow

    first, last = _day(start, "--from"), _day(end, "--to")
    if last < first:
        raise click.BadParameter("must not be before --from", param_hint="--to")
    config = ctx.config
    configure_logging(config.service.log_level)
    redmine = RedmineAdapter(make_redmine(config.redmine), config)
    data = governance.gather(config, redmine, _store(ctx), first, last, utcnow(), progress=_terminal_progress("Reading requests"))
    written = governance.write(data, Path(out))
    click.echo(f"Report for {first} to {last}: {data.requests} request(s). Written: " + ", ".join(p.name for p in written))


@main.command()
@click.option("--all", "show_all", is_flag=True, help="Include resolved breaches.")
@pass_ctx
def breaches(ctx: CommandContext, show_all: bool) -> None:
    """List rule violations that got past the gate."""
    store = _store(ctx)
    rows = store.breaches.all() if show_all else store.breaches.open()
    if not rows:
        click.echo("No breaches." if show_all else "No open breaches.")
        return
    click.echo(f"{'id':>5}  {'issue':>6}  {'rule':12}  {'field':32}  {'what':16}  {'detected':25}  {'by':10}  status")
    for b in rows:
        click.echo(
            f"{b['id']:>5}  #{b['issue_id']:<5}  {b['rule']:12}  {(b['field'] or '-'):32}  {b['code']:16}  "
            f"{b['detected_at'].isoformat(timespec='seconds'):25}  {b['detected_by']:10}  {b['status']}"
        )
    click.echo(f"{len(rows)} breach(es).")


@main.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx: CommandContext) -> None:
    """Check that no entry was changed, removed or reordered."""

    result = _store(ctx).audit.verify()
    if result.ok:
        click.echo(f"Audit log intact: {result.entries} entries. Head hash {result.head_hash}.")
        return
    click.echo(f"Audit log NOT intact: {result.problem}. The first {result.entries} entries are intact.")
    sys.exit(1)


@audit.command("show")
@click.option("--issue", "issue_id", type=int, help="Only entries about this issue.")
@pass_ctx
def audit_show(ctx: CommandContext, issue_id: int | None) -> None:
    """Print audit entries (ids, rules and outcomes only)."""

    for entry in _store(ctx).audit.entries(issue_id=issue_id):
        issue = f"#{entry['issue_id']}" if entry["issue_id"] else "-"
        click.echo(f"{entry['seq']:>6}  {entry['recorded_at']}  {entry['kind']:16} {entry['source']:11} {issue:>7}  {entry['rule'] or '-':12} {json.dumps(entry['detail'], sort_keys=True)}")


@main.group(invoke_without_command=True)
@click.pass_context
def inbox(click_ctx: click.Context) -> None:
    """Show the inbox: deliveries pending, processed, failed and parked, and
    the parked ones with their errors."""
    if click_ctx.invoked_subcommand is not None:
        return
    store = _store(click_ctx.obj)
    for status, count in store.inbox.counts().items():
        click.echo(f"{status:10} {count}")
    for row in store.inbox.parked():
        click.echo(f"parked #{row['id']}: issue #{row['issue_id']} {row['event_type']}, {row['attempts']} attempts, last error {row['last_error']}")
    if store.inbox.parked():
        click.echo("Put them back with `infoshare inbox retry --all` (or a delivery number) once the cause is fixed.")


@main.command()
@click.option("--all", "show_all", is_flag=True, help="Include problems since resolved.")
@pass_ctx
def problems(ctx: CommandContext, show_all: bool) -> None:
    """List the issues the reconciler or a timer job could not handle. Each
    is tried again with growing pauses (the batch went on without it); a
    success clears it. Failing events are in `infoshare inbox`."""
    rows = _store(ctx).problems.list(include_resolved=show_all)
    if not rows:
        click.echo("No problems." if not show_all else "No problems recorded.")
        return
    click.echo(f"{'id':>5}  {'source':18}  {'issue':>6}  {'attempts':>8}  {'first seen':25}  {'next try':25}  error")
    for p in rows:
        when = "resolved" if p["resolved_at"] else p["next_attempt_at"].isoformat(timespec="seconds")
        click.echo(f"{p['id']:>5}  {p['source']:18}  #{p['issue_id']:<5}  {p['attempts']:>8}  {p['first_seen_at'].isoformat(timespec='seconds'):25}  {when:25}  {p['error']}")
    click.echo(f"{len(rows)} problem(s).")


@inbox.command("retry")
@click.argument("delivery", type=int, required=False)
@click.option("--all", "retry_all", is_flag=True, help="Retry every parked delivery.")
@pass_ctx
def inbox_retry(ctx: CommandContext, delivery: int | None, retry_all: bool) -> None:
    """Put a parked delivery (or all) back in the queue with fresh attempts."""
    if delivery is None and not retry_all:
        raise click.UsageError("give a delivery number (see `infoshare inbox`) or --all")
    count = _store(ctx).inbox.retry_parked(None if retry_all else delivery)
    click.echo(f"{count} delivery(ies) put back in the queue.")


def _store(ctx: CommandContext):
    from plugin.adapters.store import Store

    store = Store(ctx.config.service.database_url)
    store.migrate()
    return store


# -- Redmine ----------------------------------------------------------------------


@main.group()
def redmine() -> None:
    """Provisioning Redmine for InfoShare."""


@redmine.command("spec")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the spec to this file instead of printing it.")
@pass_ctx
def redmine_spec(ctx: CommandContext, output: str | None) -> None:
    """Print the provisioning spec (JSON) generated from the configuration.
    Apply it with: rake redmine_infoshare:provision SPEC=spec.json"""
    from plugin.provisioning.spec import build_spec

    text = build_spec(ctx.config).dumps()
    if output:
        Path(output).write_text(text + "\n")
        click.echo(f"Spec written to {output}.", err=True)
    else:
        click.echo(text)


def _admin_key_from_file(path: str) -> str | None:
    """An administrator's key from `redmine.admin_api_key_file`: a file only
    its owner may read, like every secret the service reads."""
    if not path:
        return None
    try:
        mode = os.stat(path).st_mode
        key = Path(path).read_text().strip()
    except OSError as exc:
        raise click.ClickException(f"redmine.admin_api_key_file {path} cannot be read ({exc.strerror}).") from None
    if mode & 0o077:
        raise click.ClickException(f"redmine.admin_api_key_file {path} is readable by others: make it private (chmod 600 {path}) and run doctor again.")
    if not key:
        raise click.ClickException(f"redmine.admin_api_key_file {path} is empty: write an administrator's API key in it.")
    return key


@main.command()
@click.option("--admin-api-key", envvar=ADMIN_KEY_ENV, help=f"An administrator's API key (or {ADMIN_KEY_ENV}).")
@pass_ctx
def doctor(ctx: CommandContext, admin_api_key: str | None) -> None:
    """Check the live Redmine against the provisioning spec; exit 1 if anything
    is missing or different."""
    import requests
    from redminelib.exceptions import AuthError, ForbiddenError

    from plugin.provisioning.doctor import compare, manual_checks
    from plugin.provisioning.live import gather_live_state
    from plugin.provisioning.spec import build_spec
    from plugin.adapters.redmine.client import RedmineUnavailable, make_redmine

    config = ctx.config
    spec = build_spec(config)
    key = admin_api_key or _admin_key_from_file(config.redmine.admin_api_key_file) or config.redmine.api_key
    client = make_redmine(config.redmine, api_key=key)
    try:
        owner = config.redmine.webhook_owner_login if config.redmine.native else None
        live = gather_live_state(client, spec, config.redmine.projects, webhook_owner=owner)
    except (AuthError, ForbiddenError):
        raise click.ClickException(
            f"Redmine at {config.redmine.url} refused the API key. doctor reads administrator-only "
            f"endpoints: pass --admin-api-key, set {ADMIN_KEY_ENV}, or name a file holding the key in redmine.admin_api_key_file."
        ) from None
    except (requests.RequestException, RedmineUnavailable) as exc:
        raise click.ClickException(f"Redmine at {config.redmine.url} cannot be reached ({type(exc).__name__}).") from None
    findings = compare(spec, live)
    if config.redmine.native:
        click.echo("Redmine 7's webhooks (redmine.events_from = \"native\"): no gate, so nothing is refused when saved; "
                   "the worker and the reconciler record what breaks a rule.")
        if live.shim_state is not None:
            click.echo("The redmine_infoshare plugin is installed: set redmine.events_from = \"shim\" to have its gate.")
    if not findings:
        click.echo(f"Redmine at {config.redmine.url} matches the InfoShare spec: complete.")
    else:
        click.echo(f"Redmine at {config.redmine.url} is incomplete: {len(findings)} problem(s).")
        for finding in findings:
            click.echo(f"  - {finding}")
        click.echo("Apply the spec (see README, 'Attaching to an existing Redmine') and run doctor again.")
    if config.redmine.native:
        click.echo("Only Redmine's web pages show these (there is no REST API for them); check them by hand:")
        for check in manual_checks(config.service.public_url.rstrip("/") + "/v1/events"):
            click.echo(f"  - {check}")
    if findings:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
