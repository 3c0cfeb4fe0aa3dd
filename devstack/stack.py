"""The local stack: a real Redmine (Debian's package, its own SQLite instance,
the shim installed and provisioned, the demo project and users) plus the
InfoShare web service and worker. The Redmine is Debian 12's 5.0 on this
machine, or Debian 13's 6.0 in a chroot (`RedmineRelease`). `python -m devstack up` (`make run`) is idempotent: a second
run reuses the instance, the configuration and any process still running.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import secrets
import sys
import tomllib
from pathlib import Path
from typing import Any

from plugin.adapters.config_file import load_config
from devstack import debian, processes, trixie
from devstack.demo import DEMO_PASSWORD, DEMO_USERS, DemoSeeder
from plugin.provisioning.spec import build_spec
from plugin.adapters.redmine.client import make_redmine
from plugin.domain.configuration import DEFAULT_STAGES, Config
from schemas.config_toml import load_config_data

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def stack_config_text(*, redmine_url: str, api_key: str, service_url: str, database_url: str, secret: str, admin_key_file: str) -> str:
    return (
        "# Written by `make run` (python -m devstack up) for the local stack. See config.example.toml for every key.\n"
        "[redmine]\n"
        f"url = {toml_string(redmine_url)}\n"
        f"api_key = {toml_string(api_key)}\n"
        "# The stack's administrator key, so `infoshare doctor` and `make doctor` work here.\n"
        f"admin_api_key_file = {toml_string(admin_key_file)}\n"
        'projects = ["mash"]\n\n'
        "[service]\n"
        f"public_url = {toml_string(service_url)}\n"
        f"database_url = {toml_string(database_url)}\n\n"
        "[webhook]\n"
        f"secret = {toml_string(secret)}\n\n"
        "[approval]\n"
        'trusted_domains = ["nhs.net", "police.uk", "gov.uk", "mash.example.org"]\n\n'
        "# The default stages; the partnership hears when a disagreement reaches senior managers.\n"
        + "".join(
            "[[escalation.stages]]\n"
            f"number = {s['number']}\nname = {toml_string(s['name'])}\nowner = {toml_string(s['owner'])}\n"
            f"working_days = {s['working_days']}\nnotify_partnership = {'true' if s['number'] == 3 else 'false'}\n\n"
            for s in DEFAULT_STAGES
        )
    )


class RedmineRelease(str, enum.Enum):
    """The Redmines a stack can run: Debian's packages, one per release."""

    DEBIAN_12 = "5.0"  # the host's own package
    DEBIAN_13 = "6.0"  # Debian 13's package in a chroot (devstack/trixie.py)

    @property
    def label(self) -> str:
        return f"Redmine {self.value}"


def prepare_release(release: RedmineRelease) -> bool:
    """What every instance of a release needs, installed or built if missing:
    the package (or the chroot), the web server, the serial-requests option
    and the shim. Returns True when the shim changed."""
    if release is RedmineRelease.DEBIAN_13:
        trixie.ensure_chroot()
        trixie.ensure_serial_requests_option()
        return trixie.install_shim()
    debian.require_debian_redmine()
    debian.ensure_web_server_gem()
    debian.ensure_serial_requests_option()
    return debian.install_shim()


def release_version(release: RedmineRelease) -> str:
    """The installed package's exact version (for cache keys)."""
    if release is RedmineRelease.DEBIAN_13:
        return trixie.redmine_package_version()
    return debian.redmine_package_version()


