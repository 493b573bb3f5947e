"""The benchmark scripts still run: each in its few-seconds smoke mode, as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, results: Path) -> str:
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--smoke", "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=90, check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_quality_compares_the_baselines_with_ours(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    out = run("quality.py", results)
    for approach in ("rapidfuzz WRatio", "BM25 (entry)", "ours"):
        assert f"| {approach} " in out
    assert "| odd " in out and "| even " in out
    recorded = results.read_text("utf-8")
    assert "## Answer quality" in recorded and "Machine: " in recorded and "Python 3." in recorded


@pytest.mark.timeout(120)
def test_kb_scaling_times_decisions_on_generated_knowledge_bases(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    out = run("kb_scaling.py", results)
    assert "| 30 " in out and "| 200 " in out
    assert "## Knowledge-base scaling" in results.read_text("utf-8")
