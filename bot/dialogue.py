"""The dialogue engine: one inbound message and the conversation's state in, replies out.

It knows no channel provider and no database: tickets go through the `TicketQueue` port,
and what must happen to stored data (opt-out, erasure) comes back as `Effect`s for the
caller to carry out. Stateless decisions (`decide`) serve `ask` and `eval`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml

from bot.anyof import AnyOf
from bot.conversation import Conversation, State
from bot.decision import (
    Decision,
    Kind,
    Thresholds,
    asks_beyond_a_greeting,
    decide,
    outweighs_cue,
)
from bot.formatting import answer_text, for_channel
from bot.hours import BusinessHours
from bot.intents import IntentMatch, Intents
from bot.knowledge import KnowledgeBase
from bot.language import Detected, detect
from bot.matcher import Matcher, entries
from bot.messages import Audience, Channel, Choice, InboundMessage, Language, OutboundMessage
from bot.normalize import LEXICON_DIR, fold, has_letters
from bot.ports import EscalationRequest, TicketQueue
from bot.scope import Scope
from bot.texts import texts

MAX_MATCHED = 4000
WEAK_INTENT_MAX_WORDS = 25
FEEDBACK_CHANNELS = frozenset({Channel.TELEGRAM, Channel.WHATSAPP})

_ReplyFn = Callable[..., OutboundMessage]


class Effect(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    ERASE = "erase"


@dataclass(frozen=True, slots=True)
class Reply:
    """A decision with the text that goes with it (what `ask --json` prints)."""

    decision: Decision
    text: str
    language: Language
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Turn:
    replies: tuple[OutboundMessage, ...]
    conversation: Conversation
    decision: Decision
    effects: frozenset[Effect] = field(default_factory=frozenset)
    ticket_number: int | None = None


class _Followups:
    """Short replies in the middle of a conversation (`followup` in intents.yaml), each kind a
    check on the folded reply: `is_negative` anywhere in it, the others the whole reply."""

    def __init__(self, path: Path = LEXICON_DIR / "intents.yaml") -> None:
        data = yaml.safe_load(path.read_text("utf-8"))["followup"]
        self.is_negative = AnyOf(data["negative"])
        self.is_yes = AnyOf((), whole=data["yes"])
        self.is_no = AnyOf((), whole=data["no"])
        self.is_neither = AnyOf((), whole=data["neither"])


_CHOICE = re.compile(r"^(?:optie |nummer |nr |keuze |option |number )?([1-9])(?:e|ste|de)?$")
_ORDINALS = {"eerste": 1, "de eerste": 1, "first": 1, "tweede": 2, "de tweede": 2,
             "second": 2, "derde": 3, "de derde": 3, "third": 3}


def _choice_number(folded: str) -> int | None:
    found = _CHOICE.match(folded)
    if found:
        return int(found.group(1))
    return _ORDINALS.get(folded)


class DialogueEngine:
    """Decides what to say; see `bot.conversation` for the states it moves through."""

    def __init__(
        self,
        kb: KnowledgeBase,
        matcher: Matcher | None = None,
        intents: Intents | None = None,
        thresholds: Thresholds = Thresholds(),
        hours: BusinessHours = BusinessHours(),
    ) -> None:
        self.kb = kb
        self.matcher = matcher or Matcher(kb)
        self.intents = intents or Intents()
        self.scope = Scope()
        self.thresholds = thresholds
        self.hours = hours
        self._followups = _Followups()

    # ---- stateless -------------------------------------------------------------------

    def decide(
        self,
        text: str,
        channel: Channel = Channel.WEB,
        language: Language | None = None,
        audience: Audience | None = None,
    ) -> Reply:
        """What the bot would answer to `text` as a first message (no conversation)."""
        audience = audience or self.intents.audience(text) or Audience.default_for(channel)
        stripped = text.strip()
        detected = detect(stripped)
        lang = language or (Language.EN if detected is Detected.EN else Language.NL)
        t = texts(lang)
        if not stripped:
            return Reply(Decision(Kind.INTENT, "menu"), t.empty, lang)
        if not has_letters(stripped) and not any(ch.isdigit() for ch in stripped):
            return Reply(Decision(Kind.INTENT, "menu"), self.menu(lang, channel), lang)
        truncated = len(stripped) > MAX_MATCHED
        considered = stripped[:MAX_MATCHED]
        cue = self.scope.cue(considered)
        # An emergency before any intent: "HELP ze reageert niet" is no menu.
        if cue is not None and cue.reason == "emergency":
            return Reply(Decision(Kind.ESCALATE), t.escalated, lang, truncated)
        intent = self._intent(considered)
        # Spam that opens with a greeting ("Hi dear, crypto advisor here") is no greeting;
        # a request to stop or to be forgotten is honoured whatever else the message holds.
        if intent is not None and not (intent.standalone and cue is not None
                                       and cue.reason == "spam"):
            return Reply(
                Decision(Kind.INTENT, intent.id, score=100.0),
                self._intent_text(intent.id, lang, channel),
                lang,
                truncated,
            )
        if detected is Detected.OTHER:
            return Reply(Decision(Kind.ESCALATE), t.other_language, Language.NL, truncated)
        ranked = self.matcher.rank(considered)
        if cue is not None and not (cue.about_subject and ranked and (
                self.matcher.uses(ranked[0].entry_id, cue.words)
                or (cue.outweighable and outweighs_cue(ranked, self.thresholds)))):
            candidates = entries(ranked)
            return Reply(Decision(Kind.ESCALATE, candidates=candidates), t.escalated, lang,
                         truncated)
        decision = decide(ranked, self.thresholds)
        return Reply(decision, self._decision_text(decision, lang, audience, channel), lang,
                     truncated)

    def _intent(self, text: str) -> IntentMatch | None:
        found = self.intents.detect(text)
        if found is None or not found.standalone:
            return found
        # A greeting or a thank-you before a real question is not what needs answering.
        if "?" in text or len(text.split()) > WEAK_INTENT_MAX_WORDS:
            return None
        if asks_beyond_a_greeting(decide(self.matcher.rank(text), self.thresholds),
                                  self.thresholds):
            return None
        return found

    def menu(self, language: Language, channel: Channel) -> str:
        t = texts(language)
        if channel is Channel.SMS:
            titles = ", ".join(e.label(language) for e in self.kb)
            return f"{t.menu_intro} {titles}."
        lines = [t.menu_intro, *(f"- {e.label(language)}" for e in self.kb), "", t.menu_outro]
        return "\n".join(lines)

    def _intent_text(self, intent_id: str, language: Language, channel: Channel) -> str:
        t = texts(language)
        return {
            "groet": t.welcome,
            "bedankt": t.thanks,
            "menu": self.menu(language, channel),
            "mens": t.escalated,
            "vergeet": t.erase_confirm,
            "stop": t.opted_out,
            "start": t.opted_in,
        }[intent_id]

    def _decision_text(
        self, decision: Decision, language: Language, audience: Audience, channel: Channel
    ) -> str:
        t = texts(language)
        if decision.kind is Kind.ANSWER and decision.id:
            return answer_text(self.kb.get(decision.id), channel, language, audience)
        if decision.kind is Kind.CLARIFY:
            return self._clarify_text(decision.options, language, channel)
        return t.escalated

    def _clarify_text(self, options: tuple[str, ...], language: Language, channel: Channel) -> str:
        t = texts(language)
        labels = [f"{i}) {self.kb.get(o).label(language)}" for i, o in enumerate(options, 1)]
        if channel is Channel.SMS:
            return f"{t.clarify_intro} {' '.join(labels)}? {t.clarify_outro}"
        return "\n".join([f"{t.clarify_intro}:", *labels, t.clarify_outro])

    # ---- in a conversation -----------------------------------------------------------

    async def handle(
        self, message: InboundMessage, conversation: Conversation, tickets: TicketQueue
    ) -> Turn:
        text = message.text.strip()
        folded = fold(text)
        conv = conversation
        lang = conv.language

        def reply(body: str, lang: Language = lang, choices: tuple[Choice, ...] = (),
                  ticket: int | None = None) -> OutboundMessage:
            return OutboundMessage(message.channel, message.address,
                                   for_channel(body, message.channel), choices, ticket)

        if not text and message.media:
            d = Decision(Kind.INTENT, "menu")
            return Turn((reply(texts(lang).only_text),), conv, d)

        detected = detect(text)
        if detected is Detected.EN:
            lang = Language.EN
        elif detected is Detected.NL:
            lang = Language.NL
        audience = self.intents.audience(text) or conv.audience
        conv = Conversation(conv.state, lang, audience, conv.options, conv.last_entry_id,
                            conv.last_question, conv.ticket_number)
        t = texts(lang)

        # Answers that only mean something in the state we are in.
        if conv.state is State.CONFIRMING_ERASE:
            if self._followups.is_yes(folded):
                return Turn((reply(t.erase_done),), Conversation(language=lang, audience=audience),
                            Decision(Kind.INTENT, "vergeet", score=100.0),
                            frozenset({Effect.ERASE}))
            if self._followups.is_no(folded):
                back = State.WITH_PIONEER if conv.ticket_number else State.IDLE
                return Turn((reply(t.erase_cancelled),), conv.to(back),
                            Decision(Kind.INTENT, "vergeet", score=100.0))
            conv = conv.to(State.WITH_PIONEER if conv.ticket_number else State.IDLE)

        intent = self._intent(text[:MAX_MATCHED]) if text else None
        if intent is not None and intent.id in {"stop", "start", "vergeet"}:
            d = Decision(Kind.INTENT, intent.id, score=100.0)
            if intent.id == "vergeet":
                return Turn((reply(t.erase_confirm),), conv.to(State.CONFIRMING_ERASE), d)
            effect = Effect.OPT_OUT if intent.id == "stop" else Effect.OPT_IN
            body = t.opted_out if intent.id == "stop" else t.opted_in
            return Turn((reply(body),), conv, d, frozenset({effect}))

        if conv.state is State.WITH_PIONEER and conv.ticket_number is not None:
            return await self._with_pioneer(message, conv, intent, tickets, reply)

        if conv.state is State.CLARIFYING and conv.options:
            picked = _choice_number(folded)
            if picked is not None and 1 <= picked <= len(conv.options):
                return self._answer(conv.options[picked - 1], message, conv, reply)
            if self._followups.is_neither(folded) or picked == 0:
                return await self._escalate(message, conv.last_question or text, conv,
                                            "geen van beide", tickets, reply)
            if picked is not None:
                choices = " of ".join(str(i) for i in range(1, len(conv.options) + 1))
                return Turn((reply(t.clarify_again.format(choices=choices),
                                   choices=self._choices(conv.options, lang)),),
                            conv, Decision(Kind.CLARIFY, options=conv.options))
            conv = conv.to(State.IDLE, options=())

        if conv.state is State.AWAITING_FEEDBACK:
            if self._followups.is_yes(folded):
                return Turn((reply(t.feedback_yes),), conv.to(State.IDLE),
                            Decision(Kind.INTENT, "bedankt", score=100.0))
            if self._followups.is_no(folded) or self._followups.is_negative(folded):
                return await self._escalate(message, conv.last_question or text, conv,
                                            "antwoord hielp niet", tickets, reply,
                                            prefix=t.feedback_no)
            conv = conv.to(State.IDLE)

        if conv.last_entry_id and self._followups.is_negative(folded):
            return await self._escalate(message, conv.last_question or text, conv,
                                        "antwoord hielp niet", tickets, reply)

        if not text:
            return Turn((reply(t.empty),), conv, Decision(Kind.INTENT, "menu"))

        decided = self.decide(text, message.channel, lang, audience)
        d = decided.decision
        prefix = (t.too_long + "\n\n") if decided.truncated else ""
        if d.kind is Kind.INTENT and d.id == "mens":
            return await self._escalate(message, conv.last_question or text, conv, "mens",
                                        tickets, reply, decision=d)
        if d.kind is Kind.INTENT:
            return Turn((reply(prefix + decided.text),), conv.to(State.IDLE, options=()), d)
        if d.kind is Kind.ANSWER and d.id:
            turn = self._answer(d.id, message, conv.to(State.IDLE, last_question=text), reply,
                                prefix=prefix)
            return Turn(turn.replies, turn.conversation, d)
        if d.kind is Kind.CLARIFY:
            body = prefix + self._clarify_text(d.options, lang, message.channel)
            nxt = conv.to(State.CLARIFYING, options=d.options, last_question=text)
            return Turn((reply(body, choices=self._choices(d.options, lang)),), nxt, d)
        reason = "andere taal" if detect(text) is Detected.OTHER else "geen zeker antwoord"
        note = t.other_language if reason == "andere taal" else prefix.strip()
        return await self._escalate(message, text, conv, reason, tickets, reply, decision=d,
                                    prefix=note)

    def _choices(self, options: tuple[str, ...], language: Language) -> tuple[Choice, ...]:
        t = texts(language)
        buttons = [Choice(f"{i}) {self.kb.get(o).label(language)}", str(i))
                   for i, o in enumerate(options, 1)]
        return (*buttons, Choice(t.clarify_none_label, "0"))

    def _answer(self, entry_id: str, message: InboundMessage, conv: Conversation,
                reply: _ReplyFn, prefix: str = "") -> Turn:
        t = texts(conv.language)
        body = prefix + answer_text(self.kb.get(entry_id), message.channel, conv.language,
                                    conv.audience)
        d = Decision(Kind.ANSWER, entry_id, score=100.0)
        if message.channel in FEEDBACK_CHANNELS:
            yes, no = ("ja", "nee") if conv.language is Language.NL else ("yes", "no")
            out = reply(f"{body}\n\n{t.feedback_question}",
                        choices=(Choice(yes.capitalize(), yes), Choice(no.capitalize(), no)))
            nxt = conv.to(State.AWAITING_FEEDBACK, options=(), last_entry_id=entry_id)
        else:
            out = reply(body)
            nxt = conv.to(State.IDLE, options=(), last_entry_id=entry_id)
        return Turn((out,), nxt, d)

    async def _escalate(
        self, message: InboundMessage, question: str, conv: Conversation, reason: str,
        tickets: TicketQueue, reply: _ReplyFn, decision: Decision | None = None,
        prefix: str = "",
    ) -> Turn:
        t = texts(conv.language)
        candidates = decision.candidates if decision else entries(self.matcher.rank(question))
        if conv.last_question and question != message.text.strip() and message.text.strip():
            question = f"{question}\n(later: {message.text.strip()})"
        number = await tickets.open(EscalationRequest(
            channel=message.channel, address=message.address, display_name=message.display_name,
            question=question, language=conv.language, audience=conv.audience,
            candidates=tuple(candidates), reason=reason,
        ))
        hours = (t.business_hours_in if self.hours.is_open(message.received_at)
                 else t.business_hours_out).format(start=self.hours.start, end=self.hours.end)
        body = t.escalated_ticket.format(ticket=number) + " " + hours
        if prefix:
            body = prefix + "\n\n" + body
        d = decision or Decision(Kind.ESCALATE)
        nxt = conv.to(State.WITH_PIONEER, options=(), ticket_number=number, last_question=question)
        return Turn((reply(body, ticket=number),), nxt, d, ticket_number=number)

    async def _with_pioneer(self, message: InboundMessage, conv: Conversation,
                            intent: IntentMatch | None, tickets: TicketQueue,
                            reply: _ReplyFn) -> Turn:
        t = texts(conv.language)
        number = conv.ticket_number
        assert number is not None
        if intent is not None and intent.id in {"groet", "bedankt"}:
            body = t.thanks if intent.id == "bedankt" else t.ticket_still_open.format(ticket=number)
            return Turn((reply(body),), conv, Decision(Kind.INTENT, intent.id, score=100.0))
        if message.text.strip():
            await tickets.add(number, message.text.strip())
        body = t.ticket_extra.format(ticket=number)
        return Turn((reply(body, ticket=number),), conv, Decision(Kind.ESCALATE),
                    ticket_number=number)

