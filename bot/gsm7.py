"""GSM 03.38 (GSM-7) alphabet: what an SMS can carry cheaply, and how many segments it costs."""

from __future__ import annotations

import unicodedata

BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENDED = set("^{}\\[~]|€\f")

SINGLE_SEGMENT = 160
MULTI_SEGMENT = 153

# Characters people (and word processors) type that GSM-7 lacks, written the way a Dutch
# reader expects. Accented letters not listed fall back to their unaccented form.
_REPLACEMENTS = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "‐": "-", "…": "...", "\u00a0": " ", "\t": " ", "•": "-", "·": "-",
}


def is_gsm7(text: str) -> bool:
    return all(ch in BASIC or ch in EXTENDED for ch in text)


def septets(text: str) -> int:
    return sum(2 if ch in EXTENDED else 1 for ch in text)


def segments(text: str) -> int:
    """Number of SMS segments `text` costs as GSM-7 (it must be GSM-7)."""
    n = septets(text)
    if n <= SINGLE_SEGMENT:
        return 1
    return -(-n // MULTI_SEGMENT)


def to_gsm7(text: str) -> str:
    """Rewrite `text` into GSM-7: ë → e, ï → i, curly quotes straight, emoji dropped."""
    out: list[str] = []
    for ch in text:
        if ch in BASIC or ch in EXTENDED:
            out.append(ch)
            continue
        if ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
        )
        if base and all(c in BASIC for c in base):
            out.append(base)
        # Anything else (emoji, other scripts) has no GSM-7 form and is dropped.
    return "".join(out)


def fit(text: str, max_segments: int) -> str:
    """GSM-7 text of at most `max_segments` segments, cut at a word boundary with an ellipsis."""
    text = to_gsm7(text).strip()
    if segments(text) <= max_segments:
        return text
    budget = (SINGLE_SEGMENT if max_segments == 1 else MULTI_SEGMENT * max_segments) - 3
    cut = text
    while septets(cut) > budget:
        cut = cut[: max(0, len(cut) - max(1, septets(cut) - budget))]
    space = cut.rfind(" ")
    if space > budget // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "..."
