"""The shape every language module fills in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Texts:
    welcome: str
    thanks: str
    menu_intro: str
    menu_outro: str
    empty: str
    too_long: str
    clarify_intro: str
    clarify_outro: str
    clarify_none_label: str
    clarify_again: str
    escalated: str
    escalated_ticket: str
    business_hours_in: str
    business_hours_out: str
    ticket_extra: str
    ticket_still_open: str
    other_language: str
    erase_confirm: str
    erase_done: str
    erase_cancelled: str
    opted_out: str
    opted_in: str
    only_text: str
    feedback_question: str
    feedback_yes: str
    feedback_no: str
    rate_limited: str
    pioneer_answer_prefix: str
    # The pioneers' Telegram group (handlers/pioneer_telegram.py); pioneers read Dutch.
    pioneer_claim_button: str
    pioneer_close_button: str
    pioneer_reply_hint: str
    pioneer_reminder: str
    pioneer_none_open: str
    pioneer_ticket_usage: str
    pioneer_learned: str
    pioneer_learn_usage: str
