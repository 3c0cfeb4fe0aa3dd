"""Markers follow the folders: tests/unit, tests/integration, tests/e2e."""

from pathlib import Path

import pytest

_FOLDER_MARKERS = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if folder in _FOLDER_MARKERS:
            item.add_marker(_FOLDER_MARKERS[folder])


def pytest_terminal_summary(terminalreporter):
    from tests.support.figures import FIGURES

    if FIGURES:
        terminalreporter.section("InfoShare figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
