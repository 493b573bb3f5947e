"""The webhook load benchmark still runs: its smoke mode (2 s at 20 requests per second)
against the bare handler and `serve` on SQLite, Twilio and Telegram, as real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(180)
def test_load_benchmark_smoke(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "benchmarks/load.py", "--smoke", "--targets", "bare", "sqlite",
         "--results", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=170, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert {r.split("|")[1].strip() + "/" + r.split("|")[2].strip() for r in rows[1:]} == {
        "bare/twilio", "sqlite/twilio", "bare/telegram", "sqlite/telegram"}
    for row in rows[1:]:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[8] == "0 (0)", row  # no errors, no timeouts at 20/s
        if cells[0] == "sqlite":
            assert cells[11] == "0", row  # every accepted webhook stored once
    recorded = results.read_text("utf-8")
    assert "## Webhook load" in recorded and "Machine: " in recorded
