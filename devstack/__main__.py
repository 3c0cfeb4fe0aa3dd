"""`python -m devstack up|down|status`: the local stack (`make run`, `make
stop`, `make status`). Development tooling, kept out of the service's
package: a site attaches the service to its own Redmine (README)."""

from __future__ import annotations

import os

import click

from devstack.debian import RedmineNotInstalled
from devstack.processes import StartupError
from devstack.stack import PROJECT_DIR, Stack


def local_stack() -> Stack:
    var = PROJECT_DIR / "var"
    return Stack(
        root=var / "stack",
        instance_name=os.environ.get("INFOSHARE_STACK_INSTANCE", "infoshare"),
        redmine_port=int(os.environ.get("INFOSHARE_STACK_REDMINE_PORT", "3000")),
        service_port=int(os.environ.get("INFOSHARE_STACK_SERVICE_PORT", "5005")),
        info_path=var / "stack.json",
    )


@click.group()
def main() -> None:
    """The local stack: a real Redmine plus the InfoShare service, for trying it out."""


@main.command()
def up() -> None:
    """Create (or reuse) and start the local stack."""
    local = local_stack()
    try:
        info = local.up()
    except (RedmineNotInstalled, StartupError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"\nRedmine:  {info['redmine_url']}  (project 'mash')\n"
        f"Log in as one of {', '.join(info['users'])} with password {info['demo_password']!r},\n"
        f"or as admin/admin. The InfoShare service is at {info['service_url']}.\n"
        f"Details: {local.info_path}. Stop everything with `make stop`.\n"
        f"To run infoshare commands against this stack: export INFOSHARE_CONFIG={info['config']}"
    )


@main.command()
def down() -> None:
    """Stop the processes the local stack started."""
    stopped = local_stack().down()
    click.echo("Stopped: " + (", ".join(stopped) if stopped else "nothing was running") + ".")


@main.command()
def status() -> None:
    """Show which local stack processes are running."""
    for name, running in local_stack().status().items():
        click.echo(f"{name:8} {'running' if running else 'stopped'}")


if __name__ == "__main__":
    main()
