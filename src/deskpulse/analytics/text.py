"""Text insights: top keywords, topics and sentiment per group or period (issue 5 item 7, seed 001).

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
- **Topics** are an NMF topic model on TF-IDF (issue 5: "TF-IDF/NMF"): documents are the
  distinct texts, terms the same unigrams and bigrams with ``min_df`` ≤ df ≤ 50 % of tickets (at
  most 2,000, most frequent first), binary tf × smooth idf, rows l2-normalised (scikit-learn's
  ``TfidfVectorizer`` defaults). :func:`nmf` factorises it with multiplicative updates in numpy
  (scikit-learn's ``NMF(solver="mu")``; importing scikit-learn alone costs ~1.5 CPU-seconds per
  process), products with the sparse matrix as SciPy CSR products, seeded random start: the same
  data give the same topics. It is fitted on the 3,000 most frequent distinct texts, then every text gets its dominant topic with the components held
  fixed. Topics are numbered by size; a cell lists its three largest.
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

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
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


def _factorize(values: Any) -> tuple[IntArray, pa.Array]:
    """Codes and distinct values in order of first appearance (``pandas.factorize``, by an
    Arrow hash: no pandas Series built and converted)."""
    enc = pc.dictionary_encode(values if isinstance(values, pa.Array) else pa.array(values))
    codes = np.asarray(enc.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes, enc.dictionary


def _factorize_sorted(values: Any) -> tuple[IntArray, list[Any]]:
    """Codes and distinct values in ascending order (``pandas.factorize(sort=True)``)."""
    codes, uniques = _factorize(values)
    names = uniques.to_pylist()
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names), dtype=np.int64)
    return rank[codes], [names[i] for i in order]


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
    topics: tuple[CellTopic, ...] = ()


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
    topics: tuple[Topic, ...] = ()
    topic_model: str = "NMF (multiplicative updates, seed 0) on TF-IDF of unigrams and bigrams"

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
                "top_topics": "; ".join(f"{t.label} ({t.share:.0%})" for t in c.topics),
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
        pair_of_doc, firsts = _factorize(si * max(len(desc.dictionary), 1) + di)
        uniq = np.asarray(firsts.to_numpy(zero_copy_only=False), dtype=np.int64)
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
    codes, uniq = _factorize(keys)
    names = [words[int(k)] if k < v else f"{words[int((k - v) // v)]} {words[int((k - v) % v)]}"
             for k in uniq.to_pylist()]
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


@dataclass(frozen=True)
class PairTerms:
    """Which terms each distinct (subject, description) pair contains: (pair, term) pairs."""

    names: list[str]
    pair: IntArray
    term: IntArray


def pair_terms(texts: DistinctTexts) -> PairTerms:
    """The content terms of every distinct text pair, each (pair, term) once."""
    stop = pa.array(sorted(STOPWORDS | BOILERPLATE), pa.string())
    s_owner, s_names, s_term = _text_terms(texts.subjects, stop)
    d_owner, d_names, d_term = _text_terms(texts.descriptions, stop)
    codes, names = _factorize(pa.array(s_names + d_names, pa.string()))
    s_term = np.asarray(codes[: len(s_names)], dtype=np.int64)[s_term]
    d_term = np.asarray(codes[len(s_names):], dtype=np.int64)[d_term]
    n_terms = len(names)
    p1, t1 = _gather(s_owner, s_term, len(texts.subjects), texts.pair_subject)
    p2, t2 = _gather(d_owner, d_term, len(texts.descriptions), texts.pair_description)
    pt = np.asarray(pc.unique(pa.array(np.concatenate([p1, p2]) * max(n_terms, 1)
                                       + np.concatenate([t1, t2]))).to_numpy(zero_copy_only=False),
                    dtype=np.int64)
    return PairTerms([str(n) for n in names.to_pylist()], pt // max(n_terms, 1), pt % max(n_terms, 1))


def term_counts(texts: DistinctTexts, cell_of_doc: IntArray, n_cells: int,
                terms: PairTerms | None = None) -> tuple[list[str], FloatArray, FloatArray]:
    """Term names, tickets per (cell, term) containing the term, and tickets per cell."""
    terms = terms or pair_terms(texts)
    n_terms = len(terms.names)
    docs_per_cell = np.bincount(cell_of_doc, minlength=n_cells).astype(np.float64)
    pair_in_cell = np.bincount(cell_of_doc * texts.pairs + texts.pair_of_doc,
                               minlength=n_cells * texts.pairs).reshape(n_cells, texts.pairs)
    ct = np.zeros((n_cells, n_terms))
    for c in range(n_cells):  # per cell (a handful), never per ticket
        ct[c] = np.bincount(terms.term, weights=pair_in_cell[c, terms.pair], minlength=n_terms)
    return terms.names, ct, docs_per_cell


# --- topics: NMF on TF-IDF ----------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    """One NMF topic: its strongest terms and the tickets whose dominant topic it is."""

    topic: int
    label: str
    terms: tuple[str, ...]
    tickets: int
    share: float


@dataclass(frozen=True)
class CellTopic:
    """A topic's share of one cell's tickets (tickets whose dominant topic it is)."""

    topic: int
    label: str
    tickets: int
    share: float


@dataclass(frozen=True)
class TopicModel:
    """Topics and, per ticket, its dominant topic (-1: no content term in the vocabulary)."""

    topics: tuple[Topic, ...]
    topic_of_doc: IntArray


def _csr(rows: IntArray, cols: IntArray, vals: FloatArray, shape: tuple[int, int]) -> Any:
    """A CSR matrix of coordinates whose rows keep the input order of their entries (a stable
    sort by row, no index sorting or duplicate summing): a product with it then adds each
    row's terms in the very order ``np.bincount`` over the coordinates would (equal floats)."""
    from scipy.sparse import csr_matrix  # ~0.15 s to import: only when topics are fitted

    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    return csr_matrix((vals[order], cols[order], indptr), shape=shape)


