"""`AnyOf` answers exactly what trying its patterns one by one would."""

import json
import re
from pathlib import Path

import yaml

from bot.anyof import AnyOf
from bot.normalize import LEXICON_DIR, fold


def one_by_one(anywhere, whole, folded):
    return (any(re.fullmatch(p, folded) for p in whole)
            or any(re.search(p, folded) for p in anywhere))


def test_a_leading_word_boundary_still_needs_a_word_start():
    any_of = AnyOf([r"\bapp (me|mij)\b", r"^help\b"])
    assert any_of("kun je app me sturen")
    assert not any_of("whatsapp me")  # "app" inside a word is no match
    assert any_of("help ik kom er niet uit")
    assert not any_of("ik zoek help")  # "^" still means the start of the text


def test_whole_patterns_match_the_whole_text_only():
    any_of = AnyOf([], whole=["stop( aub)?"])
    assert any_of("stop") and any_of("stop aub")
    assert not any_of("stop de verbouwing") and not any_of("niet stop")


def test_agrees_with_one_by_one_on_every_lexicon_pattern_and_evaluation_text():
    intents = yaml.safe_load((LEXICON_DIR / "intents.yaml").read_text("utf-8"))
    scope = yaml.safe_load((LEXICON_DIR / "scope.yaml").read_text("utf-8"))
    sets = [(spec.get("anywhere", []), spec.get("whole", []))
            for name, spec in intents.items() if name not in ("audience", "followup")]
    sets += [(patterns, []) for patterns in intents["audience"].values()]
    followup = intents["followup"]
    sets += [(followup["negative"], [])]
    sets += [([], followup[kind]) for kind in ("yes", "no", "neither")]
    sets += [(patterns, []) for patterns in scope["folded"].values()]
    data = Path(__file__).parent / "data"
    texts = [fold(json.loads(line)["text"]) for path in sorted(data.glob("*.jsonl"))
             for line in path.read_text("utf-8").splitlines() if line.strip()]
    texts += ["stop", "help", "menu", "hoi", "bedankt", "", "mijn gegevens verwijderen",
              "ja", "nee", "geen van beide", "nee dat helpt niet", "klopt niet", "ja graag"]
    for anywhere, whole in sets:
        any_of = AnyOf(anywhere, whole=whole)
        for text in texts:
            assert any_of(text) == bool(one_by_one(anywhere, whole, text)), anywhere
