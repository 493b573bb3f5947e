"""Property-based tests (hypothesis): arbitrary Unicode through the normaliser, the matcher,
the decision, the whole helpline and both webhook parsers never crashes, and nothing is
ever answered from an entry that does not exist."""

from __future__ import annotations

import itertools
import json
import unicodedata
from typing import Any

from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Bot

from bot.decision import Kind
from bot.dialogue import DialogueEngine
from bot.helpline import Helpline
from bot.matcher import BEYOND
from bot.messages import Channel, InboundMessage, clean_text
from bot.normalize import (
    _APOSTROPHE,
    _COMBINING,
    _EQUALS,
    _SEPARATED,
    _UN,
    _WORD,
    Normalizer,
    fold,
    separated,
)
from bot.ratelimit import RATE_LIMITED, RateLimit
from bot.storage.db import Database
from handlers.telegram import inbound_from_update
from handlers.telegram_webhook import parse_update
from handlers.twilio import BadForm, inbound_from_form, is_status_callback, parse_form
from tests.conftest import OFFICE_HOURS

INTENTS = frozenset({"groet", "bedankt", "menu", "mens", "vergeet", "stop", "start"})
PURE = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
ASYNC = settings(max_examples=50, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])

# Any Unicode, surrogates aside (they cannot be encoded as UTF-8, so no provider sends them).
unicode_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=400)
# Text that looks more like a question: Dutch words mixed with anything.
WORDS = ["wie", "betaalt", "huur", "pand", "hond", "vergadering", "stop", "ja", "nee", "1",
         "2", "mens", "hallo", "bedankt", "vergeet", "mijn", "gegevens", "verzekering", "?"]
wordy_text = st.lists(st.one_of(st.sampled_from(WORDS), unicode_text.map(lambda s: s[:12])),
                      max_size=12).map(" ".join)
texts = st.one_of(unicode_text, wordy_text)


@PURE
@given(text=texts)
def test_normaliser_never_crashes(engine: DialogueEngine, text: str):
    assert isinstance(fold(text), str)
    # Without a vocabulary, and the matcher's own (which splits compounds, repairs typos).
    for normalizer in (_plain, engine.matcher.normalizer):
        tokens = normalizer.tokens(text)
        assert all(isinstance(t, str) and t for t in tokens)


def _fold_every_step(text: str) -> str:
    """`fold` as it was before it skipped the steps that cannot change a text."""
    text = _UN.sub("Verenigde Naties", text)
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.lower()))
    text = _APOSTROPHE.sub("", text)
    text = _EQUALS.sub(" hetzelfde als ", text)
    return " ".join(_WORD.findall(text))


# Where fold's shortcuts could go wrong: capitals, accents, apostrophes, "=", ASCII or not.
fold_text = st.one_of(texts, st.lists(st.sampled_from(
    ["VN", "vn", "VNG", "zo'n", "sms`jes", "d’r", "´", "é", "e\u0301", "=", "a=b", "x = y",
     "Ärger", "ǅ", "İ", "ß", "1", " ", "'", "A"]), max_size=10).map("".join))


@PURE
@given(text=fold_text)
def test_fold_skips_only_steps_that_cannot_change_the_text(text: str):
    assert fold(text) == _fold_every_step(text)


def _names_word_by_word(text: str) -> frozenset[str]:
    """`Normalizer.names` as it was before it looked only at words with a capital."""
    found: list[str] = []
    start = True
    for raw in text.split():
        core = raw.strip("\"'‘’“”()[],;:!?.")
        if not start and len(core) > 1 and core[0].isupper() and core[1:].islower():
            found.append(core)
        start = raw.endswith((".", "!", "?", ":")) or raw in {"-", "–"}
    return frozenset(fold(" ".join(found)).split()) if found else frozenset()


name_text = st.one_of(texts, st.lists(st.sampled_from(
    ["Gerda", "uit", "Wilsum.", "Ik", "ben", "-", "–", "(Kampen)", "De", "ÉÉN", "Ǆemal", "a:",
     "Jean-Pierre", "'Zwolle'", "?", "VN", "x"]), max_size=12).map(" ".join))


@PURE
@given(text=name_text)
def test_names_are_found_as_word_by_word(text: str):
    assert Normalizer.names(text) == _names_word_by_word(text)


clause_text = st.one_of(texts, st.lists(st.sampled_from(
    ["op", "OP", "Op", "aan", "eraan", "los", "loſ", "bıȷ", "İn", "uit", "af", "x", "weg",
     ".", ",", "?", "!", ";", ":", "\n", " ", "\t", "\u00a0", "-", "_", "é", "1"]),
    max_size=14).map("".join))


@PURE
@given(text=clause_text)
def test_a_clause_final_particle_is_found_as_by_searching_everywhere(text: str):
    assert separated(text) == (_SEPARATED.search(text) is not None)