def nmf(x_rows: IntArray, x_cols: IntArray, x_vals: FloatArray, shape: tuple[int, int], k: int, *,
        seed: int = 0, max_iter: int = 200, tol: float = 1e-4,
        components: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
    """Non-negative matrix factorisation ``X ≈ W H`` of a sparse matrix given as coordinates,
    by Lee & Seung's multiplicative updates on the Frobenius loss (what scikit-learn's
    ``NMF(solver="mu")`` does), in numpy: products with ``X`` are sparse (CSR) products over
    its non-zeros, each row summed in the coordinates' order. Random non-negative start from
    ``seed`` (deterministic). With ``components`` given, ``H`` stays fixed and only ``W`` is
    fitted (a transform)."""
    n, m = shape
    rng = np.random.default_rng(seed)
    scale = math.sqrt(float(x_vals.mean()) / k) if x_vals.size else 1.0
    eps = 1e-10
    x = _csr(x_rows, x_cols, x_vals, (n, m))
    x_t = _csr(x_cols, x_rows, x_vals, (m, n)) if components is None else None

    def x_ht(h: FloatArray) -> FloatArray:  # X Hᵀ (n × k) from the non-zeros only
        out: FloatArray = np.asarray(x @ np.ascontiguousarray(h.T), dtype=np.float64)
        return out

    h = rng.random((k, m)) * scale if components is None else components
    if components is None:
        w = rng.random((n, k)) * scale
        fixed = None
    else:  # warm start of a transform: the projection X Hᵀ, scaled per topic (H stays fixed)
        fixed = x_ht(h)
        w = fixed / np.maximum(np.einsum("ij,ij->i", h, h), eps)
    norm_x = float((x_vals ** 2).sum())
    previous = math.inf
    for it in range(max_iter):
        xht = x_ht(h) if fixed is None else fixed
        w *= xht / (w @ (h @ h.T) + eps)
        if x_t is not None:  # Wᵀ X (k × m)
            wtx = np.asarray(x_t @ w, dtype=np.float64).T
            h *= wtx / ((w.T @ w) @ h + eps)
        if it % 10 == 9 or it == max_iter - 1:
            cross = np.einsum("ij,ij->", xht, w)  # tr(Wᵀ X Hᵀ) with the new W
            err = norm_x - 2 * cross + float(np.einsum("ij,ij->", w.T @ w, h @ h.T))
            if previous - err < tol * max(norm_x, eps):
                break
            previous = err
    return w, h


def topic_model(texts: DistinctTexts, terms: PairTerms, *, n_topics: int = 8, min_df: int = 3,
                max_df: float = 0.5, max_terms: int = 2_000, max_fit_docs: int = 3_000,
                top_terms: int = 6, seed: int = 0) -> TopicModel:
    """NMF topics over the TF-IDF of the tickets' distinct texts (see the module doc)."""
    n_docs = int(texts.pair_of_doc.size)
    empty = TopicModel((), np.full(n_docs, -1, dtype=np.int64))
    if n_docs == 0 or terms.pair.size == 0:
        return empty
    pair_weight = np.bincount(texts.pair_of_doc, minlength=texts.pairs).astype(np.float64)
    df = np.bincount(terms.term, weights=pair_weight[terms.pair], minlength=len(terms.names))
    ok = (df >= min_df) & (df <= max_df * n_docs)
    cand = np.flatnonzero(ok)
    names_arr = np.asarray(terms.names, dtype=object)
    # the most frequent terms (ties by name: deterministic), at most max_terms
    cand = cand[np.lexsort((names_arr[cand], -df[cand]))][:max_terms]
    if cand.size < n_topics:
        return empty
    col_of = np.full(len(terms.names), -1, dtype=np.int64)
    col_of[cand] = np.arange(cand.size)
    keep = col_of[terms.term] >= 0
    rows, cols = terms.pair[keep], col_of[terms.term[keep]]
    idf = np.log((1 + n_docs) / (1 + df[cand])) + 1.0  # scikit-learn's smooth idf
    vals = idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=vals ** 2, minlength=texts.pairs))
    vals = vals / np.maximum(norms[rows], 1e-12)  # l2-normalised rows, binary tf
    # fit on the most frequent distinct texts (a deterministic subset), then assign all
    fit_pairs = np.argsort(-pair_weight, kind="stable")[:max_fit_docs]
    fit_pairs = fit_pairs[norms[fit_pairs] > 0]
    local = np.full(texts.pairs, -1, dtype=np.int64)
    local[fit_pairs] = np.arange(fit_pairs.size)
    sel = local[rows] >= 0
    k = min(n_topics, int(fit_pairs.size))
    if k == 0:
        return empty
    _, h = nmf(local[rows[sel]], cols[sel], vals[sel], (int(fit_pairs.size), int(cand.size)), k,
               seed=seed)
    w, _ = nmf(rows, cols, vals, (texts.pairs, int(cand.size)), k, seed=seed, components=h,
               max_iter=5)
    best = np.argmax(w, axis=1)
    best[w.max(axis=1) <= 1e-9] = -1
    topic_of_doc = best[texts.pair_of_doc]
    sizes = np.bincount(topic_of_doc[topic_of_doc >= 0], minlength=k)
    order = np.lexsort((np.arange(k), -sizes))  # biggest topic first
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(k)
    topic_of_doc = np.where(topic_of_doc >= 0, renumber[np.maximum(topic_of_doc, 0)], -1)
    names = names_arr[cand]
    topics = []
    for new, old in enumerate(order.tolist()):
        top = np.lexsort((names, -h[old]))[:top_terms]
        words = tuple(str(names[t]) for t in top if h[old, t] > 0)
        topics.append(Topic(new + 1, _label(words), words, int(sizes[old]),
                            round(float(sizes[old]) / n_docs, 4)))
    return TopicModel(tuple(topics), np.where(topic_of_doc >= 0, topic_of_doc + 1, -1))


