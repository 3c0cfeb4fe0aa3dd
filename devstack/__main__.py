"""`python -m devstack up|down|status`: the local stack (`make run`, `make
stop`, `make status`). Development tooling, kept out of the service's
package: a site attaches the service to its own Redmine (README)."""

from __future__ import annotations

import os

import click

from devstack.debian import RedmineNotInstalled
from devstack.processes import StartupError
from devstack.stack import PROJECT_DIR, RedmineRelease, Stack


def local_stack(release: RedmineRelease = RedmineRelease.DEBIAN_12) -> Stack:
    """The stack on one Redmine release. Each release keeps its own folder
    (its own database, keys and store), so trying Redmine 6 leaves the
    Redmine 5 stack as it was; both use the same ports, one at a time."""
    var = PROJECT_DIR / "var"
    folder = "stack" if release is RedmineRelease.DEBIAN_12 else f"stack-redmine{release.value}"
    return Stack(
        root=var / folder,
        instance_name=os.environ.get("INFOSHARE_STACK_INSTANCE", "infoshare"),
        redmine_port=int(os.environ.get("INFOSHARE_STACK_REDMINE_PORT", "3000")),
        service_port=int(os.environ.get("INFOSHARE_STACK_SERVICE_PORT", "5005")),
        info_path=var / "stack.json",
        release=release,
    )


def every_stack() -> list[Stack]:
    return [local_stack(release) for release in RedmineRelease]


@click.group()
def main() -> None:
    """The local stack: a real Redmine plus the InfoShare service, for trying it out."""


@main.command()
@click.option(
    "--redmine",
    "version",
    type=click.Choice([r.value for r in RedmineRelease]),
    default=RedmineRelease.DEBIAN_12.value,
    show_default=True,
    help="Which Redmine: 5.0 is Debian 12's package, 6.0 Debian 13's in a chroot (built once).",
)
def up(version: str) -> None:
    """Create (or reuse) and start the local stack."""
    release = RedmineRelease(version)
    others = [s for s in every_stack() if s.release is not release and any(s.status().values())]
    if others:
        raise click.ClickException(
            f"the stack on {others[0].release.label} is running on the same ports; stop it first with `make stop`"
        )
    local = local_stack(release)
    try:
        info = local.up()
    except (RedmineNotInstalled, StartupError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"\n{release.label}:  {info['redmine_url']}  (project 'mash')\n"
        f"Log in as one of {', '.join(info['users'])} with password {info['demo_password']!r},\n"
        f"or as admin/admin. The InfoShare service is at {info['service_url']}.\n"
        f"Details: {local.info_path}. Stop everything with `make stop`.\n"
        f"To run infoshare commands against this stack: export INFOSHARE_CONFIG={info['config']}"
    )


@main.command()
def down() -> None:
    """Stop the processes the local stack started."""
    stopped = [name for stack in every_stack() for name in stack.down()]
    click.echo("Stopped: " + (", ".join(stopped) if stopped else "nothing was running") + ".")


@main.command()
def status() -> None:
    """Show which local stack processes are running."""
    for stack in every_stack():
        if stack.root.exists() or stack.release is RedmineRelease.DEBIAN_12:
            for name, running in stack.status().items():
                click.echo(f"{stack.release.label}  {name:8} {'running' if running else 'stopped'}")


if __name__ == "__main__":
    main()
