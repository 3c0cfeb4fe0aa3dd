"""Figures tests report (fault tests: events sent, accepted, processed, lost,
duplicated effects), printed at the end of the run."""

from __future__ import annotations

FIGURES: list[str] = []


def report(line: str) -> None:
    FIGURES.append(line)
