"""Text insights: top keywords and sentiment per group or period (issue 5 item 7, seed 001).

One job: say what tickets in each group (or week, month, category …) are about, and how their
writers feel, from ``subject`` + ``description``.

- **Keywords** are class-based TF-IDF (c-TF-IDF, as BERTopic uses): every cell (a group, a week …)
  is one class; a term's weight in a cell is the share of the cell's tickets that contain it
  times ``log(1 + A / df)``, where ``A`` is the mean number of tickets per cell and ``df`` the
  number of tickets containing the term anywhere — frequent in the cell, rare elsewhere. Terms are
  lower-cased letter runs of 3+ letters that are not stopwords or greeting boilerplate, and
  bigrams of two such adjacent words ("double charge"). Tokenising runs once per distinct
  subject and per distinct description (pyarrow), and the counts come back to the tickets by
  integer gathers and ``bincount`` (numpy); a term must occur in ``min_df`` tickets overall.
- **Sentiment** is VADER's compound score (the ``vaderSentiment`` package, whose lexicon ships
  inside the package: nothing is downloaded). VADER scores one text at a time, so texts are
  scored once per distinct (subject, description) pair after digits are masked (ticket and
  invoice numbers do not change VADER's score), and at most ``max_sentiment_texts`` pairs (default
  1,000: VADER costs ~0.1–0.2 ms a text; a fixed random sample beyond that, so every ticket has
  the same chance to be scored; the counts are reported and the CLI's ``--sentiment-sample``
  raises the cap). Negative: compound ≤ −0.05, positive: ≥ 0.05
  (VADER's thresholds).
- The window defaults to the 28 days before ``as_of``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.analytics.filters import Filters
from deskpulse.analytics.insights_common import (
    NO_TICKETS,
    FloatArray,
    IntArray,
    jsonable,
    resolve_as_of,
    ts_seconds,
)
from deskpulse.errors import ComponentMissingError, UsageError
from deskpulse.store import TenantStore


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


BY_CHOICES: Final = ("group", "week", "month", "category", "channel", "priority")
DEFAULT_WINDOW_DAYS: Final = 28
NEGATIVE: Final = -0.05
POSITIVE: Final = 0.05

#: English function words (a compact list in the spirit of the usual IR stopword lists).
STOPWORDS: Final = _words("""
a about above after again against all almost also am an and any are aren as at be because been
before being below between both but by can cannot could couldn did didn do does doesn doing don
down during each either else ever every few for from further get gets got had hadn has hasn have
haven having he her here hers herself him himself his how however i if in into is isn it its
itself just let like ll me might more most much must my myself need no nor not now of off on once
one only or other our ours ourselves out over own per please same shan she should shouldn so some
still such than that the their theirs them themselves then there these they this those through
to too under until up upon us very via was wasn we were weren what when where which while who
whom why will with within without won would wouldn yet you your yours yourself yourselves
re ve
""")
#: Greeting and sign-off words that every ticket carries and that say nothing about the issue.
BOILERPLATE: Final = _words("""
hi hello hey dear team thanks thank regards best kind cheers sincerely morning afternoon evening
greetings support help asap sir madam folks guys
""")


@dataclass(frozen=True)
class Keyword:
    term: str
    score: float
    tickets: int
    share: float  # of the cell's tickets


@dataclass(frozen=True)
class TopicCell:
    """One group / period: its tickets, top keywords and sentiment."""

    value: str
    tickets: int
    keywords: tuple[Keyword, ...]
    sentiment_mean: float | None
    negative_share: float | None
    positive_share: float | None
    sentiment_scored: int


@dataclass(frozen=True)
class TopicsResult:
    """``deskpulse topics``: keywords and sentiment per cell of ``by``, plus all tickets together."""

    as_of: datetime
    window: str
    by: str
    tickets: int
    cells: tuple[TopicCell, ...]
    overall: TopicCell | None
    distinct_texts: int
    scored_texts: int
    sentiment: str = "VADER compound (vaderSentiment, shipped lexicon)"
    keywords: str = "c-TF-IDF over unigrams and bigrams"
    message: str = ""

    @property
    def empty(self) -> bool:
        return self.tickets == 0

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per cell (keywords joined) for tables and CSV."""
        return [
            {
                self.by: c.value,
                "tickets": c.tickets,
                "top_keywords": ", ".join(k.term for k in c.keywords),
                "sentiment_mean": c.sentiment_mean,
                "negative_share": c.negative_share,
                "positive_share": c.positive_share,
                "sentiment_scored": c.sentiment_scored,
            }
            for c in self.cells
        ]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


