"""Dutch-aware normalisation: what a message means, stripped of how it was typed.

"Wie betaalt de hr van t pand??" and "wie financiert het vastgoed" both become
["financiering", "pand"]: lower case, accents and emoji removed, SMS shorthand expanded,
function words dropped, Dutch stems, and synonyms (data in `bot/lexicon/`) folded onto one
canonical word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import snowballstemmer
import yaml
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein
from wordfreq import iter_wordlist

LEXICON_DIR = Path(__file__).with_name("lexicon")
MAX_PHRASE = 5

_WORD = re.compile(r"[a-z0-9]+")
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_APOSTROPHE = re.compile(r"(?<=[a-z])['’`´](?=[a-z])")
# "VN" in capitals is the United Nations, not the SMS shorthand "vn" (van).
_UN = re.compile(r"\bVN\b")
# "vergunninghouder = statushouder?": between two words, "=" is how a chat writes
# "is the same as".
_EQUALS = re.compile(r"(?<=[^\W\d_])\s*=\s*(?=[^\W\d_])")
# Dutch separable verbs put their particle at the end of the clause: "hoe knip je dat op?"
# is opknippen, "meld ik me aan" aanmelden, "houden jullie ze vast" vasthouden.
_PARTICLES = ("aan", "af", "bij", "door", "in", "los", "mee", "na", "om", "op", "over",
              "samen", "tegen", "terug", "toe", "uit", "vast", "voort", "weg")
_CLAUSE = re.compile(r"[^.?!,;:\n]+")
_CLAUSE_END = re.compile(r"[.?!,;:\n]")
_SEPARATED = re.compile(
    r"\b(?:" + "|".join(_PARTICLES) + r")\s*(?:[.?!,;:\n]|$)", re.IGNORECASE)
_TAIL = max(map(len, _PARTICLES)) + 1  # a particle and the character before it
_PARTICLE_SET = frozenset(_PARTICLES)
# Before an infinitive the particle stands apart too, with "te" or a modal verb between:
# "om me aan te melden" (aanmelden), "of hij iets terug kan doen" (terugdoen).
_MODALS = frozenset(("te", "kan", "kun", "kunt", "kunnen", "wil", "wilt", "willen", "moet",
                     "moeten", "mag", "mogen", "zal", "zullen", "gaat", "gaan"))
# An infinitive ends in -n and has four letters or more; these words do too and follow a
# preposition ("op geen", "op mijn").
_NOT_INFINITIVES = frozenset(("geen", "mijn", "zijn"))


def separated(text: str) -> bool:
    """Whether a clause of `text` ends in a particle (`_SEPARATED` occurs in it). Searched in
    the last few characters of each clause only: on a long message, trying every particle
    at every character took a twentieth of a millisecond, and a message is tokenised whole
    and sentence by sentence."""
    for clause in _CLAUSE_END.split(text):
        tail = clause.rstrip()[-_TAIL:]
        if tail and _SEPARATED.search(tail) is not None:
            return True
    return False


# The language, the intents, the scope and the matcher each look at a message in turn: a few
# entries fold it once for all of them, and keep nothing of earlier messages.
@lru_cache(maxsize=8)
def fold(text: str) -> str:
    """Lower case without accents; emoji and punctuation become spaces."""
    # Each step only where it can change something: most messages are plain ASCII.
    if "VN" in text:
        text = _UN.sub("Verenigde Naties", text)
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
        # "sms'jes", "zo'n": the apostrophe joins, it does not separate.
        text = _APOSTROPHE.sub("", text)
    elif "'" in text or "`" in text:
        text = _APOSTROPHE.sub("", text)
    if "=" in text:
        text = _EQUALS.sub(" hetzelfde als ", text)
    return " ".join(_WORD.findall(text))


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Words Dutch or English writers use at least once per million words (Zipf ≥ 3, the
    `wordfreq` "small" lists), as typed and folded."""
    words = [w for lang in ("nl", "en") for w in iter_wordlist(lang, wordlist="small")]
    return frozenset(words) | frozenset(fold(w) for w in words)


def common_word(word: str) -> bool:
    """Whether `word` (folded) is a word Dutch or English writers commonly use."""
    return word in _common_words()


_DOUBLED = re.compile(r"([aeou])\1([^aeiou])$")
_LONG_BEFORE_VOICED = re.compile(r"(?:aa|ee|oo|uu|ei|ij|ie|ui|ou|eu|oe)[fs]$")
_SHORT_BEFORE_ONE = re.compile(r"(?:^|[^aeiou])[aeiou]([bdfgklmnprst])$")
_VOICED = {"f": "v", "s": "z"}


