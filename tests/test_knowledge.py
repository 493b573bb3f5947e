from pathlib import Path

import pytest
import yaml

from bot.gsm7 import is_gsm7, segments
from bot.knowledge import KnowledgeError, load
from tests.conftest import KNOWLEDGE, SHARED

GOOD = {
    "id": "test-entry",
    "title": "Test",
    "questions": ["een", "twee", "drie", "vier", "vijf", "zes?"],
    "answer": "Antwoord.",
    "answer_en": "Answer.",
    "sms": "Antwoord.",
    "sources": ["000_30b21ee4b299dca9.txt"],
}


def write(folder: Path, name: str, entries: list[dict[str, object]]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True), "utf-8")
    return path


def problems(folder: Path) -> list[str]:
    with pytest.raises(KnowledgeError) as caught:
        load(folder)
    return [str(p) for p in caught.value.problems]


def test_real_knowledge_base_covers_every_topic(kb):
    topics = yaml.safe_load((SHARED / "topics.yaml").read_text("utf-8"))["topics"]
    assert {t["id"] for t in topics} <= {e.id for e in kb}


def test_every_entry_is_complete(kb):
    for entry in kb:
        assert len(entry.questions) >= 6, entry.id
        assert any((q.isascii() and " the " in f" {q.lower()} ") or "you" in q.lower()
                   for q in entry.questions), f"{entry.id} has no English phrasing"
        assert len(entry.answer) <= 700 and len(entry.answer_en) <= 700
        assert is_gsm7(entry.sms) and segments(entry.sms) <= 2, entry.id


def test_sources_exist(kb):
    for entry in kb:
        for source in entry.sources:
            assert (SHARED / "seeds" / source).is_file(), (entry.id, source)


def test_valid_file_loads_into_immutable_entries(tmp_path):
    write(tmp_path, "a.yaml", [GOOD])
    kb = load(tmp_path)
    entry = kb.get("test-entry")
    with pytest.raises(AttributeError):
        entry.answer = "anders"  # type: ignore[misc]


def test_duplicate_id_names_both_places(tmp_path):
    write(tmp_path, "a.yaml", [GOOD])
    write(tmp_path, "b.yaml", [GOOD])
    [found] = problems(tmp_path)
    assert "b.yaml" in found and "duplicate id" in found and "a.yaml" in found


def test_missing_answer_and_unknown_field(tmp_path):
    broken = {k: v for k, v in GOOD.items() if k != "answer"} | {"antwoord": "x"}
    write(tmp_path, "a.yaml", [broken])
    found = problems(tmp_path)
    assert any("missing 'answer'" in p and "test-entry" in p for p in found)
    assert any("unknown field 'antwoord'" in p for p in found)


def test_sms_too_long_or_not_gsm7(tmp_path):
    write(tmp_path, "a.yaml", [GOOD | {"sms": "x" * 400},
                               GOOD | {"id": "other", "sms": "Oekraïne “quote”"}])
    found = problems(tmp_path)
    assert any("3 SMS segments" in p for p in found)
    assert any("outside GSM-7" in p and "other" in p for p in found)


def test_broken_yaml_reports_file_and_line(tmp_path):
    (tmp_path / "kapot.yaml").write_text("entries:\n  - id: x\n    title: [unclosed\n", "utf-8")
    [found] = problems(tmp_path)
    assert found.startswith("kapot.yaml:") and "not valid YAML" in found
    assert int(found.split(":")[1]) >= 3


def test_too_few_questions(tmp_path):
    write(tmp_path, "a.yaml", [GOOD | {"questions": ["een", "twee"]}])
    assert any("at least 6 questions" in p for p in problems(tmp_path))


def test_suggestions_folder_is_not_served(tmp_path):
    write(tmp_path, "a.yaml", [GOOD])
    (tmp_path / "suggestions").mkdir()
    write(tmp_path / "suggestions", "draft.yaml", [GOOD | {"id": "draft-1", "draft": True}])
    assert "draft-1" not in load(tmp_path)


def test_answers_invent_no_phone_numbers_or_addresses():
    import re

    text = "\n".join(p.read_text("utf-8") for p in KNOWLEDGE.glob("*.yaml"))
    assert not re.search(r"\b0\d{2,3}[- ]?\d{6,7}\b|\+31", text)
    for domain in re.findall(r"\b[\w-]+\.(?:nl|com|org)\b", text):
        assert domain in {"dethuisgevers.nl"}, domain


def test_kb_words_finds_a_false_friend_and_only_it(tmp_path):
    from bot.kbcheck import false_friends
    from bot.matcher import Matcher
    from bot.normalize import Lexicon, Normalizer

    write(tmp_path, "a.yaml", [{**GOOD, "questions": [
        "is ons gebouw geschikt", "hebben jullie een pand", "drie", "vier", "vijf", "zes?"]}])
    base = Lexicon.load()
    # "gebouwd" (built) is no building, but its stem is the stem of the listed "gebouw".
    lexicon = Lexicon(base.abbreviations, base.stopwords, {"pand": ("pand", "gebouw")})
    matcher = Matcher(load(tmp_path), normalizer=Normalizer(lexicon), beyond={})
    words = ["gebouwd", "gebouw", "pand", "panden", "de", "fiets"]
    assert false_friends(matcher, words) == [("gebouwd", "pand")]
    # Given its own stem (bot/lexicon/stems.yaml), it is no friend at all.
    lexicon = Lexicon(base.abbreviations, base.stopwords, {"pand": ("pand", "gebouw")},
                      {"gebouwd": "gebouwd"})
    matcher = Matcher(load(tmp_path), normalizer=Normalizer(lexicon), beyond={})
    assert false_friends(matcher, words) == []