# --- tokens and c-TF-IDF ------------------------------------------------------------------------


@dataclass(frozen=True)
class DistinctTexts:
    """Tickets as pairs of distinct (digit-masked) subject and description texts.

    Templates, macros and repeated subjects make many tickets share texts; everything costly
    (regex tokenising, VADER) runs once per distinct text or pair, and counts come back to the
    tickets through integer gathers.
    """

    subjects: pa.Array  # distinct subjects
    descriptions: pa.Array  # distinct descriptions (digit runs replaced by "0")
    pair_subject: IntArray  # per distinct pair: its subject / description index
    pair_description: IntArray
    pair_of_doc: IntArray  # per ticket: its pair

    @classmethod
    def of(cls, subject: pa.Array, description: pa.Array) -> DistinctTexts:
        # digits never make a token, and masking them does not change VADER's score
        subj = pc.dictionary_encode(pc.replace_substring_regex(pc.fill_null(subject, ""), r"[0-9]+", "0"))
        desc = pc.dictionary_encode(pc.replace_substring_regex(pc.fill_null(description, ""), r"[0-9]+", "0"))
        si = np.asarray(subj.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        di = np.asarray(desc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        pair_of_doc, firsts = pd.factorize(si * max(len(desc.dictionary), 1) + di)
        uniq = np.asarray(firsts, dtype=np.int64)
        n_desc = max(len(desc.dictionary), 1)
        return cls(subjects=subj.dictionary, descriptions=desc.dictionary,
                   pair_subject=uniq // n_desc, pair_description=uniq % n_desc,
                   pair_of_doc=pair_of_doc.astype(np.int64))

    @property
    def pairs(self) -> int:
        return int(self.pair_subject.size)

    def text(self, pair: int) -> str:
        subject = self.subjects[int(self.pair_subject[pair])].as_py() or ""
        description = self.descriptions[int(self.pair_description[pair])].as_py() or ""
        return f"{subject} {description}".strip()


def _text_terms(texts: pa.Array, stop: pa.Array) -> tuple[IntArray, list[str], IntArray]:
    """(owner text, token) pairs of content words: owners, the token vocabulary, token ids."""
    toks = pc.split_pattern_regex(pc.utf8_lower(texts), r"[^\pL]+")
    flat = pc.list_flatten(toks)
    owner = np.asarray(pc.list_parent_indices(toks).to_numpy(), dtype=np.int64)
    enc = pc.dictionary_encode(flat)
    vocab = enc.dictionary
    ids = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    good = np.asarray(pc.and_(pc.invert(pc.is_in(vocab, value_set=stop)),
                              pc.greater_equal(pc.utf8_length(vocab), 3)).to_numpy(zero_copy_only=False),
                      dtype=bool)
    keep = good[ids] if ids.size else np.zeros(0, dtype=bool)
    v = int(len(vocab))
    words = vocab.to_pylist()
    # unigrams, and bigrams of two kept words next to each other in the same text
    pair = keep[:-1] & keep[1:] & (owner[:-1] == owner[1:]) if ids.size > 1 else np.zeros(0, dtype=bool)
    owners = np.concatenate([owner[keep], owner[:-1][pair]])
    keys = np.concatenate([ids[keep], v + ids[:-1][pair] * v + ids[1:][pair]])
    codes, uniq = pd.factorize(keys)
    names = [words[int(k)] if k < v else f"{words[int((k - v) // v)]} {words[int((k - v) % v)]}"
             for k in np.asarray(uniq, dtype=np.int64).tolist()]
    return owners, names, codes.astype(np.int64)


def _gather(owner: IntArray, term: IntArray, n_owners: int, wanted: IntArray) -> tuple[IntArray, IntArray]:
    """For each position i of ``wanted`` (owner ids), the terms of that owner: (i, term) pairs."""
    order = np.argsort(owner, kind="stable")
    owner, term = owner[order], term[order]
    counts = np.bincount(owner, minlength=n_owners)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rep = counts[wanted]
    total = int(rep.sum())
    which = np.repeat(np.arange(wanted.size), rep)
    within = np.arange(total) - np.repeat(np.cumsum(rep) - rep, rep)
    return which, term[np.repeat(offsets[wanted], rep) + within]


def term_counts(texts: DistinctTexts, cell_of_doc: IntArray, n_cells: int
                ) -> tuple[list[str], FloatArray, FloatArray]:
    """Term names, tickets per (cell, term) containing the term, and tickets per cell."""
    stop = pa.array(sorted(STOPWORDS | BOILERPLATE), pa.string())
    s_owner, s_names, s_term = _text_terms(texts.subjects, stop)
    d_owner, d_names, d_term = _text_terms(texts.descriptions, stop)
    codes, names = pd.factorize(np.asarray(s_names + d_names, dtype=object))
    s_term = np.asarray(codes[: len(s_names)], dtype=np.int64)[s_term]
    d_term = np.asarray(codes[len(s_names):], dtype=np.int64)[d_term]
    n_terms = len(names)
    # terms of each distinct (subject, description) pair, once per pair
    p1, t1 = _gather(s_owner, s_term, len(texts.subjects), texts.pair_subject)
    p2, t2 = _gather(d_owner, d_term, len(texts.descriptions), texts.pair_description)
    pt = pd.unique(np.concatenate([p1, p2]) * max(n_terms, 1) + np.concatenate([t1, t2]))
    pt_pair, pt_term = pt // max(n_terms, 1), pt % max(n_terms, 1)
    docs_per_cell = np.bincount(cell_of_doc, minlength=n_cells).astype(np.float64)
    pair_in_cell = np.bincount(cell_of_doc * texts.pairs + texts.pair_of_doc,
                               minlength=n_cells * texts.pairs).reshape(n_cells, texts.pairs)
    ct = np.zeros((n_cells, n_terms))
    for c in range(n_cells):  # per cell (a handful), never per ticket
        ct[c] = np.bincount(pt_term, weights=pair_in_cell[c, pt_pair], minlength=n_terms)
    return [str(n) for n in names], ct, docs_per_cell


def ctfidf(names: list[str], ct: FloatArray, docs_per_cell: FloatArray, *, top_n: int, min_df: int
           ) -> list[list[Keyword]]:
    """Top ``top_n`` keywords per cell by class-based TF-IDF (see the module doc)."""
    n_cells, n_terms = ct.shape
    if n_terms == 0:
        return [[] for _ in range(n_cells)]
    df = ct.sum(axis=0)
    avg = docs_per_cell.sum() / max(n_cells, 1)
    idf = np.log1p(avg / np.maximum(df, 1))
    score = ct / np.maximum(docs_per_cell, 1)[:, None] * idf[None, :]
    score[:, df < min_df] = 0.0
    score[ct < 2] = 0.0
    name_arr = np.asarray(names, dtype=object)
    out: list[list[Keyword]] = []
    for c in range(n_cells):
        row = score[c]
        k = min(top_n, int((row > 0).sum()))
        if k == 0:
            out.append([])
            continue
        top = np.argpartition(-row, k - 1)[:k]
        top = top[np.lexsort((name_arr[top], -row[top]))]
        out.append([Keyword(names[t], round(float(row[t]), 4), int(ct[c, t]),
                            round(float(ct[c, t] / docs_per_cell[c]), 4)) for t in top])
    return out


# --- sentiment ----------------------------------------------------------------------------------


def vader_compound(texts: DistinctTexts, *, max_texts: int = 1_000, seed: int = 0
                   ) -> tuple[FloatArray, int]:
    """VADER compound per ticket, scored once per distinct (subject, description) pair.

    At most ``max_texts`` pairs are scored (a fixed random sample beyond that; tickets of the
    others get NaN). Returns the scores and the number of pairs scored.
    """
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:
        raise ComponentMissingError(
            "sentiment needs the vaderSentiment package (pip install vaderSentiment); "
            "or run without sentiment (--no-sentiment)") from exc

    chosen = np.arange(texts.pairs)
    if texts.pairs > max_texts:
        chosen = np.sort(np.random.default_rng(seed).choice(texts.pairs, max_texts, replace=False))
    analyzer = SentimentIntensityAnalyzer()
    scores = np.full(texts.pairs, np.nan)
    # one library call per *distinct* text: VADER has no batch API
    scores[chosen] = [analyzer.polarity_scores(texts.text(i))["compound"] for i in chosen.tolist()]
    out: FloatArray = scores[texts.pair_of_doc] if texts.pair_of_doc.size else np.zeros(0)
    return out, int(chosen.size)


def _cells(by: str, tbl: pa.Table) -> tuple[np.ndarray, list[str]]:
    if by in ("week", "month"):
        at, _ = ts_seconds(tbl.column("created_at"))
        days = pd.to_datetime(at // 86400, unit="D")
        if by == "week":
            keys = (days - pd.to_timedelta(days.day_of_week, unit="D")).strftime("%Y-%m-%d")
        else:
            keys = days.strftime("%Y-%m")
        codes, uniques = pd.factorize(np.asarray(keys), sort=True)
        return codes.astype(np.int64), [str(u) for u in uniques]
    col = tbl.column(by).combine_chunks()
    values = pc.fill_null(col.cast(pa.string()), "(none)").to_numpy(zero_copy_only=False)
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int64), [str(u) for u in uniques]


def topics(
    repo: TenantStore,
    *,
    filters: Filters | None = None,
    by: str = "group",
    as_of: datetime | None = None,
    top_n: int = 8,
    min_df: int = 3,
    max_sentiment_texts: int = 1_000,
    sentiment: bool = True,
) -> TopicsResult:
    """Top keywords and sentiment per ``by`` cell for tickets created in the window."""
    if by not in BY_CHOICES:
        raise UsageError(f"--by must be one of {', '.join(BY_CHOICES)}")
    if top_n <= 0 or min_df <= 0:
        raise UsageError("--top and --min-df must be positive")
    as_of = resolve_as_of(repo, as_of)
    filters = filters or Filters()
    if filters.start_at is None:
        end = filters.end_at or as_of
        filters = Filters(start_at=end - timedelta(days=DEFAULT_WINDOW_DAYS), end_at=end,
                          values=filters.values)
    pred, params = filters.ticket_predicate("t")
    tbl = repo.query(
        f'SELECT t.created_at, t."group", t.category, t.channel, t.priority, t.subject, t.description '  # noqa: S608
        f"FROM tickets t WHERE {pred} ORDER BY t.created_at, t.ticket_id", **params)
    n = tbl.num_rows
    if n == 0:
        return TopicsResult(as_of=as_of, window=filters.describe(), by=by, tickets=0, cells=(),
                            overall=None, distinct_texts=0, scored_texts=0, message=NO_TICKETS)
    texts = DistinctTexts.of(tbl.column("subject").combine_chunks(),
                             tbl.column("description").combine_chunks())
    codes, names = _cells(by, tbl)
    names_t, ct, per_cell_docs = term_counts(texts, codes, len(names))
    per_cell = ctfidf(names_t, ct, per_cell_docs, top_n=top_n, min_df=min_df)
    overall_kw = ctfidf(names_t, ct.sum(axis=0, keepdims=True), per_cell_docs.sum(keepdims=True),
                        top_n=top_n, min_df=min_df)[0]
    n_scored = 0
    compound = np.full(n, np.nan)
    if sentiment:
        compound, n_scored = vader_compound(texts, max_texts=max_sentiment_texts)
    scored = ~np.isnan(compound)

    def cell(value: str, mask: np.ndarray, kws: list[Keyword]) -> TopicCell:
        s = compound[mask & scored]
        return TopicCell(
            value=value, tickets=int(mask.sum()), keywords=tuple(kws),
            sentiment_mean=round(float(s.mean()), 4) if s.size else None,
            negative_share=round(float((s <= NEGATIVE).mean()), 4) if s.size else None,
            positive_share=round(float((s >= POSITIVE).mean()), 4) if s.size else None,
            sentiment_scored=int(s.size),
        )

    cells = tuple(cell(name, codes == k, per_cell[k]) for k, name in enumerate(names))
    return TopicsResult(
        as_of=as_of, window=filters.describe(), by=by, tickets=n, cells=cells,
        overall=cell("all", np.ones(n, dtype=bool), overall_kw), distinct_texts=texts.pairs,
        scored_texts=n_scored,
    )
