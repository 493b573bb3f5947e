"""What the bot itself says, one module per language, so wording can change without code."""

from __future__ import annotations

from bot.messages import Language
from bot.texts import en, nl
from bot.texts.base import Texts

_BY_LANGUAGE: dict[Language, Texts] = {Language.NL: nl.TEXTS, Language.EN: en.TEXTS}


def texts(language: Language) -> Texts:
    return _BY_LANGUAGE[language]


__all__ = ["Texts", "texts"]