@PURE
@given(text=texts)
def test_matcher_only_returns_existing_entries(engine: DialogueEngine, text: str):
    candidates = engine.matcher.rank(text)
    # An entry, or one of the kinds of question beyond the knowledge base (never shown).
    assert all((c.entry_id in engine.kb) != c.beyond for c in candidates)
    assert all(c.entry_id.startswith(BEYOND) for c in candidates if c.beyond)
    assert all(c.support is None or 0.0 <= c.support <= 1.0 for c in candidates)
    assert all(0.0 <= c.score <= 100.0 for c in candidates)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)


@PURE
@given(text=texts, channel=st.sampled_from(list(Channel)))
def test_decide_answers_only_from_existing_entries(engine: DialogueEngine, text: str,
                                                   channel: Channel):
    reply = engine.decide(text, channel)
    decision = reply.decision
    assert decision.kind in set(Kind)
    assert all(c.entry_id in engine.kb for c in decision.candidates)
    assert all(option in engine.kb for option in decision.options)
    if decision.kind is Kind.ANSWER:
        assert decision.id in engine.kb
    elif decision.kind is Kind.INTENT:
        assert decision.id in INTENTS
    else:
        assert decision.id is None
    assert all(option in engine.kb for option in decision.options)
    assert isinstance(reply.text, str) and reply.text


@ASYNC
@given(text=texts)
async def test_the_helpline_never_crashes(engine: DialogueEngine, db: Database, text: str):
    helpline = Helpline(engine, db, rate_limit=RateLimit(0))
    number = next(_ids)
    handled = await helpline.handle(InboundMessage(
        Channel.WHATSAPP, "whatsapp:+31600000051", text, provider_id=f"prop-{number}",
        received_at=OFFICE_HOURS))
    decision = handled.decision
    assert decision.id is None or decision.id in engine.kb or decision.id in INTENTS | {
        RATE_LIMITED}
    assert all(m.address == "whatsapp:+31600000051" for m in handled.replies)


_ids = itertools.count()
_plain = Normalizer()
_bot = Bot("123456:TEST-token-for-parsing")


def _update(text: str, chat_type: str, kind: str) -> dict[str, Any]:
    chat = {"id": 600000001, "type": chat_type, "first_name": text[:20]}
    message: dict[str, Any] = {"message_id": 1, "date": 1763719200, "chat": chat,
                               "from": {"id": 600000001, "is_bot": False, "first_name": text}}
    if kind == "callback":
        return {"update_id": 1, "callback_query": {
            "id": "q", "chat_instance": "c", "data": text[:64], "message": message,
            "from": {"id": 600000001, "is_bot": False, "first_name": "T"}}}
    message["caption" if kind == "caption" else "text"] = text
    return {"update_id": 1, "message": message}


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), unicode_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(unicode_text, inner, max_size=4)),
    max_leaves=12,
)


@PURE
@given(text=unicode_text, chat_type=st.sampled_from(["private", "group", "supergroup"]),
       kind=st.sampled_from(["text", "caption", "callback"]))
def test_telegram_parser_takes_any_text(text: str, chat_type: str, kind: str):
    update = parse_update(json.dumps(_update(text, chat_type, kind)).encode(), _bot)
    inbound = inbound_from_update(update)
    if inbound is not None:
        assert inbound.channel is Channel.TELEGRAM and inbound.address == "600000001"
        assert chat_type == "private"


@PURE
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                      st.dictionaries(st.sampled_from(["update_id", "message", "edited_message",
                                                       "callback_query", "my_chat_member"]),
                                      json_values, max_size=4)
                      .map(lambda d: json.dumps({"update_id": 5, **d}).encode())))
def test_telegram_parser_rejects_garbage_cleanly(body: bytes):
    try:
        update = parse_update(body, _bot)
    except web.HTTPBadRequest:
        return
    try:
        inbound_from_update(update)
    except (AttributeError, TypeError) as error:  # a shape python-telegram-bot accepted
        raise AssertionError(f"adapter crashed on {body!r}") from error


form_keys = st.sampled_from(["From", "To", "Body", "MessageSid", "SmsSid", "ProfileName",
                             "NumMedia", "MediaUrl0", "MediaContentType0", "Latitude",
                             "Longitude", "SmsStatus", "MessageStatus"])


@PURE
@given(form=st.dictionaries(form_keys, unicode_text, max_size=10),
       raw=st.binary(max_size=200))
def test_twilio_parser_takes_any_form(form: dict[str, str], raw: bytes):
    from urllib.parse import urlencode

    parsed = parse_form(urlencode(form).encode())
    assert dict(parsed) == form
    is_status_callback(parsed)
    try:
        inbound = inbound_from_form(parsed)
    except BadForm:
        assert not form.get("From", "").strip() or form["From"].strip() == "whatsapp:"
    else:
        assert inbound.address == form["From"].strip()
        assert inbound.text == clean_text(form.get("Body", ""))
    try:
        inbound_from_form(parse_form(raw))
    except BadForm:
        pass