def _infinitive(word: str) -> str | None:
    """The infinitive of a present-tense verb form Snowball leaves its -t: "regelt" →
    regelen, "woont" → wonen, "betaalt" → betalen, "geeft" → geven, "stopt" → stoppen,
    "vindt" → vinden. Only when that infinitive is a common word, and not where the -t
    belongs to the stem (a vowel before it: "staat", "praat", "bezit"): "recht" and
    "contract" have none and stay as they are."""
    root = word[:-1]
    if root[-1] in "aeiouy":
        return None
    short = _SHORT_BEFORE_ONE.search(root)
    if short and not (len(root) >= 4 and root.endswith(("el", "er", "en"))):
        candidates = [root + short.group(1) + "en"]  # stop → stoppen (start: no "starren")
    else:
        candidates = [_DOUBLED.sub(r"\1\2", root) + "en"]  # woon → wonen, regel → regelen
    if _LONG_BEFORE_VOICED.search(root):
        candidates.insert(0, _DOUBLED.sub(r"\1\2", root[:-1] + _VOICED[root[-1]]) + "en")
    for candidate in candidates:
        if candidate != word and common_word(candidate):
            return candidate
    return None


def has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


@dataclass(frozen=True)
class Lexicon:
    """The language data the normaliser uses; loaded from YAML so it can be edited as content."""

    abbreviations: dict[str, tuple[str, ...]]
    stopwords: frozenset[str]
    synonyms: dict[str, tuple[str, ...]]
    # Stems Snowball gets wrong for this purpose: word (folded) -> the stem it gets instead.
    stems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path = LEXICON_DIR) -> Lexicon:
        abbreviations_raw = yaml.safe_load((directory / "abbreviations.yaml").read_text("utf-8"))
        stop_raw = yaml.safe_load((directory / "stopwords.yaml").read_text("utf-8"))
        synonyms_raw = yaml.safe_load((directory / "synonyms.yaml").read_text("utf-8"))
        abbreviations = {
            fold(str(k)): tuple(fold(str(v)).split()) for k, v in abbreviations_raw.items()
        }
        stopwords = frozenset(fold(w) for words in stop_raw.values() for w in words)
        synonyms = {
            str(canonical): tuple(dict.fromkeys([str(canonical), *map(str, variants)]))
            for canonical, variants in synonyms_raw.items()
        }
        stems_path = directory / "stems.yaml"
        stems_raw = yaml.safe_load(stems_path.read_text("utf-8")) if stems_path.exists() else {}
        stems = {fold(str(k)): str(v) for k, v in (stems_raw or {}).items()}
        return cls(abbreviations, stopwords, synonyms, stems)


