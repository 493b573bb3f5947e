"""What every benchmark here shares: the machine description, percentiles, the
four quality metrics of `eval --json`, and appending a dated table to RESULTS.md.

The scripts run as `python benchmarks/NAME.py`, so this module is imported by its bare name.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.decision import Decision, Kind

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().with_name("RESULTS.md")


def machine() -> str:
    """CPU model, cores, RAM and Python version, for the heading of a result."""
    cpu = platform.processor() or platform.machine()
    ram = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f"1-min load average {os.getloadavg()[0]:.2f} at the end of the run"
    parts = [cpu, f"{cores} cores", ram, f"Python {platform.python_version()}",
             platform.system(), load]
    return ", ".join(p for p in parts if p)


def revision() -> str:
    """The commit measured, and whether the matcher's code or content differed from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "bot", "knowledge"], cwd=ROOT,
                               check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head}" + (" with uncommitted changes in bot/ or knowledge/" if dirty else "")


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (p in 0..1)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p * len(sorted_values) - 1e-9))
    return sorted_values[min(len(sorted_values), rank) - 1]


@dataclass(frozen=True, slots=True)
class Quality:
    """The four rates of `eval --json` (see INTERFACE.md), with their denominators."""

    in_scope: int
    out_of_scope: int
    correct: float
    wrong: float
    clarify: float
    escalated: float


def quality(outcomes: Iterable[tuple[str, Decision]]) -> Quality:
    """Rates over (expected id or "escalate", decision) pairs, as `bot.evaluation` counts them."""
    in_scope = out_scope = correct = wrong = clarified = escalated = 0
    for expect, decision in outcomes:
        answered = decision.kind in (Kind.ANSWER, Kind.INTENT)
        if expect == "escalate":
            out_scope += 1
            escalated += decision.kind is Kind.ESCALATE
        else:
            in_scope += 1
            correct += answered and decision.id == expect
            wrong += answered and decision.id != expect
            clarified += decision.kind is Kind.CLARIFY

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 0.0

    return Quality(in_scope, out_scope, rate(correct, in_scope), rate(wrong, in_scope),
                   rate(clarified, in_scope), rate(escalated, out_scope))


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    cells = [[str(h) for h in header], *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def record(title: str, body: str, results: Path | None, code: str) -> None:
    """Append `body` under a dated heading with the machine description to `results`.

    `code` is `revision()` taken when the benchmark started: the code it imported.
    """
    if results is None:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    section = (f"\n## {title}, {stamp}\n\nMachine: {machine()}.  \n"
               f"Code: {code}.  \nCommand: `python {command}`\n\n{body.rstrip()}\n")
    if not results.exists():
        results.write_text("# Benchmark results\n\nAppended by the scripts in this folder; "
                           "newest at the bottom.\n", "utf-8")
    with results.open("a", encoding="utf-8") as out:
        out.write(section)