def _label(words: tuple[str, ...], n: int = 3) -> str:
    """Up to ``n`` of a topic's terms, leaving out words a chosen bigram already says."""
    chosen: list[str] = []
    for w in words:
        said = {part for c in chosen for part in c.split()}
        if set(w.split()) <= said:
            continue
        chosen = [c for c in chosen if not set(c.split()) <= set(w.split())] + [w]
        if len(chosen) == n:
            break
    return " / ".join(chosen)


def cell_topics(model: TopicModel, mask: np.ndarray, top: int = 3) -> tuple[CellTopic, ...]:
    """The ``top`` topics of the tickets selected by ``mask``, by share of them."""
    n = int(mask.sum())
    if n == 0 or not model.topics:
        return ()
    of = model.topic_of_doc[mask]
    counts = np.bincount(of[of > 0], minlength=len(model.topics) + 1)
    order = [t for t in np.lexsort((np.arange(counts.size), -counts)).tolist() if t > 0 and counts[t]]
    labels = {t.topic: t.label for t in model.topics}
    return tuple(CellTopic(t, labels[t], int(counts[t]), round(float(counts[t]) / n, 4))
                 for t in order[:top])


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
        days = at // 86400
        if by == "week":  # the ISO week's Monday (1970-01-01 was a Thursday)
            start = days - (days + 3) % 7
            unit = "datetime64[D]"
        else:
            start = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
            unit = "datetime64[M]"
        uniq, codes = np.unique(start, return_inverse=True)
        return codes.astype(np.int64).reshape(-1), [str(u) for u in uniq.astype(unit).astype(str)]
    col = tbl.column(by).combine_chunks()
    codes, names = _factorize_sorted(pc.fill_null(col.cast(pa.string()), "(none)"))
    return codes, [str(u) for u in names]


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
    n_topics: int = 8,
    seed: int = 0,
) -> TopicsResult:
    """Top keywords, NMF topics and sentiment per ``by`` cell for tickets created in the
    window (``n_topics=0``: no topic model)."""
    if by not in BY_CHOICES:
        raise UsageError(f"--by must be one of {', '.join(BY_CHOICES)}")
    if top_n <= 0 or min_df <= 0 or n_topics < 0:
        raise UsageError("--top and --min-df must be positive, --topics at least 0")
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
    terms = pair_terms(texts)
    names_t, ct, per_cell_docs = term_counts(texts, codes, len(names), terms)
    model = (topic_model(texts, terms, n_topics=n_topics, min_df=min_df, seed=seed)
             if n_topics else TopicModel((), np.full(n, -1, dtype=np.int64)))
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
            topics=cell_topics(model, mask),
        )

    cells = tuple(cell(name, codes == k, per_cell[k]) for k, name in enumerate(names))
    return TopicsResult(
        as_of=as_of, window=filters.describe(), by=by, tickets=n, cells=cells,
        overall=cell("all", np.ones(n, dtype=bool), overall_kw), distinct_texts=texts.pairs,
        scored_texts=n_scored, topics=model.topics,
    )
