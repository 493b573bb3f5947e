"""The second opinion: logistic regression over letter groups and words (bot/classifier.py)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from bot import classifier as module
from bot.classifier import Classifier, _lbfgs, letter_codes, trained, word_ngrams

TEXTS = [
    "wie betaalt de zorgverzekering van de bewoners",
    "is de zorgverzekering gedekt door de regeling",
    "zorgverzekering en eigen risico, hoe zit dat",
    "hoe word ik buddy van een gezin",
    "ik wil me aanmelden als buddy",
    "kan ik vrijwilliger worden bij jullie",
]
LABELS = ["zorg", "zorg", "zorg", "buddy", "buddy", "buddy"]


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.setattr(module, "_MEMO", {})


def test_letter_groups_are_four_bytes_within_words_padded_with_a_space():
    def code(group: str) -> int:
        return int.from_bytes(group.encode(), "big")

    assert letter_codes("ab  cdef\nx").tolist() == [code(g) for g in (
        " ab ", " cde", "cdef", "def ")]
    assert letter_codes("").tolist() == letter_codes("a").tolist() == []
    # An accented letter is two bytes: "café" still shares " caf" with "cafe".
    assert code(" caf") in letter_codes("café").tolist()
    assert word_ngrams("Hoe word ik buddy?") == ["Hoe", "word", "ik", "buddy", "Hoe word",
                                                 "word ik", "ik buddy"]


def test_a_typo_still_shares_most_letter_groups_with_the_word():
    model = Classifier.fit(TEXTS, LABELS)
    p = model.probabilities("zorgverzkering??")
    assert model.labels == ("buddy", "zorg")
    assert p.sum() == pytest.approx(1.0)
    assert p[model.labels.index("zorg")] > 0.7


def test_words_all_labels_use_weigh_less_than_the_words_that_tell_them_apart():
    model = Classifier.fit(TEXTS, LABELS)
    # "de" and "van" occur under both labels, "aanmelden" under one only.
    p = model.probabilities("aanmelden van de")
    assert p[model.labels.index("buddy")] > 0.6


def test_a_message_without_a_known_letter_group_gets_the_same_opinion_as_any_other():
    model = Classifier.fit(TEXTS, LABELS)
    assert model.features.vector("§§§ ¶¶")[0].size == 0  # groups never seen in training
    assert model.probabilities("§§§ ¶¶").tolist() == model.probabilities("ŋŋŋ").tolist()


def test_lbfgs_finds_the_minimum_of_a_quadratic():
    target = np.array([3.0, -2.0, 0.5])
    scale = np.array([1.0, 10.0, 100.0])

    def f(x):
        d = x - target
        return float((scale * d * d).sum()), 2 * scale * d

    assert _lbfgs(f, np.zeros(3), 100) == pytest.approx(target, abs=1e-4)


def test_the_trained_weights_are_kept_on_disk_and_read_back_identically(tmp_path):
    first = trained(TEXTS, LABELS, tmp_path)
    stored = list(tmp_path.glob("classifier-*.npz"))
    assert len(stored) == 1
    module._MEMO.clear()
    again = trained(TEXTS, LABELS, tmp_path)
    assert again is not first
    assert np.array_equal(again.weights, first.weights)
    assert np.array_equal(again.probabilities("buddy worden"), first.probabilities("buddy worden"))
    # Other phrasings are another model, in another file: never stale weights.
    trained([*TEXTS, "wat doet een buddy"], [*LABELS, "buddy"], tmp_path)
    assert len(list(tmp_path.glob("classifier-*.npz"))) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_cache_file_is_trained_afresh_with_a_warning(tmp_path, caplog, damage):
    first = trained(TEXTS, LABELS, tmp_path)
    (path,) = tmp_path.glob("classifier-*.npz")
    whole = path.read_bytes()
    path.write_bytes(b"not a numpy file" if damage == "garbage" else whole[: len(whole) // 2])
    module._MEMO.clear()
    with caplog.at_level(logging.WARNING, logger="bot.classifier"):
        again = trained(TEXTS, LABELS, tmp_path)
    assert "unreadable" in caplog.text
    assert np.array_equal(again.weights, first.weights)


def test_an_unwritable_cache_is_skipped_with_a_warning(tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="bot.classifier"):
        model = trained(TEXTS, LABELS, blocked / "cache")
    assert "not written" in caplog.text
    assert model.labels == ("buddy", "zorg")


def test_answering_weighs_exactly_the_features_training_saw():
    model = Classifier.fit(TEXTS, LABELS)
    for text in ["Wie betaalt de zorgverzekering? En de zorgverzekering van de kinderen?",
                 "buddy", "ik ik ik wil buddy worden", ""]:
        columns, values = model.features.vector(text)
        logits = model.bias + values @ model.weights[columns]
        expected = np.exp(logits - logits.max())
        assert model.probabilities(text) == pytest.approx(expected / expected.sum())
