"""`AnyOf` answers exactly what trying its patterns one by one would."""

import json
import re
from pathlib import Path

import yaml

from bot.anyof import AnyOf, leads
from bot.intents import ORDER
from bot.normalize import LEXICON_DIR, fold


def first_one_by_one(patterns, folded):
    """The first of (pattern, whole text?) that matches, and where: (index, start, end)."""
    for index, (pattern, whole) in enumerate(patterns):
        found = re.fullmatch(pattern, folded) if whole else re.search(pattern, folded)
        if found:
            return index, found.start(), found.end()
    return None


def test_a_leading_word_boundary_still_needs_a_word_start():
    any_of = AnyOf([r"\bapp (me|mij)\b", r"^help\b"])
    assert any_of("kun je app me sturen")
    assert not any_of("whatsapp me")  # "app" inside a word is no match
    assert any_of("help ik kom er niet uit")
    assert not any_of("ik zoek help")  # "^" still means the start of the text


def test_a_pattern_is_filed_under_the_words_its_matches_can_start_with():
    assert leads(r"\b(al )?(dagen|weken) (niks|niets)\b") == {"al", "dagen", "weken"}
    assert leads(r"\b(woning|huis)\b.*\b(voor mij)\b") == {"woning", "huis"}
    assert leads(r"^help\b") == {"help"}
    assert leads(r"\bhoe laat(?! (je|jij)\b)") == {"hoe"}


def test_a_pattern_whose_first_word_cannot_be_told_is_tried_on_every_text():
    assert leads(r"\b\d{1,2} (januari|mei)\b") is None  # a digit class, not a word
    assert leads(r"\bverhuur") is None  # "verhuurder" too: the word may go on
    assert leads(r"(huis|woning)\b") is None  # may start inside a word ("rijtjeshuis")
    assert leads(r"(?i)\bstop\b") is None  # folded text is lower case; "Stop" would not be
    any_of = AnyOf([r"\bverhuur", r"\b\d{1,2} (januari|mei)\b"])
    assert any_of.first("de verhuurder belt") == (0, 3, 10)
    assert any_of.first("op 12 mei graag") == (1, 3, 9)


def test_first_gives_the_first_pattern_in_order_and_where_it_matched():
    any_of = AnyOf.in_order([(r"\bstop\b", False), (r"stop( aub)?", True), (r"\baub\b", False)])
    assert any_of.first("graag aub") == (2, 6, 9)
    assert any_of.first("stop aub") == (0, 0, 4)
    assert any_of.first("nee") is None


def test_alternatives_at_the_top_level_match_where_one_by_one_does():
    # Both alternatives start with a word boundary: the parser takes it out in front.
    pattern = r"\b(beloofde)\b.*\b(wachten)\b|\b(wachten)\b.*\b(beloofde)\b"
    text = "wij wachten nog op de beloofde stukken"
    any_of = AnyOf([pattern])
    assert any_of.first(text) == first_one_by_one([(pattern, False)], text) == (0, 4, 30)


def test_whole_patterns_match_the_whole_text_only():
    any_of = AnyOf([], whole=["stop( aub)?"])
    assert any_of("stop") and any_of("stop aub")
    assert not any_of("stop de verbouwing") and not any_of("niet stop")


def test_agrees_with_one_by_one_on_every_lexicon_pattern_and_evaluation_text():
    intents = yaml.safe_load((LEXICON_DIR / "intents.yaml").read_text("utf-8"))
    scope = yaml.safe_load((LEXICON_DIR / "scope.yaml").read_text("utf-8"))
    rules = [[*((p, True) for p in intents[name].get("whole", [])),
              *((p, False) for p in intents[name].get("anywhere", []))] for name in ORDER]
    sets = [*rules, [pair for rule in rules for pair in rule]]  # as `Intents` tries them
    sets += [[(p, False) for p in patterns] for patterns in intents["audience"].values()]
    sets += [[(p, False) for ps in intents["audience"].values() for p in ps]]
    followup = intents["followup"]
    sets += [[(p, False) for p in followup["negative"]]]
    sets += [[(p, True) for p in followup[kind]] for kind in ("yes", "no", "neither")]
    sets += [[(p, False) for p in patterns] for patterns in scope["folded"].values()]
    sets += [[(p, False) for ps in scope["folded"].values() for p in ps]]  # as `Scope` does
    data = Path(__file__).parent / "data"
    texts = [fold(json.loads(line)["text"]) for path in sorted(data.glob("*.jsonl"))
             for line in path.read_text("utf-8").splitlines() if line.strip()]
    texts += ["stop", "help", "menu", "hoi", "bedankt", "", "mijn gegevens verwijderen",
              "ja", "nee", "geen van beide", "nee dat helpt niet", "klopt niet", "ja graag"]
    for patterns in sets:
        any_of = AnyOf.in_order(patterns)
        for text in texts:
            assert any_of.first(text) == first_one_by_one(patterns, text), (patterns, text)