class Normalizer:
    """Turns text into the canonical tokens the matcher compares."""

    def __init__(
        self,
        lexicon: Lexicon | None = None,
        vocabulary: frozenset[str] = frozenset(),
        keep: frozenset[str] = frozenset(),
    ) -> None:
        """With a `vocabulary` (the tokens the knowledge base uses), words outside it are
        split into known parts (compounds) or repaired to the nearest known word (typos).
        Words in `keep` are left as they are without being targets of repairs (the words of
        excludes: "mijn zorgverzekeraar" must not attract "zorgverzekring")."""
        self.lexicon = lexicon or Lexicon.load()
        self._stemmer = snowballstemmer.stemmer("dutch")
        self._stem = lru_cache(maxsize=65536)(self._stem_word)
        self.canonical = frozenset(self.lexicon.synonyms)
        self._phrases: dict[tuple[str, ...], str] = {}
        one_word: list[tuple[str, str]] = []  # (variant as written, canonical), for repairs
        for canonical, variants in self.lexicon.synonyms.items():
            for variant in variants:
                written = self._expanded(fold(variant))
                key = tuple(self._stem(w) for w in written)
                if key:
                    self._phrases.setdefault(key, canonical)
                if len(written) == 1:
                    one_word.append((written[0], canonical))
        # Per first word, the lengths of the phrases starting with it, longest first: most
        # words start no phrase and are looked up once.
        starts: dict[str, set[int]] = {}
        for key in self._phrases:
            starts.setdefault(key[0], set()).add(len(key))
        self._starts = {w: tuple(sorted(n, reverse=True)) for w, n in starts.items()}
        self.vocabulary = vocabulary
        self.keep = keep
        # Repairs aim at known tokens and at every spelling of a synonym, stemmed and as
        # written: a typo is made in the word as written ("opgevn" is opgeven, whose stem
        # "opgeef" is further from it than that of opgevangen).
        self._targets: dict[str, str] = {t: t for t in vocabulary}
        if vocabulary:
            for key, canonical in self._phrases.items():
                if len(key) == 1 and canonical in vocabulary:
                    self._targets.setdefault(key[0], canonical)
            for word, canonical in one_word:
                if canonical in vocabulary:
                    self._targets.setdefault(word, canonical)
        # Grouped by first letter: a typo rarely changes it, and it keeps the search small.
        # In alphabetical order: of two targets equally close to a typo the first wins, and
        # that must not depend on how a set happens to iterate in this process (hash seed):
        # every web process answers a message alike.
        self._by_initial: dict[str, list[str]] = {}
        for target in sorted(self._targets):
            self._by_initial.setdefault(target[0], []).append(target)
        self._known = lru_cache(maxsize=16384)(self._unknown_word)
        if vocabulary:
            common_word("thuisgevers")  # loads the word lists now, not on the first message
        self.tokens = lru_cache(maxsize=8192)(self._tokens)  # type: ignore[method-assign]
        # A message's words are wanted twice: for its tokens, and by the matcher for the
        # excludes that are matched as written.
        self.words = lru_cache(maxsize=1024)(self._words)  # type: ignore[method-assign]

    def words(self, text: str) -> tuple[str, ...]:
        """Folded words with SMS shorthand expanded; nothing dropped, nothing stemmed."""
        return self._words(text)

    def _words(self, text: str) -> tuple[str, ...]:
        words = self._clauses(text) if separated(text) else tuple(self._expanded(fold(text)))
        if _PARTICLE_SET.isdisjoint(words):
            return words
        return words + self._infinitives(words)

    def _infinitives(self, words: tuple[str, ...]) -> tuple[str, ...]:
        """The separable verbs whose particle stands apart before the infinitive ("aan te
        melden" → aanmelden, "terug kan doen" → terugdoen), as one word when the lexicon or
        the knowledge base knows it; the words stay as well, like `_clauses` keeps them."""
        joined: list[str] = []
        for i, word in enumerate(words[:-2]):
            if word in _PARTICLE_SET and words[i + 1] in _MODALS:
                verb = words[i + 2]
                if (len(verb) >= 4 and verb.endswith("n") and verb not in _NOT_INFINITIVES
                        and self._single(word + verb) is not None):
                    joined.append(word + verb)
        return tuple(joined)

    def _expanded(self, folded: str) -> list[str]:
        """The words of folded text, SMS shorthand and abbreviations written out."""
        words = folded.split()
        abbreviations = self.lexicon.abbreviations
        if abbreviations.keys().isdisjoint(words):  # most messages: one look, in C
            return words
        out: list[str] = []
        for word in words:
            out.extend(abbreviations.get(word, (word,)))
        return out

    def _clauses(self, text: str) -> tuple[str, ...]:
        """Words clause by clause; after a clause-final particle, the separable verb it
        belongs to as one word ("knip je dat op" → ... op opknip), when that is a word the
        lexicon or the knowledge base knows. The particle stays: phrases like "meld me aan"
        still match as written."""
        out: list[str] = []
        for clause in _CLAUSE.findall(text):
            # Not through `fold`'s small cache: the message's own entry must stay in it.
            words = self._expanded(fold.__wrapped__(clause))
            out.extend(words)
            if len(words) >= 2 and words[-1] in _PARTICLE_SET and not self._ends_phrase(words):
                joined = self._separable(words[-1], words[:-1])
                if joined is not None:
                    out.append(joined)
        return tuple(out)

    def _ends_phrase(self, words: list[str]) -> bool:
        """Whether the clause ends in a phrase of the lexicon ("we werken samen")."""
        stems = [self._stem(w) for w in words[-MAX_PHRASE:]]
        return any(tuple(stems[-size:]) in self._phrases for size in range(2, len(stems) + 1))

    def _separable(self, particle: str, before: list[str]) -> str | None:
        # The finite verb of a main clause comes first ("knip je dat op?") or second ("de
        # vrijwilligers haken af"), function words aside.
        for word in [w for w in before if w not in self.lexicon.stopwords][:2]:
            # "houdt ... vast": the present tense's -t is no part of the verb's stem.
            for verb in (word, word[:-1]) if word.endswith("t") else (word,):
                if self._single(particle + verb) is not None:
                    return particle + verb
        return None

    def stem(self, word: str) -> str:
        return str(self._stem(word))

    def _stem_word(self, word: str) -> str:
        """Snowball's Dutch stem, with the "ge" it drops from the front or the middle of a
        word put back. Snowball treats it as the prefix of a past participle ("gebruikt" →
        bruik), but it drops it from many words that are no participle at all, and they
        then meet words of another meaning: "gewoon" met wonen, "gezin" zin, "gelijk" lijkt,
        "gemeente" meen, "begeleiding" beleid. With the "ge" kept each stays apart, and a
        participle still meets its other forms: gebruikt and gebruiken are both gebruik."""
        override = self.lexicon.stems.get(word)
        if override is not None:
            return override
        stem = str(self._stemmer.stemWord(word))
        if stem.endswith("t") and len(word) >= 5:
            infinitive = _infinitive(word)
            if infinitive is not None:
                return self._stem(infinitive)
        at = word.find("ge")
        while at != -1:
            rest = stem[at:]
            if (rest and stem.startswith(word[:at]) and not rest.startswith("ge")
                    and word[at + 2:].startswith(rest)):
                return stem[:at] + "ge" + rest
            at = word.find("ge", at + 1)
        return stem

    @staticmethod
    def names(text: str) -> frozenset[str]:
        """Folded words written with a capital inside a sentence: names of people and places
        ("ik ben Gerda uit Wilsum"), which say nothing about the topic."""
        found: list[str] = []
        raws = text.split()
        # Only a word with a capital can be a name: most words are looked at once, in C.
        for k in [k for k, raw in enumerate(raws) if k and not raw.islower()]:
            before = raws[k - 1]
            if before.endswith((".", "!", "?", ":")) or before in {"-", "–"}:
                continue  # the first word of a sentence
            core = raws[k].strip("\"'‘’“”()[],;:!?.")
            if len(core) > 1 and core[0].isupper() and core[1:].islower():
                found.append(core)
        # Folded together, once: word by word they would also push the message itself out
        # of `fold`'s small cache.
        return frozenset(fold(" ".join(found)).split()) if found else frozenset()

    def _tokens(self, text: str) -> tuple[str, ...]:
        words = self.words(text)
        names: frozenset[str] | None = None  # found when a word is unknown, not before
        stems = [self._stem(w) for w in words]
        out: list[str] = []
        i = 0
        while i < len(words):
            for size in self._starts.get(stems[i], ()):
                if i + size > len(words):
                    continue
                canonical = self._phrases.get(tuple(stems[i : i + size]))
                if canonical is not None:
                    out.append(canonical)
                    i += size
                    break
            else:
                if words[i] not in self.lexicon.stopwords and len(words[i]) > 1:
                    # A word with its own stem (stems.yaml) is a word as it is: never split
                    # or repaired into knowledge-base words ("voorraad" is no voor + raad).
                    if (self.vocabulary and stems[i] not in self.vocabulary
                            and stems[i] not in self.keep and words[i] not in self.lexicon.stems):
                        if names is None:
                            names = self.names(text)
                        if words[i] not in names:
                            out.extend(self._known(words[i], stems[i]))
                    else:
                        out.append(stems[i])
                i += 1
        return tuple(out)

    def _single(self, word: str) -> str | None:
        """The known token of one word, if it has one without repair."""
        stem = self._stem(word)
        canonical = self._phrases.get((stem,))
        if canonical is not None:
            return canonical
        return stem if stem in self.vocabulary else None

    def _repair(self, stem: str, cutoff: float) -> str | None:
        found = process.extractOne(
            stem, self._by_initial.get(stem[0], ()), scorer=fuzz.ratio, score_cutoff=cutoff
        )
        return self._targets[found[0]] if found is not None else None

    def _unknown_word(self, word: str, stem: str) -> tuple[str, ...]:
        # A word Dutch or English writers commonly use is no typo, whatever knowledge-base
        # word it resembles: "energie" is not "enter", "lunch" is not "launch".
        real = common_word(word)
        # A near-certain typo first ("vluchtelingewerk"), so that it is not split as a compound.
        if len(stem) >= 8 and not real:
            close = self._repair(stem, 92)
            if close is not None:
                return (close,)
        # Compound: "huisvestingsregeling" = huisvesting(s) + regeling.
        if len(word) >= 8:
            for cut in range(len(word) - 4, 3, -1):
                head, tail = word[:cut], word[cut:]
                right = self._single(tail)
                if right is None:
                    continue
                for left_word in (head, head[:-1] if head[-1] in "se" else None):
                    left = self._single(left_word) if left_word and len(left_word) >= 3 else None
                    if left is not None:
                        return (left, right)
        if real:  # split if a compound, never repaired
            return (stem,)
        # Typo: "hervestegers" → hervestiger. Short words are left alone: too many neighbours.
        if len(stem) >= 5:
            cutoff = 80 if len(stem) <= 6 else 84
            repaired = self._repair(stem, cutoff)
            if repaired is not None:
                return (repaired,)
        # A short word only when one known word is a single slip away ("bddy" → buddy).
        elif len(stem) >= 3:
            found = {self._targets[t] for t, _, _ in process.extract(
                stem, self._by_initial.get(stem[0], ()), scorer=DamerauLevenshtein.distance,
                score_cutoff=1, limit=None) if len(t) >= 4}
            if len(found) == 1:
                return (found.pop(),)
        return (stem,)

    def normalize(self, text: str) -> str:
        """The canonical tokens as one string, for display and for string-level fuzzy scores."""
        return " ".join(self.tokens(text))
