"""The import direction of the README's map, checked on the source (issue 15).

Each layer may import only the layers listed for it: the domain and the rules
stay pure (no service, adapter, web framework, database or HTTP client), the
adapters never reach up into the service, and the shipped package never
imports the development stack or the tests. Imports inside functions count
as much as those at the top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = ("plugin", "webhooks", "schemas", "devstack", "tests", "benchmarks")

# layer -> the first-party layers it may import (itself always allowed)
MAY_IMPORT: dict[str, set[str]] = {
    "plugin.domain": set(),
    "plugin.clock": set(),
    "plugin.policy": {"plugin.domain"},
    "schemas": {"plugin.domain"},
    "plugin.adapters": {"plugin.domain", "plugin.clock", "schemas"},
    "plugin.provisioning": {"plugin.domain", "plugin.policy", "plugin.adapters"},
    "plugin.service": {"plugin.domain", "plugin.policy", "plugin.adapters", "plugin.clock"},
    "plugin.scheduler": {"plugin.service", "plugin.adapters", "plugin.clock"},
    "plugin.cli": {"plugin.domain", "plugin.adapters", "plugin.clock", "plugin.provisioning", "plugin.service", "plugin.scheduler"},
    "webhooks": {"plugin.domain", "plugin.adapters", "plugin.clock", "plugin.service", "schemas"},
    "devstack": {"plugin.domain", "plugin.adapters", "plugin.provisioning", "schemas"},
}

# Third-party packages the pure layers may use: data, not machinery.
PURE_MAY_USE = {"holidays"}
PURE = ("plugin.domain", "plugin.policy", "plugin.clock")


def layer_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "plugin" else parts[0]


def imported(source: str) -> set[str]:
    """Every absolute module name a source imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "plugin":  # `from plugin import policy`
                found.update(f"plugin.{alias.name}" for alias in node.names)
    return found


def wrong_imports(layer: str, source: str) -> list[str]:
    wrong = []
    for name in sorted(imported(source)):
        top = name.split(".")[0]
        if top in FIRST_PARTY:
            target = layer_of(name)
            if name == "plugin" or (target != layer and target not in MAY_IMPORT[layer]):
                wrong.append(name)
        elif layer in PURE and top not in sys.stdlib_module_names and top not in PURE_MAY_USE and top != "__future__":
            wrong.append(name)
    return wrong


def modules():
    for package in ("plugin", "webhooks", "schemas", "devstack"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            if module == "plugin":
                continue
            yield module, path


def test_every_module_belongs_to_a_layer_of_the_map():
    unmapped = sorted({layer_of(m) for m, _ in modules()} - set(MAY_IMPORT))
    assert unmapped == [], f"add these to the README's map and to MAY_IMPORT: {unmapped}"


@pytest.mark.parametrize("module,path", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_point_the_way_the_map_says(module, path):
    assert wrong_imports(layer_of(module), path.read_text()) == [], f"{module} imports against the map in README.md"


@pytest.mark.parametrize(
    "layer,source",
    [
        ("plugin.policy", "from plugin.service.executor import RedmineExecutor"),
        ("plugin.domain", "def f():\n    import flask\n"),
        ("plugin.domain", "from plugin import policy"),
        ("plugin.policy", "import sqlalchemy as sa"),
        ("plugin.adapters", "from plugin.service.judge import Judge"),
        ("plugin.service", "from devstack.stack import Stack"),
        ("schemas", "from plugin.policy.model import Step"),
    ],
)
def test_the_check_catches_an_import_against_the_map(layer, source):
    assert wrong_imports(layer, source)


def test_the_check_lets_allowed_imports_through():
    assert wrong_imports("plugin.policy", "import datetime\nfrom plugin.domain.record import FieldKey\nfrom plugin.policy.model import Context") == []
