"""The deployment files refer to things that exist: commands, options, paths.
(They are not run here: there is no systemd or container engine in CI.)"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from plugin.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"


def _command_works(argv: list[str]) -> None:
    """The infoshare subcommand exists and takes the options given."""
    words = []
    for token in argv[1:]:
        if token.startswith("-"):
            break
        words.append(token)
    result = CliRunner().invoke(main, [*words, "--help"])
    assert result.exit_code == 0, (argv, result.output)
    for option in (t for t in argv[1:] if t.startswith("--")):
        assert option in result.output, (argv, option)


def test_systemd_units_run_existing_commands():
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read(unit)
        argv = shlex.split(parser["Service"]["ExecStart"])
        assert argv[0].endswith("/infoshare"), unit
        _command_works(argv)
        assert parser["Service"]["Environment"].startswith("INFOSHARE_")  # configuration by environment, not hard-coded
        assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_dockerfile_and_compose_refer_to_real_paths():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (\S+)", dockerfile, flags=re.MULTILINE):
        assert (ROOT / source).exists(), source
    cmd = re.search(r'^CMD \[(.+)\]', dockerfile, flags=re.MULTILINE).group(1)
    _command_works([part.strip().strip('"') for part in cmd.split(",")])
    compose = (DEPLOY / "compose.yaml").read_text()
    assert "dockerfile: docs/deploy/Dockerfile" in compose and "context: ../.." in compose
