"""Answer quality side by side: plain rapidfuzz, BM25 and ours (issue 5, item 4).

    python benchmarks/quality.py [--file tests/data/dev.jsonl] [--repeat 5] [--smoke]

Same knowledge base, same evaluation file, same front-end (intents, other languages) for
all three. Each baseline's one cut-off is tuned on the odd half only, maximising
correct − 2 × wrong + out-of-scope escalated (counted in questions); the even half is
held out. Prints one table and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from baselines import BM25Baseline, FrontEnd, FuzzBaseline, Scorer, Tuned, tune, with_cutoff
from benchkit import RESULTS, ROOT, Quality, percentile, quality, record, revision, table

from bot.core import freeze_startup_objects
from bot.decision import Decision, Kind, decide
from bot.dialogue import DialogueEngine
from bot.evaluation import Case, evaluate, read_cases
from bot.intents import Intents
from bot.knowledge import KnowledgeBase, load

Decide = Callable[[Case], Decision]
SMOKE_CASES = 12


@dataclass(frozen=True, slots=True)
class Approach:
    name: str
    build: Callable[[], Decide]  # a fresh instance: no cache holds the timed questions
    note: str


@dataclass(frozen=True, slots=True)
class Row:
    approach: str
    half: str
    quality: Quality
    p50_ms: float
    p99_ms: float
    timed: int


def baseline(name: str, make: Callable[[], Scorer], kb_cases: Sequence[Case]) -> Approach:
    front = FrontEnd(Intents())
    tuned: Tuned = tune(make(), front, [(c.text, c.expect) for c in kb_cases])

    def build() -> Decide:
        match = with_cutoff(make(), tuned.cutoff)
        fresh = FrontEnd(Intents())
        return lambda case: fresh.decide(case.text, match)

    note = (f"cut-off {tuned.cutoff:g} (objective {tuned.objective} on the odd half, "
            f"{tuned.tied} tied cut-off{'s' if tuned.tied != 1 else ''}, median taken)")
    return Approach(name, build, note)


def ours(kb: KnowledgeBase) -> Approach:
    def build() -> Decide:
        engine = DialogueEngine(kb)
        return lambda case: engine.decide(case.text, case.channel).decision

    return Approach("ours", build, "thresholds as committed in bot/decision.py")


def measure(approach: Approach, timed: Sequence[Case], warmup: Sequence[Case],
            repeat: int) -> Row | None:
    """Quality over `timed`, and the time of each decision on first sight.

    Each repeat builds a fresh instance and warms it up on the *other* half, so code paths
    and common words are warm but no cache has seen the timed question (ours caches
    normalised texts; real traffic brings new questions).
    """
    if not timed:
        return None
    times: list[float] = []
    first: list[tuple[str, Decision]] = []
    for r in range(repeat):
        decide = approach.build()
        for case in warmup:
            decide(case)
        # As the server does once started (`bot.web.app`): what was built is left out of
        # the garbage collector's walks. Otherwise a question that happens to trigger a
        # collection pays for the instance just built and the ones before it (1-3 ms).
        freeze_startup_objects()
        for case in timed:
            start = time.perf_counter()
            decision = decide(case)
            times.append((time.perf_counter() - start) * 1000)
            if r == 0:
                first.append((case.expect, decision))
        gc.unfreeze()
    times.sort()
    half = "odd" if timed[0].line % 2 else "even"
    return Row(approach.name, half, quality(first), percentile(times, 0.50),
               percentile(times, 0.99), len(times))


def check_against_evaluate(kb: KnowledgeBase, cases: Sequence[Case], row: Row) -> None:
    """Our rates must be exactly what `python -m bot eval` reports."""
    metrics = evaluate(DialogueEngine(kb), cases)
    q = row.quality
    mine = (q.correct, q.wrong, q.clarify, q.escalated)
    theirs = tuple(metrics[k] for k in ("in_scope_correct_rate", "in_scope_wrong_rate",
                                         "clarify_rate", "out_of_scope_escalated_rate"))
    if mine != theirs:
        raise SystemExit(f"quality.py and bot.evaluation disagree on {row.half}: "
                         f"{mine} != {theirs}")


def check_front_end(kb: KnowledgeBase, cases: Sequence[Case]) -> None:
    """The baselines' front-end, given our matcher, must find the intents our engine finds.

    Only intents are compared: what ours does after its front-end (out-of-scope cues,
    thresholds, clarifying) is matching, and that is what the benchmark compares.
    """
    engine = DialogueEngine(kb)
    front = FrontEnd(Intents())

    def match(text: str) -> Decision:
        return decide(engine.matcher.rank(text), engine.thresholds)

    for case in cases:
        theirs = engine.decide(case.text, case.channel).decision
        mine = front.decide(case.text, match)
        if Kind.INTENT in (mine.kind, theirs.kind) and (mine.kind, mine.id) != (
            theirs.kind, theirs.id
        ):
            raise SystemExit(f"benchmarks/baselines.py FrontEnd no longer mirrors "
                             f"DialogueEngine.decide on line {case.line}: "
                             f"{mine.kind} {mine.id} != {theirs.kind} {theirs.id}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "data" / "dev.jsonl")
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes per approach and half (a fresh instance each)")
    parser.add_argument("--bm25-documents", choices=("entry", "phrasing"), default="entry")
    parser.add_argument("--smoke", action="store_true",
                        help=f"first {SMOKE_CASES} questions of each half, one pass, no record")
    parser.add_argument("--results", type=Path, default=None,
                        help="where to append the table (default benchmarks/RESULTS.md; "
                             "with --smoke: nowhere)")
    args = parser.parse_args(argv)
    code = revision()
    results = args.results if args.results or args.smoke else RESULTS
    repeat = 1 if args.smoke else max(1, args.repeat)

    kb = load(args.knowledge)
    odd, even = read_cases(args.file, "odd"), read_cases(args.file, "even")
    if args.smoke:
        odd, even = odd[:SMOKE_CASES], even[:SMOKE_CASES]

    check_front_end(kb, [*odd, *even])
    approaches = [
        baseline("rapidfuzz WRatio", lambda: FuzzBaseline(kb), odd),
        baseline(f"BM25 ({args.bm25_documents})",
                 lambda: BM25Baseline(kb, args.bm25_documents), odd),
        ours(kb),
    ]
    rows: list[Row] = []
    for approach in approaches:
        for timed, warmup in ((odd, even), (even, odd)):
            row = measure(approach, timed, warmup, repeat)
            if row is None:
                continue
            if approach.name == "ours":
                check_against_evaluate(kb, timed, row)
            rows.append(row)

    body = table(
        ["approach", "half", "correct", "wrong", "clarify", "oos escalated",
         "p50 ms", "p99 ms"],
        [(r.approach, f"{r.half} ({r.quality.in_scope}+{r.quality.out_of_scope})",
          f"{r.quality.correct:.3f}", f"{r.quality.wrong:.3f}", f"{r.quality.clarify:.3f}",
          f"{r.quality.escalated:.3f}", f"{r.p50_ms:.3f}", f"{r.p99_ms:.3f}") for r in rows],
    )
    notes = "\n".join(f"- {a.name}: {a.note}" for a in approaches)
    timed_per_row = rows[0].timed if rows else 0
    body += (
        f"\n\n{notes}\n"
        f"- Evaluation file `{_relative(args.file)}`, knowledge base `{_relative(args.knowledge)}`"
        f" ({len(kb)} entries). Half = odd (tuning) or even (held out) lines; "
        "(in scope + out of scope) questions.\n"
        f"- Times: {timed_per_row} timed decisions per row ({repeat} pass(es)); each pass "
        "builds a fresh instance, warms it up on the other half and leaves it out of the "
        "garbage collector's walks as the server does once started "
        "(`bot.core.freeze_startup_objects`), so every timed question is seen for the "
        "first time.\n"
    )
    print(body)
    record("Answer quality: baselines side by side", body, results, code)
    return 0


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


if __name__ == "__main__":
    raise SystemExit(main())
