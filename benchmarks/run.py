"""InfoShare benchmarks: `make bench` (or `python -m benchmarks.run`).

Each benchmark runs its two sides in the same run, on a real Redmine (Debian's
package, the real shim) and the real service, and prints a ratio; the whole
is written to benchmarks/RESULTS.md with the machine it ran on.

  gate         REST updates of a request through Redmine with the gate on
               and off, interleaved; median and p95 ratio (goal <= 1.05); and
               the shim's cost of building the question, by part
  gate-service decisions per second in-process; /v1/gate latency under
               gunicorn at a fixed 200 requests/s (goal p99 <= 5 ms)
  ingestion    signed events accepted into the inbox per second (goal >= 500/s)
  calls        Redmine requests per processed event (goal <= 2)
  sweeps       the retention, escalation and incident selections on 50,000
               requests and incidents with 1% due, against a full scan (goal:
               requests follow the due count; >= 20x faster); `incidents` runs
               the incident sweep alone
  timeliness   the sweep of unanswered requests past their Response due, on
               50,000 open requests with 1% overdue (the same goals)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import cases

RESULTS = Path(__file__).with_name("RESULTS.md")
# What profiling found and what was changed, with the figures before and
# after: written by hand, carried into every RESULTS.md.
FINDINGS = Path(__file__).with_name("FINDINGS.md")
ALL = ("gate", "gate-service", "ingestion", "calls", "sweeps", "timeliness")
# Parts of a benchmark above that can also be run on their own.
PARTS = ("incidents",)


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")))
    os_name = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines() if line.startswith("PRETTY_NAME")), "")
    redmine = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "redmine"], capture_output=True, text=True).stdout
    return {
        "CPU": f"{cpu} ({os.cpu_count()} cores)",
        "memory": f"{mem_kb / 1024 / 1024:.0f} GiB",
        "system": os_name,
        "Python": platform.python_version(),
        "Redmine": f"{redmine} (Debian package, SQLite, WEBrick)",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


STORED = Path(__file__).with_name("results.json")


def merged(results: list[dict], info: dict[str, str]) -> list[dict]:
    """The results of this run, each stamped with its date, in place of the
    stored ones of the same name; the others as they were."""
    stamped = [{**r, "date": f"{info.get('date', '')} on {info.get('CPU', 'this machine')}"} for r in results]
    stored = json.loads(STORED.read_text())["results"] if STORED.exists() else []
    names = {r["name"] for r in stamped}
    kept = [r for r in stored if r["name"] not in names]
    order = [r["name"] for r in stored] + [r["name"] for r in stamped if r["name"] not in {s["name"] for s in stored}]
    every = {r["name"]: r for r in kept + stamped}
    out = [every[n] for n in order]
    STORED.write_text(json.dumps({"results": out}, indent=2) + "\n")
    return out


def previous_machine(info: dict[str, str]) -> dict[str, str]:
    return {**info, "date": f"{info.get('date', '')} (this run; each result below says when and on what it was measured)"}


def write_results(results: list[dict], info: dict[str, str]) -> None:
    lines = ["# Benchmark results", "", "Produced by `make bench` (`python -m benchmarks.run`); every ratio is measured side by side in one run.", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    lines += ["", "## Results", "", "| benchmark | measured | goal | met |", "| --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['name']} | {r['measured']} | {r['goal']} | {'yes' if r['met'] else 'NO'} |")
    for r in results:
        lines += ["", f"### {r['name']}", "", r.get("method", "") + (f" (Measured {r['date']}.)" if r.get("date") else "")]
        if r.get("details"):
            lines += [""] + [f"- {d}" for d in r["details"]]
        if r.get("notes"):
            lines += ["", r["notes"]]
    if FINDINGS.exists():
        lines += ["", FINDINGS.read_text().rstrip()]
    RESULTS.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmarks", nargs="*", metavar="NAME", help=f"which to run: {', '.join(ALL + PARTS)} (default: {', '.join(ALL)})")
    parser.add_argument("--quick", action="store_true", help="smaller numbers, for trying the benchmarks out")
    args = parser.parse_args(argv)
    unknown = [name for name in args.benchmarks if name not in ALL + PARTS]
    if unknown:
        parser.error(f"no benchmark called {', '.join(unknown)}; choose from {', '.join(ALL + PARTS)}")
    chosen = args.benchmarks or list(ALL)
    info = machine()
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    results = []
    with cases.BenchStack(quick=args.quick) as bench:
        for name in chosen:
            started = time.monotonic()
            print(f"\n== {name}", flush=True)
            for result in getattr(cases, name.replace("-", "_"))(bench):
                results.append(result)
                print(f"{result['name']}: {result['measured']} (goal {result['goal']}: {'met' if result['met'] else 'NOT MET'})", flush=True)
                for detail in result.get("details", []):
                    print(f"   {detail}", flush=True)
            print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    (cases.BENCH_ROOT / "last-run.json").write_text(json.dumps({"machine": info, "quick": args.quick, "results": results}, indent=2) + "\n")
    if not args.quick:
        # A run of some benchmarks replaces theirs and keeps the others' (each says when it ran).
        write_results(merged(results, info), info if set(chosen) == set(ALL) else previous_machine(info))
        print(f"\nWritten to {RESULTS}")
    return 0 if all(r["met"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
