"""Runs an evaluation set (JSON Lines, see INTERFACE.md) through the engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bot.decision import Kind
from bot.dialogue import DialogueEngine
from bot.messages import Channel

Split = Literal["odd", "even"]


@dataclass(frozen=True, slots=True)
class Case:
    line: int
    text: str
    expect: str
    channel: Channel
    lang: str


def read_cases(path: Path, split: Split | None = None) -> list[Case]:
    """Cases of a JSON Lines file; `split` keeps the odd or even (1-based) lines."""
    cases: list[Case] = []
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        if (split == "odd" and number % 2 == 0) or (split == "even" and number % 2 == 1):
            continue
        data = json.loads(raw)
        cases.append(Case(number, str(data["text"]), str(data["expect"]),
                          Channel(data.get("channel", "web")), str(data.get("lang", "nl"))))
    return cases


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def evaluate(engine: DialogueEngine, cases: Iterable[Case]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    in_scope = correct = wrong = clarified = out_scope = escalated = 0
    timings: list[float] = []
    for case in cases:
        start = time.perf_counter()
        reply = engine.decide(case.text, case.channel)
        timings.append((time.perf_counter() - start) * 1000)
        d = reply.decision
        answered = d.kind in (Kind.ANSWER, Kind.INTENT)
        if case.expect == "escalate":
            out_scope += 1
            escalated += d.kind is Kind.ESCALATE
        else:
            in_scope += 1
            correct += answered and d.id == case.expect
            wrong += answered and d.id != case.expect
            clarified += d.kind is Kind.CLARIFY
        items.append({
            "line": case.line, "text": case.text, "expect": case.expect,
            "kind": d.kind.value, "id": d.id, "options": list(d.options), "score": d.score,
            "language": reply.language.value,
        })
    timings.sort()

    def pct(p: float) -> float:
        return round(timings[min(len(timings) - 1, int(p * len(timings)))], 3) if timings else 0.0

    return {
        "n": len(items),
        "in_scope": in_scope,
        "out_of_scope": out_scope,
        "in_scope_correct_rate": _rate(correct, in_scope),
        "in_scope_wrong_rate": _rate(wrong, in_scope),
        "clarify_rate": _rate(clarified, in_scope),
        "out_of_scope_escalated_rate": _rate(escalated, out_scope),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "items": items,
    }


def summary(metrics: dict[str, Any]) -> str:
    lines = [
        f"questions            {metrics['n']} ({metrics['in_scope']} in scope, "
        f"{metrics['out_of_scope']} out of scope)",
        f"in scope, correct    {metrics['in_scope_correct_rate']:.1%}",
        f"in scope, wrong      {metrics['in_scope_wrong_rate']:.1%}",
        f"in scope, clarified  {metrics['clarify_rate']:.1%}",
        f"out of scope, escalated {metrics['out_of_scope_escalated_rate']:.1%}",
        f"decision time        p50 {metrics['p50_ms']} ms, p99 {metrics['p99_ms']} ms",
    ]
    misses = [i for i in metrics["items"]
              if not (i["expect"] == "escalate" and i["kind"] == "escalate")
              and not (i["kind"] in ("answer", "intent") and i["id"] == i["expect"])]
    if misses:
        lines.append("")
        lines.append("misses (line: expected -> got):")
        for item in misses:
            got = item["id"] or item["kind"]
            if item["kind"] == "clarify":
                got = "clarify " + "/".join(item["options"])
            lines.append(f"  {item['line']}: {item['expect']} -> {got} ({item['score']}) "
                         f"{item['text'][:70]}")
    return "\n".join(lines)