@dataclasses.dataclass
class Stack:
    root: Path
    instance_name: str
    redmine_port: int
    service_port: int
    smtp_port: int | None = None
    web_workers: int = 2
    info_path: Path | None = None  # where up() writes the stack's description
    release: RedmineRelease = RedmineRelease.DEBIAN_12

    # -- paths ------------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def admin_key_path(self) -> Path:
        return self.root / "admin.key"

    @property
    def bot_key_path(self) -> Path:
        return self.root / "bot.key"

    @property
    def spec_path(self) -> Path:
        return self.root / "spec.json"

    @property
    def redmine_url(self) -> str:
        return f"http://127.0.0.1:{self.redmine_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    def pid(self, name: str) -> Path:
        return self.root / "pids" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    @property
    def instance(self) -> debian.RedmineInstance:
        if self.release is RedmineRelease.DEBIAN_13:
            return trixie.ChrootRedmineInstance(self.instance_name)
        return debian.RedmineInstance(self.instance_name)

    # -- configuration ----------------------------------------------------------

    def _secret(self) -> str:
        if self.config_path.exists():
            existing = tomllib.loads(self.config_path.read_text()).get("webhook", {}).get("secret")
            if existing:
                return existing
        return secrets.token_hex(24)

    def _provisioning_config(self, secret: str) -> Config:
        """The configuration to generate the spec from: the stack's own file once
        it exists (so edits to it are provisioned), else its defaults."""
        if self.config_path.exists():
            return load_config(self.config_path, environ={})
        return load_config_data(tomllib.loads(self._config_text(api_key="(written after provisioning)", secret=secret)))

    def provision(self, projects: tuple[str, ...] = ()) -> list[str]:
        """Apply the spec; with `projects` (once they exist) also what each
        needs: trackers, the service's membership, the work queues."""
        self.root.mkdir(parents=True, exist_ok=True)
        secret = self._secret()
        config = self._provisioning_config(secret)
        self.spec_path.write_text(build_spec(config).dumps())
        changes = self.instance.provision(
            self.spec_path,
            service_url=self.service_url,
            secret=secret,
            key_file=self.bot_key_path,
            admin_key_file=self.admin_key_path,
            projects=projects,
        )
        if not self.config_path.exists():
            self.write_config(api_key=self.bot_key_path.read_text().strip(), secret=secret)
        return changes

    def _config_text(self, *, api_key: str, secret: str) -> str:
        return stack_config_text(
            redmine_url=self.redmine_url,
            api_key=api_key,
            service_url=self.service_url,
            database_url=f"sqlite:///{self.root / 'infoshare.sqlite3'}",
            secret=secret,
            admin_key_file=str(self.admin_key_path),
        )

    def write_config(self, *, api_key: str, secret: str) -> None:
        processes.write_private(self.config_path, self._config_text(api_key=api_key, secret=secret))

    def config(self) -> Config:
        """The stack's configuration, read again whenever its file changes
        (tests ask for it hundreds of times, and reading it costs ~12 ms)."""
        stat = self.config_path.stat()
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self.__dict__.get("_config_read")
        if cached is None or cached[0] != version:
            cached = (version, load_config(self.config_path, environ={}))
            self.__dict__["_config_read"] = cached
        return cached[1]

    # -- Redmine ----------------------------------------------------------------------

    def prepare_redmine(self) -> bool:
        """Install what Redmine needs and create the instance if it is new.
        Returns True when the shim changed (a running Redmine must restart)."""
        changed = prepare_release(self.release)
        instance = self.instance
        if not instance.db_path.exists():
            instance.create()
            instance.migrate_and_load_defaults()
        instance.configure_email(self.smtp_port)
        return changed

    def start_redmine(self, timeout: float = 90) -> None:
        if processes.read_pid(self.pid("redmine")):
            return
        if processes.port_in_use(self.redmine_port):
            raise processes.StartupError(
                f"port {self.redmine_port} is already taken by another program; "
                "set INFOSHARE_STACK_REDMINE_PORT to a free port"
            )
        proc = self.instance.start(
            self.redmine_port,
            log_path=self.log("redmine"),
            pid_path=self.pid("redmine"),
            env={"INFOSHARE_SERVICE_URL": self.service_url, "INFOSHARE_WEBHOOK_SECRET": self._secret()},
        )
        processes.wait_http(f"{self.redmine_url}/", timeout=timeout, proc=proc, log_path=self.log("redmine"))

    def admin(self):
        return make_redmine(self.config().redmine, api_key=self.admin_key_path.read_text().strip(), url=self.redmine_url)

    def seed_demo(self) -> dict[str, int]:
        return DemoSeeder(self.admin(), self.config()).seed()

    # -- the service ----------------------------------------------------------------

    def service_env(self) -> dict[str, str]:
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith("INFOSHARE_")}
        env["INFOSHARE_CONFIG"] = str(self.config_path)
        env["PYTHONPATH"] = str(PROJECT_DIR)
        return env

    def start_service(self, timeout: float = 30) -> None:
        if not processes.read_pid(self.pid("web")):
            if processes.port_in_use(self.service_port):
                raise processes.StartupError(
                    f"port {self.service_port} is already taken by another program; "
                    "set INFOSHARE_STACK_SERVICE_PORT to a free port"
                )
            argv = [
                str(BIN_DIR / "infoshare"),
                "--config",
                str(self.config_path),
                "serve",
                "--bind",
                f"127.0.0.1:{self.service_port}",
                "--workers",
                str(self.web_workers),
            ]
            proc = processes.start(argv, log_path=self.log("web"), pid_path=self.pid("web"), env=self.service_env(), cwd=PROJECT_DIR)
            processes.wait_http(f"{self.service_url}/healthz", timeout=timeout, proc=proc, log_path=self.log("web"))
        if not processes.read_pid(self.pid("scheduler")):
            # The scheduler runs the timed jobs and drains the inbox.
            argv = [str(BIN_DIR / "infoshare"), "--config", str(self.config_path), "scheduler"]
            processes.start(argv, log_path=self.log("scheduler"), pid_path=self.pid("scheduler"), env=self.service_env(), cwd=PROJECT_DIR)

    # -- whole stack ------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        shim_changed = self.prepare_redmine()
        changes = self.provision()
        if (shim_changed or changes) and processes.read_pid(self.pid("redmine")):
            # Plugin code and settings are read when Redmine starts.
            processes.stop_pidfile(self.pid("redmine"))
        self.start_redmine()
        self.seed_demo()
        # The demo project exists now: its work queues and membership.
        self.provision(projects=self.config().redmine.projects)
        # The service restarts on every `up`, so it always runs the current code.
        for name in ("scheduler", "web"):
            processes.stop_pidfile(self.pid(name))
        self.start_service()
        info = self.describe()
        if self.info_path:
            processes.write_private(self.info_path, json.dumps(info, indent=2) + "\n")
        return info

    def describe(self) -> dict[str, Any]:
        return {
            "redmine_url": self.redmine_url,
            "admin_api_key": self.admin_key_path.read_text().strip(),
            "service_url": self.service_url,
            "config": str(self.config_path),
            "users": [u.login for u in DEMO_USERS],
            "demo_password": DEMO_PASSWORD,
            "redmine_instance": self.instance_name,
            "logs": str(self.root / "logs"),
        }

    def down(self) -> list[str]:
        stopped = []
        for name in ("scheduler", "worker", "web", "redmine"):
            if processes.stop_pidfile(self.pid(name)):
                stopped.append(name)
        return stopped

    def status(self) -> dict[str, bool]:
        return {name: processes.read_pid(self.pid(name)) is not None for name in ("redmine", "web", "scheduler")}
