"""The command line as a user runs it (subprocesses, the installed package)."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_ask_json_follows_the_interface():
    result = run("ask", "wie betaalt de huur van het pand?", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"kind", "id", "options", "score", "reply"}
    assert data["kind"] == "answer" and data["id"] == "har-financiering"


def test_kb_check_passes():
    result = run("kb", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "knowledge base OK" in result.stdout


def test_kb_check_reports_broken_file(tmp_path):
    (tmp_path / "kapot.yaml").write_text("entries:\n  - id: x\n    title: y\n", "utf-8")
    result = run("kb", "check", env={"KNOWLEDGE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "kapot.yaml:2: x: missing 'questions'" in result.stdout


def test_eval_json(tmp_path):
    result = run("eval", "tests/data/dev.jsonl", "--json", "--split", "odd")
    metrics = json.loads(result.stdout)
    assert {"n", "in_scope_correct_rate", "in_scope_wrong_rate", "clarify_rate",
            "out_of_scope_escalated_rate", "items"} <= set(metrics)


def test_chat_holds_a_conversation(tmp_path):
    result = run("chat", stdin="hallo\nwie betaalt de huur van het pand?\n/quit\n",
                 env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"})
    assert result.returncode == 0, result.stderr
    assert "bot> Hallo" in result.stdout and "HAR" in result.stdout


def test_kb_words_lists_false_friends_for_review():
    result = run("kb", "words", "--top", "2000")
    assert result.returncode == 0, result.stderr
    assert "most common words per language (nl)" in result.stdout.splitlines()[-1]
    assert "zoon -> " not in result.stdout  # given its own stem in bot/lexicon/stems.yaml
    assert "gewoon -> " not in result.stdout  # its "ge" is no longer stemmed away
