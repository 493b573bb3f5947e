"""The dev set measures the bot; it is not copied into the knowledge base."""

from bot.evaluation import evaluate, read_cases
from bot.normalize import fold
from tests.conftest import ROOT

DEV = ROOT / "tests" / "data" / "dev.jsonl"


def test_no_dev_question_is_a_phrasing(kb):
    # Copied, that is: the same words (folded). The same meaning is what normalisation is
    # for ("hervestigde vluchtelingen ondergebracht" and "resettlement vluchtelingen
    # huisvesten" both come to hervestiger, statushouder, huisvesting).
    phrasings = {fold(q) for e in kb for q in e.questions}
    leaked = [c.line for c in read_cases(DEV) if fold(c.text) in phrasings]
    assert leaked == []


def test_dev_set_quality(engine):
    metrics = evaluate(engine, read_cases(DEV))
    assert metrics["in_scope_correct_rate"] >= 0.85
    assert metrics["in_scope_wrong_rate"] <= 0.05
    assert metrics["out_of_scope_escalated_rate"] >= 0.80


def test_splits_are_halves():
    odd, even = read_cases(DEV, "odd"), read_cases(DEV, "even")
    assert {c.line % 2 for c in odd} == {1} and {c.line % 2 for c in even} == {0}
    assert len(odd) + len(even) == len(read_cases(DEV))


def test_no_phrasing_is_a_near_copy_of_a_dev_question(kb):
    from rapidfuzz import fuzz, process

    dev = [fold(c.text) for c in read_cases(DEV)]
    near = [(q, dev[i]) for e in kb for q in e.questions
            for _, score, i in [process.extractOne(fold(q), dev, scorer=fuzz.ratio)]
            if score >= 88]
    assert near == []


def test_metrics_only_shows_no_question(capsys):
    import json

    from bot.cli import main

    assert main(["eval", str(DEV), "--split", "even", "--json", "--metrics-only"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["items"] == [] and metrics["n"] == len(read_cases(DEV, "even"))
    assert main(["eval", str(DEV), "--split", "even", "--metrics-only"]) == 0
    out = capsys.readouterr().out
    assert "misses" not in out and "in scope, correct" in out
    assert not any(c.text[:40] in out for c in read_cases(DEV, "even"))
