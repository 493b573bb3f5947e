import pytest

from bot.gsm7 import fit, is_gsm7, segments, to_gsm7
from bot.normalize import Normalizer, fold


@pytest.fixture(scope="module")
def n() -> Normalizer:
    return Normalizer()


def test_fold_removes_case_accents_emoji_and_punctuation():
    assert fold("Oekraïne?! 🙏 Café") == "oekraine cafe"
    assert fold("sms'jes") == "smsjes"


def test_sms_shorthand_is_expanded(n):
    assert n.words("wt kost t ons als gem") == ["wat", "kost", "het", "ons", "als", "gemeente"]


def test_synonyms_meet(n):
    assert set(n.tokens("wie betaalt de huur van t pand")) == set(
        n.tokens("wie financiert het vastgoed"))


def test_minor_synonyms(n):
    assert "minderjarige" in n.tokens("een amv")
    assert "minderjarige" in n.tokens("alleenstaande minderjarige vreemdelingen")


def test_stemming_folds_plural(n):
    assert n.tokens("inspiratiesessies") == n.tokens("inspiratiesessie")


def test_english_words_meet_dutch_concepts(n):
    assert "statushouder" in n.tokens("refugees")
    assert "vrijwilliger" in n.tokens("volunteers")


def test_compound_and_typo_repair_with_vocabulary():
    base = Normalizer()
    vocab = frozenset(base.tokens("huisvesting regeling hervestiger nidos zorgverzekering"))
    n = Normalizer(base.lexicon, vocabulary=vocab)
    assert set(n.tokens("huisvestingsregeling")) >= {"huisvesting", "regeling"}
    assert "hervestiger" in n.tokens("hervestegers")
    assert set(n.tokens("nidoss")) & vocab
    assert "zorgverzekering" in n.tokens("zorgverzkering")


def test_gsm7_conversion_and_segments():
    assert to_gsm7("Oekraïne “zo” – ok 🙂") == 'Oekraine "zo" - ok '
    assert is_gsm7(to_gsm7("ë ï é ü ‘x’"))
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("€" * 80) == 1
    long = fit("woord " * 200, 3)
    assert segments(long) <= 3 and long.endswith("...")
