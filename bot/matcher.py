"""Ranks knowledge-base entries for a question.

The score of an entry (0–100) blends three signals, all over canonical tokens:
- how well the best single phrasing matches (rapidfuzz over the token strings, and an
  IDF-weighted overlap that lets informative words count more than common ones);
- how much of the question's information the entry's whole vocabulary explains;
- whether one of its distinctive keywords occurs.
An entry whose `requires` groups are not all met, or one of whose `excludes` occurs, keeps
only a fraction of its score: that is what turns "een buddy voor mijn hond" away from the
buddy entries, while a long message that mentions such a word in passing can still be
answered. Each candidate also carries a second opinion, `support`: the probability of the
entry given the message's letters and words, from a logistic regression trained on the
phrasings (`bot.classifier`; in a base of more than `classifier.MAX_LABELS` entries, which
it cannot learn in seconds, naive Bayes over the words); and a third, `lexical`: how a
plain word search (BM25 over the words as written, `bot.lexical`) ranks the entry against
the best one.
Unknown words are repaired against the vocabulary (typos) or split into known parts
(compounds) by the normaliser. What to do with the ranking is `bot.decision`'s business.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from rapidfuzz import fuzz, process

from bot.classifier import MAX_LABELS, Classifier, trained
from bot.frame import Frame
from bot.knowledge import KnowledgeBase
from bot.lexical import Lexical
from bot.normalize import LEXICON_DIR, Normalizer

_SENTENCE = re.compile(r"(?<=[.?!])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Candidate:
    entry_id: str
    score: float
    # A second, independent opinion: the classifier's probability of the entry given the
    # message as written (`bot.classifier`, or naive Bayes in a very large base; 0-1;
    # None: no opinion). `bot.decision` answers with less margin when it agrees, and not
    # at all when it strongly disagrees.
    support: float | None = None
    # Not an entry but a kind of question the knowledge base does not answer
    # (`bot/lexicon/beyond.yaml`): when it ranks first, a pioneer answers.
    beyond: bool = False
    # A third opinion, from the words as written (`bot.lexical`): the entry's BM25 score as
    # a share of the best entry's (0-1; None: no entry shares a word with the message, or
    # a kind beyond the knowledge base).
    lexical: float | None = None


@dataclass(frozen=True, slots=True)
class Weights:
    """How the signals blend into one score; tuned on the odd half of the dev set."""

    phrase: float = 0.40
    fuzzy: float = 0.15
    coverage: float = 0.30
    keyword: float = 0.15
    # Naive Bayes over the phrasings (`support` in a base too large for the classifier):
    # additive smoothing.
    bayes_smoothing: float = 0.5
    unknown_word: float = 0.7  # weight of a word the knowledge base never uses, relative to max idf
    # A question much of whose information the knowledge base has never seen ("mag een buddy
    # geld lenen", "een vacature") is probably about something else: its scores shrink by
    # this share of the unknown part.
    unknown_penalty: float = 0.8
    # A sentence on its own only counts when it carries this much known information (summed
    # idf): "ik ben Gerda van de diaconie in Wilsum" (kerk, gemeente) says nothing about the
    # topic, however well its two common words fit some entry.
    sentence_information: float = 2.0
    # An entry whose `excludes` occur, or whose `requires` are not all met, is not ruled out
    # but its score is multiplied by these: a near-miss ("een buddy voor mijn hond") still
    # falls far below the answer threshold, while a long message that mentions an excluded
    # word in passing can still be answered when everything else points to the entry.
    excluded: float = 0.0
    unmet: float = 0.5


@dataclass(frozen=True, slots=True)
class _Terms:
    """A set of terms, split for speed: one-word terms as one set, longer ones apart."""

    single: frozenset[str]
    multi: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, terms: tuple[frozenset[str], ...]) -> _Terms:
        single = frozenset(next(iter(t)) for t in terms if len(t) == 1)
        return cls(single, tuple(t for t in terms if len(t) > 1))


@dataclass(frozen=True, slots=True)
class _Indexed:
    id: str
    phrasings: tuple[frozenset[str], ...]
    vocabulary: frozenset[str]
    keywords: _Terms
    requires: tuple[_Terms, ...]
    excludes: _Terms


BEYOND = "buiten:"  # id prefix of the kinds of questions the knowledge base does not answer
# Up to this many phrasings, the phrasing scores come from per-token postings over all of
# them; beyond it, from the shortlisted entries' own phrasings only (benchmarks/kb_scaling.py).
SMALL_BASE_PHRASINGS = 20_000
HEAD_MIN = 4  # the shortest compound head (`Matcher.heads`) that meets a required concept
# Scores are rounded to 0.1: one this little below the least of the best may round up to tie
# it, so the ranking's pruning (`Matcher._rank`) keeps it.
_ROUNDING = 0.05


def entries(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """The candidates that are entries, without the kinds beyond the knowledge base."""
    return tuple(c for c in candidates if not c.beyond)


class _Best:
    """The best score of each entry (and kind beyond the knowledge base) scored for a message
    so far, and how high a score must be to matter (`least`): that of the `limit`-th best
    entry. Only entries count towards `limit`: kinds must not crowd the entries out of the
    candidates, only rank above them."""

    __slots__ = ("_ascending", "best", "limit")

    def __init__(self, limit: int) -> None:
        self.best: dict[str, float] = {}
        self.limit = limit
        self._ascending: list[float] = []  # the entries' values of `best`, ascending

    def least(self) -> float:
        """The lowest of the `limit` best entries' scores; 0 until `limit` entries are scored
        (every score is at least 0, and one that ties the least may still enter)."""
        return self._ascending[-self.limit] if len(self._ascending) >= self.limit else 0.0

    def offer(self, entry_id: str, score: float) -> None:
        old = self.best.get(entry_id)
        if old is not None and score <= old:
            return
        self.best[entry_id] = score
        if entry_id.startswith(BEYOND):
            return
        if old is not None:
            del self._ascending[bisect.bisect_left(self._ascending, old)]
        bisect.insort(self._ascending, score)

    def top(self) -> list[tuple[str, float]]:
        """The `limit` best entries and the kinds that score at least the last of them, best
        first; ties go to the first id, whichever part of the message scored them first."""
        least = self.least()
        ranked = sorted(self.best.items(), key=lambda kv: (-kv[1], kv[0]))
        out: list[tuple[str, float]] = []
        entries = 0
        for entry_id, score in ranked:
            if entry_id.startswith(BEYOND):
                if score >= least:
                    out.append((entry_id, score))
            elif entries < self.limit:
                out.append((entry_id, score))
                entries += 1
        return out


_Multi = dict[str, list[tuple[int, frozenset[str]]]]
_Weighed = tuple[np.ndarray, np.ndarray]  # rows (entries or phrasings) and their weights


def _by_word(terms: Sequence[_Terms]) -> tuple[dict[str, np.ndarray], _Multi]:
    """Per entry's terms, an index by word: one-word terms as arrays of entries, longer ones
    filed under one of their words (to be checked in full)."""
    single: dict[str, list[int]] = {}
    multi: _Multi = {}
    for i, item in enumerate(terms):
        for word in item.single:
            single.setdefault(word, []).append(i)
        for words in item.multi:
            multi.setdefault(min(words), []).append((i, words))
    return {w: np.asarray(v, dtype=np.int32) for w, v in single.items()}, multi


def load_beyond(path: Path = LEXICON_DIR / "beyond.yaml") -> dict[str, tuple[str, ...]]:
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    return {str(name): tuple(str(q) for q in examples) for name, examples in data.items()}


class Matcher:
    """Candidates for a question, best first, with scores."""

    def __init__(
        self,
        kb: KnowledgeBase,
        normalizer: Normalizer | None = None,
        weights: Weights = Weights(),
        shortlist: int = 40,
        beyond: Mapping[str, Sequence[str]] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        """`beyond`: example questions per kind the knowledge base does not answer, ranked
        like entries (default: `bot/lexicon/beyond.yaml`; empty: none). `cache_dir`: where
        the trained classifier is kept between runs (`bot.classifier.trained`)."""
        base = normalizer or Normalizer()
        self.frame = Frame()
        self.weights = weights
        self.kb = kb

        def toks(text: str) -> frozenset[str]:
            return frozenset(base.tokens(text))

        indexed: list[_Indexed] = []
        phrases: dict[str, list[int]] = {}  # excludes matched as written, with their entries
        # What the classifier learns from: each entry's titles and phrasings, each kind's
        # examples, as written.
        texts: list[str] = []
        labels: list[str] = []
        frequency: list[Counter[str]] = []  # per entry, in how many phrasings/keywords a token is
        self.ignored_excludes: list[tuple[str, str]] = []
        for entry in kb:
            phrasings = tuple(p for p in (toks(q) for q in (entry.title, *entry.questions)) if p)
            keywords = tuple(k for k in map(toks, entry.keywords) if k)
            vocabulary = frozenset().union(*phrasings, *keywords)
            frequency.append(Counter(t for p in (*phrasings, *keywords) for t in p))
            for text in (entry.title, entry.title_en or "", *entry.questions):
                texts.append(text)
                labels.append(entry.id)
            excludes: list[frozenset[str]] = []
            for term in entry.excludes:
                words = base.words(term)
                if len(words) > 1 and any(w in base.lexicon.stopwords for w in words):
                    # "per persoon", "als vrijwilliger", "jullie ondersteuning": without their
                    # function words these would be "persoon", "vrijwilliger", "ondersteuning"
                    # and turn away any message using them; they occur as written or not.
                    phrases.setdefault(" ".join(words), []).append(len(indexed))
                    continue
                tokens = toks(term)
                # After normalisation an exclude can shrink to words the entry's own
                # phrasings use ("mijn zorgverzekeraar" → zorgverzekering); it would then
                # turn away the very questions the entry is for, so it does not count.
                if not tokens or any(tokens <= p for p in phrasings):
                    self.ignored_excludes.append((entry.id, term))
                    continue
                excludes.append(tokens)
            indexed.append(_Indexed(
                id=entry.id,
                phrasings=phrasings,
                vocabulary=vocabulary,
                keywords=_Terms.of(keywords),
                requires=tuple(_Terms.of(tuple(t for t in map(toks, group) if t))
                               for group in entry.requires),
                excludes=_Terms.of(tuple(excludes)),
            ))
        real = len(indexed)
        for name, examples in (load_beyond() if beyond is None else beyond).items():
            phrasings = tuple(p for p in map(toks, examples) if p)
            frequency.append(Counter(t for p in phrasings for t in p))
            texts.extend(examples)
            labels.extend([f"{BEYOND}{name}"] * len(examples))
            indexed.append(_Indexed(
                id=f"{BEYOND}{name}", phrasings=phrasings,
                vocabulary=frozenset().union(*phrasings), keywords=_Terms.of(()),
                requires=(), excludes=_Terms.of(()),
            ))
        self._entries = indexed
        self._index = {item.id: i for i, item in enumerate(indexed)}
        # Excludes and keywords by word, so the entries a message rules out or names are
        # found from the message's words, whatever the size of the knowledge base.
        self._excluded_single, self._excluded_multi = _by_word([e.excludes for e in indexed])
        self._excluded_phrases = {f" {p} ": np.asarray(v, dtype=np.int32)
                                  for p, v in phrases.items()}
        self._keyword_single, self._keyword_multi = _by_word([e.keywords for e in indexed])
        # Required concepts likewise, group by group: an entry is eligible in full when each
        # of its groups has a word in the message (`eligibility`).
        groups = [(i, group) for i, item in enumerate(indexed) for group in item.requires]
        self._required_single, self._required_multi = _by_word([g for _, g in groups])
        self._group_owner = np.asarray([i for i, _ in groups], dtype=np.int32)
        self._groups_needed = np.bincount(self._group_owner, minlength=len(indexed))
        self._concept_words = frozenset().union(*(g.single.union(*g.multi) for _, g in groups))
        self._concepts = lru_cache(maxsize=16384)(self._concepts_of)

        vocabulary = frozenset().union(*(e.vocabulary for e in indexed))
        for item in indexed:
            for group in item.requires:
                vocabulary |= group.single.union(*group.multi)
        # The words of excludes are kept as they are: otherwise a message's "kerkdienst"
        # would be split (kerk + dienst) or "aankoop" repaired to a word the knowledge base
        # uses, and the exclude would never occur.
        keep = frozenset().union(*(e.excludes.single.union(*e.excludes.multi) for e in indexed))
        self.normalizer = Normalizer(base.lexicon, vocabulary=vocabulary, keep=keep - vocabulary)
        self.lexical = Lexical([(e.title, *e.questions, *e.keywords) for e in kb],
                               self.normalizer.words)

        # Word weights come from the entries alone; a word only the `beyond` examples use
        # weighs as a word of one entry, and counts as unknown to the knowledge base when
        # judging how much of a question it understands (`damping`).
        df: Counter[str] = Counter()
        for item in indexed[:real]:
            df.update(item.vocabulary)
        n = max(1, real)
        self._idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        self._unknown = weights.unknown_word * max(self._idf.values(), default=1.0)
        self._understood = frozenset(self._idf)
        for item in indexed[real:]:
            for token in item.vocabulary - self._understood:
                self._idf[token] = self._unknown

        # Per entry: its phrasings as sorted token strings (for rapidfuzz).
        self._strings = [tuple(" ".join(sorted(p)) for p in item.phrasings) for item in indexed]
        # All phrasings in one numbering, entry by entry (so an entry's phrasings are a
        # contiguous run), each as the ids of its tokens (compressed rows: `_row_start`,
        # `_row_tokens`), with its weight. The best phrasing of the shortlisted entries is
        # then a few numpy passes over their phrasings only, whatever the size of the base.
        self._token_id = {t: k for k, t in enumerate(sorted(self._idf))}
        owner: list[int] = []
        phrasing_weight: list[float] = []
        row_tokens: list[int] = []
        row_start = [0]
        for i, item in enumerate(indexed):
            for p in item.phrasings:
                row_tokens.extend(self._token_id[t] for t in p)
                row_start.append(len(row_tokens))
                owner.append(i)
                phrasing_weight.append(self._w(p))
        self._row_start = np.asarray(row_start, dtype=np.int64)
        self._row_tokens = np.asarray(row_tokens, dtype=np.int32)
        self._row_size = np.diff(self._row_start)  # never 0: empty phrasings are dropped
        # A small base is cheaper the other way round: per token, the phrasings holding it.
        self._phrasings_with: dict[str, _Weighed] | None = None
        if len(phrasing_weight) <= SMALL_BASE_PHRASINGS:
            by_token: dict[str, list[int]] = {}
            for row, p in enumerate(p for item in indexed for p in item.phrasings):
                for token in p:
                    by_token.setdefault(token, []).append(row)
            self._phrasings_with = self._weighed(by_token)
        self._count = np.bincount(np.asarray(owner, dtype=np.int32), minlength=len(indexed))
        self._first = np.cumsum(self._count) - self._count
        # Where each entry's run starts, for `np.maximum.reduceat` over all phrasings (an
        # entry without phrasings, if any, points at a row in range and is zeroed after).
        self._first_row = np.minimum(self._first, max(0, len(owner) - 1))
        self._no_phrasing = np.flatnonzero(self._count == 0)
        self._phrasing_weight = np.asarray(phrasing_weight)
        # First stage: an inverted index from token to entries, so the information an entry
        # shares with a question is one numpy pass whatever the size of the knowledge base.
        # Only the `shortlist` entries sharing the most are scored in full (retrieve, rerank).
        postings: dict[str, list[int]] = {}
        for i, item in enumerate(indexed):
            for token in item.vocabulary:
                postings.setdefault(token, []).append(i)
        self._postings = {t: np.asarray(v, dtype=np.int32) for t, v in postings.items()}
        self._weighed_postings = self._weighed(postings)
        if self._phrasings_with is not None:
            # A small base: per token, its entries and (numbered after them) its phrasings,
            # so that what a question shares with each is one pass (`_shared_and_phrasings`).
            size = len(indexed)
            self._weighed_both: dict[str, _Weighed] = {}
            for t, (rows, weighs) in self._weighed_postings.items():
                more = self._phrasings_with.get(t)
                if more is not None:
                    rows = np.concatenate([rows, more[0] + size])
                    weighs = np.concatenate([weighs, more[1]])
                self._weighed_both[t] = (rows, weighs)
        self.shortlist = shortlist

        self.classifier: Classifier | None = None
        if len(indexed) <= MAX_LABELS:
            self.classifier = trained(texts, labels, cache_dir)
            number = {label: i for i, label in enumerate(self.classifier.labels)}
            self._label_of = np.asarray([number.get(item.id, -1) for item in indexed])
        else:
            # Naive Bayes (multinomial, additive smoothing a), kept sparse so that it scales
            # like the index: log P(t|e) = log(a + n(e,t)) - log(N_e + a|V|). A token an
            # entry never uses contributes log a - log(N_e + a|V|); `_bayes_gain[t]` holds,
            # for the entries that do use t, what they gain over that.
            a = weights.bayes_smoothing
            size = len(postings)
            self._bayes_base = np.asarray(
                [math.log(a) - math.log(sum(f.values()) + a * size) for f in frequency])
            self._bayes_gain = {
                t: np.asarray([math.log((a + frequency[i][t]) / a) for i in ids])
                for t, ids in postings.items()
            }

    def _weighed(self, postings: Mapping[str, Sequence[int]]) -> dict[str, _Weighed]:
        """Per token, the rows that hold it, each with the token's weight (`_accumulate`)."""
        return {t: (np.asarray(rows, dtype=np.int32), np.full(len(rows), self._idf[t]))
                for t, rows in postings.items()}

    def weight(self, token: str) -> float:
        return self._idf.get(token, self._unknown)

    def _w(self, tokens: frozenset[str]) -> float:
        return sum(self.weight(t) for t in tokens)

    def tokens(self, text: str) -> frozenset[str]:
        return frozenset(self.normalizer.tokens(text))

    def uses(self, entry_id: str, text: str) -> bool:
        """Whether the entry's own phrasings or keywords use all the words of `text`."""
        index = self._index.get(entry_id)
        tokens = self.tokens(text)
        return (index is not None and bool(tokens)
                and tokens <= self._entries[index].vocabulary)

    def excluded(self, whole: frozenset[str], text: str = "") -> np.ndarray:
        """Per entry (by index), whether one of its `excludes` occurs in the message (`whole`:
        its tokens; `text`: as written, for the excludes matched as phrases)."""
        mask = self._occurs(self._excluded_single, self._excluded_multi, whole)
        if self._excluded_phrases and text:
            written = f" {' '.join(self.normalizer.words(text))} "
            for phrase, ids in self._excluded_phrases.items():
                if phrase in written:
                    mask[ids] = True
        return mask

    def _occurs(self, single: dict[str, np.ndarray], multi: _Multi,
                query: frozenset[str], size: int | None = None) -> np.ndarray:
        """Per entry (or per `size` items), whether one of its terms (one word: `single`;
        more: `multi`, filed under one of their words) occurs in `query`."""
        mask = np.zeros(len(self._entries) if size is None else size, dtype=bool)
        found = [single[t] for t in query if t in single]
        if found:
            mask[np.concatenate(found) if len(found) > 1 else found[0]] = True
        for token in multi.keys() & query:
            for i, words in multi[token]:
                if words <= query:
                    mask[i] = True
        return mask

    @staticmethod
    def heads(query: frozenset[str]) -> frozenset[str]:
        """The query's tokens and the heads of its compounds: a Dutch compound is a kind of
        its last part ("arbeidsmarktregio" is a regio, "kerkgebouwen" gebouwen), so a
        required concept is met by a word that ends in it. Only for `requires`: an exclude
        is not ("regiotaxi" is no regio, nor is "zorgverzekering" the exclude "verzekering")."""
        heads = {t[k:] for t in query if len(t) >= HEAD_MIN + 3
                 for k in range(3, len(t) - HEAD_MIN + 1)}
        return query | heads if heads else query

    def _concepts_of(self, token: str) -> frozenset[str]:
        """The words of required concepts that `token` is or has as its head (`heads`)."""
        return self.heads(frozenset((token,))) & self._concept_words

    def eligibility(self, query: frozenset[str], excluded: np.ndarray) -> np.ndarray:
        """Per entry, 1.0 when it may answer, less (down to 0) when it probably should not:
        one of its `excludes` occurs (`excluded`, per entry), or not each of its `requires`
        groups has a word in `query`, itself or as the head of a compound (`heads`)."""
        w = self.weights
        factor = np.where(excluded, w.excluded, 1.0)
        concepts = frozenset().union(*map(self._concepts, query))
        met = self._occurs(self._required_single, self._required_multi, concepts,
                           len(self._group_owner))
        unmet = np.bincount(self._group_owner[met], minlength=len(factor)) < self._groups_needed
        factor[unmet] *= w.unmet
        return factor

    def rank(self, text: str, limit: int = 3) -> list[Candidate]:
        """Candidates for the whole message and for each of its sentences, best score kept.

        People write context first and ask last ("Goedenavond, ik ben ouderling in …. Hoe
        pakken we dit aan?"); the question sentence alone is often the clearer signal.
        """
        # Who writes and how they greet is not what they ask (`bot.frame`): the message
        # without its frame is ranked besides the whole one, its sentences alone, and its
        # words decide what is excluded ("regionaal coördinator" rules out no entry).
        core = self.frame.core(text)
        parts = [p for p in _SENTENCE.split(core) if len(p.split()) >= 3]
        whole = self.tokens(core)
        # An exclude anywhere in the message rules the entry out for every sentence.
        excluded = self.excluded(whole, core)
        passes = [text, core] if core != text else [text]
        # Parts that come down to the same tokens rank alike: each set is ranked once (the
        # whole message first, whose result holds its sentences' with a floor).
        ranked_already: set[frozenset[str]] = set()
        # The best score of every entry scored so far: a later part need only score the
        # entries that could still enter the `limit` best.
        scores = _Best(limit)
        for part in [*passes, *parts] if len(parts) > 1 else passes:
            query = self.tokens(part)
            if query in ranked_already:
                continue
            ranked_already.add(query)
            floor = self.weights.sentence_information if part not in passes else 0.0
            self._rank(query, excluded, scores, floor)
        ranked = scores.top()
        known = sorted(t for t in whole if t in self._idf)
        if not ranked or not known:
            return [Candidate(k, v, beyond=k.startswith(BEYOND)) for k, v in ranked]
        if self.classifier is not None:
            # Over the message without its frame, as the excludes: a few more right answers
            # and one wrong one fewer on the tuning and validation halves (and a long
            # signature costs no time).
            support = self.classifier.probabilities(core)[self._label_of]
            support[self._label_of < 0] = 0.0
        else:
            support = self._bayes(known)
        lexical = self.lexical.relative(core)

        def opinion(entry_id: str) -> float | None:
            if lexical is None or entry_id.startswith(BEYOND):
                return None
            return round(float(lexical[self._index[entry_id]]), 3)

        return [Candidate(k, v, round(float(support[self._index[k]]), 3), k.startswith(BEYOND),
                          opinion(k))
                for k, v in ranked]

    def _shared_and_phrasings(self, known: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Summed weight of the known question tokens each entry's vocabulary holds, and in a
        small base the same for each phrasing (None: `_phrase` works it out per hit)."""
        size = len(self._entries)
        if self._phrasings_with is None:
            return self._accumulate(self._weighed_postings, known, size), None
        both = self._accumulate(self._weighed_both, known, size + len(self._row_size))
        return both[:size], both[size:]

    @staticmethod
    def _accumulate(postings: dict[str, _Weighed], known: list[str], size: int) -> np.ndarray:
        """Per row (entry or phrasing), the summed idf of the known tokens it holds."""
        # A token only an entry's keywords use has no phrasing.
        lists = [postings[t] for t in known if t in postings]
        if not lists:
            return np.zeros(size)
        rows = np.concatenate([r for r, _ in lists])
        weights = np.concatenate([w for _, w in lists])
        return np.bincount(rows, weights=weights, minlength=size)

    def _bayes(self, known: list[str]) -> np.ndarray:
        """P(entry | known question tokens) for every entry, naive Bayes, uniform prior."""
        log = self._bayes_base * len(known) + np.bincount(
            np.concatenate([self._postings[t] for t in known]),
            weights=np.concatenate([self._bayes_gain[t] for t in known]),
            minlength=len(self._bayes_base))
        log -= log.max()
        p = np.exp(log)
        return p / p.sum()  # type: ignore[no-any-return]

    def _rank(self, query: frozenset[str], excluded: np.ndarray, scores: _Best,
              floor: float = 0.0) -> None:
        """Scores for `query` of the entries that may enter the `scores.limit` best, kept
        in `scores` where they beat an entry's score so far (from the message's other parts)."""
        if not query:
            return
        w = self.weights
        idf = self._idf
        known = sorted(t for t in query if t in idf)
        if not known:
            return
        wk = sum(idf[t] for t in known)
        if wk < floor:
            return
        wq = wk + self._unknown * (len(query) - len(known))
        understood = sum(idf[t] for t in known if t in self._understood)
        damping = 1.0 - w.unknown_penalty * (1.0 - understood / wq)

        shared, per_phrasing = self._shared_and_phrasings(known)
        hits = np.flatnonzero(shared)
        if len(hits) > self.shortlist:
            hits = hits[np.argpartition(shared[hits], -self.shortlist)[-self.shortlist:]]
        phrase = self._phrase(known, wq, hits, per_phrasing)
        coverage = shared[hits] / wk * (wk / wq) ** 0.5
        keyword = self._occurs(self._keyword_single, self._keyword_multi, query)[hits]
        partial = 100 * damping * (w.phrase * phrase + w.coverage * coverage
                                   + w.keyword * keyword)
        qstring = " ".join(sorted(query))
        allowance = self.eligibility(query, excluded)[hits]
        reach = 100 * damping * w.fuzzy  # the most the fuzzy signal can add
        # Entries are scored in full best bound first. The fuzzy signal can add at most
        # `reach` and `eligibility` (excludes, requires) scales the sum, so once `limit`
        # entries (of this part or another one of the message) score more than the next one
        # could, the rest cannot enter the top `limit`.
        bounds = (partial + reach) * allowance
        order = np.argsort(-bounds, kind="stable").tolist()
        bound, base, entry_of = bounds.tolist(), partial.tolist(), hits.tolist()
        allowances = allowance.tolist()
        least = scores.least() - _ROUNDING
        for k in order:
            if bound[k] < least:
                break
            allowed = allowances[k]
            if not allowed:
                continue  # ruled out (its bound is 0; fewer than `limit` entries scored yet)
            # Only a fuzzy score that lifts this entry above the least of the `limit` best
            # matters: rapidfuzz may skip the phrasings that cannot reach it (an entry that
            # falls short then gets 0 for it and stays out of the top).
            cutoff = max(0.0, (least / allowed - base[k]) / reach * 100) if reach else 0.0
            i = entry_of[k]
            found = process.extractOne(qstring, self._strings[i], scorer=fuzz.ratio,
                                       score_cutoff=min(cutoff, 100.0))
            fuzzy = found[1] / 100 if found is not None else 0.0
            scores.offer(self._entries[i].id, round(min((base[k] + reach * fuzzy) * allowed,
                                                        100.0), 1))
            least = scores.least() - _ROUNDING

    def _phrase(self, known: list[str], wq: float, hits: np.ndarray,
                per_phrasing: np.ndarray | None) -> np.ndarray:
        """Per entry in `hits`, how well its best phrasing matches: the weight it shares with
        the question against both sizes, common / (wq + wp) + common / (2 wp)."""
        if per_phrasing is not None:
            # A small base: every phrasing at once, then the best of each hit's run.
            c = per_phrasing
            wp = self._phrasing_weight
            score = c / (wq + wp) + 0.5 * c / wp
            best = np.maximum.reduceat(score, self._first_row)
            if self._no_phrasing.size:
                best[self._no_phrasing] = 0.0
            return best[hits]  # type: ignore[no-any-return]
        # The phrasings of the hits (each entry's are a contiguous run), hit by hit.
        start, count = self._first[hits], self._count[hits]
        offsets = np.cumsum(count) - count
        rows = np.repeat(start - offsets, count) + np.arange(int(count.sum()))
        if len(rows):
            # Their tokens, weighed by the question: the weight each phrasing shares with it.
            weight = np.zeros(len(self._token_id))
            weight[[self._token_id[t] for t in known]] = [self._idf[t] for t in known]
            first, size = self._row_start[rows], self._row_size[rows]
            within = np.cumsum(size) - size
            cells = np.repeat(first - within, size) + np.arange(int(size.sum()))
            c = np.add.reduceat(weight[self._row_tokens[cells]], within)
        else:
            c = np.zeros(0)
        wp = self._phrasing_weight[rows]
        score = c / (wq + wp) + 0.5 * c / wp
        best = np.zeros(len(hits))
        has = count > 0
        best[has] = np.maximum.reduceat(score, offsets[has])
        return best
