"""Knowledge-base scaling (issue 6): build time, memory and decision time at 30, 1 000
and 10 000 entries generated from the real knowledge base (see synthetic.py).

    python benchmarks/kb_scaling.py [--sizes 30 1000 10000] [--decisions 2000] [--profile]

A decision is `Matcher.rank` + `bot.decision.decide`, over the dev-set questions. Each pass
builds a fresh Matcher (timed: build time), warms it up on knowledge-base phrasings and then
times every dev question once on first sight ("new"); a second run of the same questions
on the first matcher ("repeated") shows what the normaliser's caches save. Passes repeat
until at least --decisions new questions are timed. Memory is the tracemalloc peak while
building one Matcher and what it still holds afterwards (the lexicon is loaded once).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchkit import RESULTS, ROOT, percentile, record, revision, table
from synthetic import synthetic

from bot.decision import decide
from bot.evaluation import read_cases
from bot.knowledge import KnowledgeBase, load
from bot.matcher import Matcher
from bot.normalize import Lexicon, Normalizer

WARMUP = 30


@dataclass(frozen=True, slots=True)
class Row:
    size: int
    phrasings: int
    build_s: float
    held_mb: float
    peak_mb: float
    new: list[float]
    repeated: list[float]


def timed_pass(matcher: Matcher, questions: Sequence[str]) -> list[float]:
    times: list[float] = []
    for text in questions:
        start = time.perf_counter()
        decide(matcher.rank(text))
        times.append((time.perf_counter() - start) * 1000)
    return times


def warmup_texts(kb: KnowledgeBase, seed: int = 7) -> list[str]:
    """Knowledge-base phrasings, not dev questions: warm code paths, cold question caches."""
    rng = random.Random(seed)
    entries = list(kb)
    return [rng.choice(rng.choice(entries).questions) for _ in range(WARMUP)]


def memory(kb: KnowledgeBase, lexicon: Lexicon) -> tuple[float, float]:
    gc.collect()
    tracemalloc.start()
    matcher = Matcher(kb, Normalizer(lexicon))
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del matcher
    return held / 2**20, peak / 2**20


def measure(kb: KnowledgeBase, questions: Sequence[str], decisions: int) -> Row:
    # The lexicon is read once: a fresh Normalizer per pass keeps its caches cold, and a
    # lexicon file edited while the benchmark runs cannot break it half-way.
    lexicon = Lexicon.load()
    held, peak = memory(kb, lexicon)
    builds: list[float] = []
    new: list[float] = []
    repeated: list[float] = []
    warm = warmup_texts(kb)
    for number in range(max(1, math.ceil(decisions / len(questions)))):
        gc.collect()
        start = time.perf_counter()
        matcher = Matcher(kb, Normalizer(lexicon))
        builds.append(time.perf_counter() - start)
        timed_pass(matcher, warm)
        new.extend(timed_pass(matcher, questions))
        if number == 0:
            repeated.extend(timed_pass(matcher, questions))
    phrasings = sum(1 + len(e.questions) for e in kb)
    return Row(len(kb), phrasings, statistics.median(builds), held, peak,
               sorted(new), sorted(repeated))


def profile(kb: KnowledgeBase, questions: Sequence[str], out: Path) -> None:
    """pyinstrument over one pass of (every fourth) new question at the largest size."""
    from pyinstrument import Profiler

    questions = questions[::4]
    matcher = Matcher(kb)
    timed_pass(matcher, warmup_texts(kb))
    profiler = Profiler(interval=0.001)
    profiler.start()
    timed_pass(matcher, questions)
    profiler.stop()
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    out.write_text(text, "utf-8")
    print(f"\nprofile of {len(questions)} new questions at {len(kb)} entries "
          f"(written to {out}):\n{text}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 1000, 10000])
    parser.add_argument("--decisions", type=int, default=2000,
                        help="at least this many new-question decisions per size")
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "data" / "dev.jsonl")
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument("--profile", type=Path, nargs="?", const=Path("/tmp/kb_profile.txt"),
                        default=None, help="profile the largest size with pyinstrument")
    parser.add_argument("--smoke", action="store_true",
                        help="sizes 30 and 200, 20 questions, one pass, no record")
    parser.add_argument("--results", type=Path, default=None,
                        help="where to append the table (default benchmarks/RESULTS.md; "
                             "with --smoke: nowhere)")
    args = parser.parse_args(argv)
    code = revision()
    results = args.results if args.results or args.smoke else RESULTS

    base = load(args.knowledge)
    questions = [c.text for c in read_cases(args.file)]
    sizes, decisions = args.sizes, args.decisions
    if args.smoke:
        sizes, decisions, questions = [30, 200], 1, questions[:20]

    rows: list[Row] = []
    for size in sizes:
        kb = synthetic(base, size)
        row = measure(kb, questions, decisions)
        rows.append(row)
        print(f"{size} entries: build {row.build_s:.3f} s, p99 new "
              f"{percentile(row.new, 0.99):.3f} ms", flush=True)
    if args.profile is not None:
        profile(synthetic(base, max(sizes)), questions, args.profile)

    body = table(
        ["entries", "phrasings", "build s", "held MB", "peak MB", "decisions",
         "p50 ms new", "p99 ms new", "p50 ms repeated", "p99 ms repeated"],
        [(r.size, r.phrasings, f"{r.build_s:.3f}", f"{r.held_mb:.1f}", f"{r.peak_mb:.1f}",
          len(r.new), f"{percentile(r.new, 0.5):.3f}", f"{percentile(r.new, 0.99):.3f}",
          f"{percentile(r.repeated, 0.5):.3f}", f"{percentile(r.repeated, 0.99):.3f}")
         for r in rows],
    )
    body += (
        f"\n\n- Decision = `Matcher.rank` + `bot.decision.decide` over the {len(questions)} "
        f"questions of `{args.file.name}`; the first {min(len(base), min(sizes))} entries are "
        "the real ones, the rest varied copies (benchmarks/synthetic.py).\n"
        "- new: each question timed once per pass on a freshly built Matcher (no cache has "
        "seen it); repeated: the same questions once more on the first pass's Matcher "
        "(normaliser caches warm). Build s: median over the passes. Memory: tracemalloc "
        "while building one Matcher (held afterwards / peak).\n"
    )
    print(body)
    record("Knowledge-base scaling", body, results, code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
