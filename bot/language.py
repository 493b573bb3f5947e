"""Which language a message is in: Dutch, English, or something else.

Counting function words is crude but fast and predictable, and the helpline only needs
to tell Dutch from English and notice when a message is neither.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.normalize import fold

_OTHER_SCRIPT = re.compile(r"[^\x00-\x7f\u00c0-\u024f]")


class Detected(StrEnum):
    NL = "nl"
    EN = "en"
    OTHER = "other"
    UNKNOWN = "unknown"


_NL = frozenset("""de het een wat hoe ik je jij wij ons onze kan kun kunt van voor met mijn jullie
zijn niet geen dat die er op te ook nog wel bij naar hallo hoi dank bedankt graag moet wil u uw
hebben heeft wordt worden waar wie waarom welke eigenlijk goedemorgen goedemiddag goedenavond
dankjewel alstublieft maar als dan om uit over deze dit zo mag hier daar nu al even ff gem wt
t n vd mss ivm bv hoeveel hoelang wanneer iemand krijgen krijgt gaat kunnen zou zouden""".split())
_EN = frozenset("""the what how i you our can could would should do does there a to for with my
your please thanks thank hello hi who where which are about any this that it have has of and
will be been their they them is am im dont cant need want like help housing refugees church
municipality volunteer volunteers""".split())
_OTHER = frozenset("""ich und nicht ist das der ein eine wir sie bitte danke wohnung je suis
le la les est vous pour avec une des merci bonjour nous el los las por para usted gracias hola
como que""".split()) - _NL - _EN


def detect(text: str) -> Detected:
    letters = sum(map(str.isalpha, text))
    if not letters:
        return Detected.UNKNOWN
    # Letters of other scripts (Arabic, Cyrillic, Tigrinya...): neither ASCII nor Latin-1/
    # Latin Extended.
    foreign = sum(map(str.isalpha, _OTHER_SCRIPT.findall(text)))
    if letters - foreign < letters / 2:
        return Detected.OTHER
    words = fold(text).split()
    nl = sum(w in _NL for w in words)
    en = sum(w in _EN for w in words)
    other = sum(w in _OTHER for w in words)
    if other >= 2 and other > nl and other > en:
        return Detected.OTHER
    if en > nl:
        return Detected.EN
    if nl > 0:
        return Detected.NL
    return Detected.UNKNOWN
