"""Text insights: tokens, c-TF-IDF keywords, VADER sentiment (offline), topics per group and week."""

from __future__ import annotations

import socket
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

try:  # package mode (tests/analytics/__init__.py present) or rootdir mode
    from .insights_helpers import (  # noqa: F401 - fixtures
        Built,
        cli_json,
        insights_built,
        insights_db,
        insights_repo,
        run_cli,
    )
except ImportError:
    from insights_helpers import (  # type: ignore[no-redef]  # noqa: F401 - fixtures
        Built,
        cli_json,
        insights_built,
        insights_db,
        insights_repo,
        run_cli,
    )

from deskpulse.analytics import text as T


def _doc_terms(subjects: list[str | None], descriptions: list[str | None]) -> dict[int, set[str]]:
    texts = T.DistinctTexts.of(pa.array(subjects, pa.string()), pa.array(descriptions, pa.string()))
    n = len(subjects)
    names, ct, docs = T.term_counts(texts, np.arange(n), n)  # one cell per ticket
    assert (docs == 1).all() and set(np.unique(ct)) <= {0.0, 1.0}  # a ticket counts once per term
    return {d: {names[t] for t in np.flatnonzero(ct[d])} for d in range(n)}


def test_terms_are_content_words_and_adjacent_bigrams() -> None:
    terms = _doc_terms(["Double charge", "Double charge", None, "Login"],
                       ["Hi team! Double charge on my card INV-42", "double charge today, thanks",
                        None, "Login fails: ERROR 500, login page blank"])
    assert terms[0] == {"double", "charge", "card", "inv", "double charge", "card inv"}
    assert terms[1] == {"double", "charge", "today", "double charge", "charge today"}
    assert terms[2] == set()  # an empty ticket has no terms
    # subject and description are separate texts: no bigram across them ("login login");
    # numbers and punctuation are not words, so "ERROR 500, login" makes "error login"
    assert terms[3] == {"login", "fails", "error", "page", "blank", "login fails", "fails error",
                        "error login", "login page", "page blank"}


def test_distinct_texts_share_work() -> None:
    texts = T.DistinctTexts.of(pa.array(["A", "A", "A", "B"]),
                               pa.array(["order #1 late", "order #22 late", "order #3 late", "x"]))
    assert texts.pairs == 2 and texts.pair_of_doc.tolist() == [0, 0, 0, 1]
    assert texts.text(0) == "A order #0 late"


def test_ctfidf_prefers_terms_specific_to_a_cell() -> None:
    subjects = ["refund invoice"] * 3 + ["refund crash"] + ["crash login"] * 3 + ["refund login"]
    texts = T.DistinctTexts.of(pa.array(subjects), pa.array([None] * 8, pa.string()))
    names, ct, docs = T.term_counts(texts, np.array([0, 0, 0, 0, 1, 1, 1, 1]), 2)
    kws = T.ctfidf(names, ct, docs, top_n=2, min_df=2)
    assert [k.term for k in kws[0]][:1] == ["invoice"]
    assert kws[1][0].term == "login" and kws[1][0].tickets == 4 and kws[1][0].share == 1.0


def test_vader_is_offline_and_digit_masking_keeps_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    SentimentIntensityAnalyzer = vader.SentimentIntensityAnalyzer

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("sentiment must not touch the network")

    monkeypatch.setattr(socket, "socket", no_network)
    subjects = ["Angry", "Thanks", "Order", None]
    descriptions = ["I am really frustrated and angry about invoice INV-889346!",
                    "Great service, thank you so much :)", "Order #3974634 arrived.", None]
    texts = T.DistinctTexts.of(pa.array(subjects, pa.string()), pa.array(descriptions, pa.string()))
    scores, scored = T.vader_compound(texts)
    ref = SentimentIntensityAnalyzer()
    expected = [ref.polarity_scores(f"{s or ''} {d or ''}".strip())["compound"]
                for s, d in zip(subjects, descriptions, strict=True)]
    np.testing.assert_allclose(scores, expected)
    assert scores[0] < -0.5 < 0.5 < scores[1] and scored == 4
    capped, scored = T.vader_compound(texts, max_texts=2)
    assert scored == 2 and int(np.isnan(capped).sum()) == 2


def test_topics_by_group_on_the_sample(insights_repo: Any) -> None:
    pytest.importorskip("vaderSentiment")
    r = T.topics(insights_repo, by="group", top_n=8)
    assert r.tickets == sum(c.tickets for c in r.cells) > 500
    cells = {c.value: c for c in r.cells}
    billing = {k.term for k in cells["Billing"].keywords}
    technical = {k.term for k in cells["Technical"].keywords}
    assert billing & {"invoice", "charge", "refund", "billed", "payment"}
    assert technical & {"error", "api", "broken", "sync", "crash"}
    assert not billing & (T.STOPWORDS | T.BOILERPLATE)
    for c in r.cells:
        assert c.sentiment_scored == c.tickets
        assert c.sentiment_mean is not None and -1 <= c.sentiment_mean <= 1
        assert c.negative_share is not None and c.positive_share is not None
        assert c.negative_share + c.positive_share <= 1
        assert all(0 < k.share <= 1 for k in c.keywords)
        assert [k.score for k in c.keywords] == sorted((k.score for k in c.keywords), reverse=True)
    assert r.overall is not None and r.overall.tickets == r.tickets
    assert r.as_dict()["cells"][0]["keywords"][0]["term"]


def test_missing_vader_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, insights_repo: Any) -> None:
    import sys

    from deskpulse.errors import ComponentMissingError

    monkeypatch.setitem(sys.modules, "vaderSentiment.vaderSentiment", None)
    with pytest.raises(ComponentMissingError, match="vaderSentiment"):
        T.topics(insights_repo)
    assert T.topics(insights_repo, sentiment=False).tickets > 0


def test_topics_by_week_and_empty(insights_repo: Any, insights_db: Built) -> None:
    r = T.topics(insights_repo, by="week", sentiment=False)
    weeks = [c.value for c in r.cells]
    assert weeks == sorted(weeks) and 4 <= len(weeks) <= 5
    assert all(c.sentiment_mean is None for c in r.cells) and r.scored_texts == 0
    empty = T.topics(insights_repo, filters=T.Filters(values={"group": "nobody"}))
    assert empty.empty and empty.message == "no tickets in range"


def test_cli_topics(insights_db: Built) -> None:
    pytest.importorskip("vaderSentiment")
    out = cli_json(insights_db.db, "topics", "--by", "week", "--top", "5")
    assert out["by"] == "week" and all(len(c["keywords"]) <= 5 for c in out["cells"])
    code, text = run_cli(insights_db.db, "topics", "--by", "group")
    assert code == 0 and "Topics by group" in text and "Billing" in text
    code, text = run_cli(insights_db.db, "topics", "--by", "category", "--format", "csv", "--days", "60")
    assert code == 0 and text.splitlines()[0].startswith("category,tickets,top_keywords,sentiment_mean")
    code, text = run_cli(insights_db.db, "topics", "--from", "2020-01-01", "--to", "2020-02-01")
    assert code == 0 and text.strip() == "no tickets in range"


# --- topics: NMF on TF-IDF ----------------------------------------------------------------------


def test_nmf_recovers_a_planted_factorisation() -> None:
    """Two disjoint blocks of terms: NMF puts each block in its own component."""
    rng = np.random.default_rng(1)
    rows, cols = [], []
    for d in range(60):
        block = 0 if d < 30 else 1
        for t in rng.choice(5, 3, replace=False):
            rows.append(d)
            cols.append(block * 5 + int(t))
    r, c = np.asarray(rows), np.asarray(cols)
    w, h = T.nmf(r, c, np.ones(r.size), (60, 10), 2, seed=0, max_iter=500)
    assert (w >= 0).all() and (h >= 0).all()
    topic_of_doc = np.argmax(w, axis=1)
    assert len(set(topic_of_doc[:30])) == 1 and len(set(topic_of_doc[30:])) == 1
    assert topic_of_doc[0] != topic_of_doc[30]
    # each component's weight sits on its own block of terms
    first = topic_of_doc[0]
    assert h[first, :5].sum() > 20 * h[first, 5:].sum()
    w2, h2 = T.nmf(r, c, np.ones(r.size), (60, 10), 2, seed=0, max_iter=500)
    np.testing.assert_array_equal(h, h2)  # deterministic for a seed


def test_topic_model_separates_themes_deterministically() -> None:
    billing = ["Double charge on my card", "Refund for a double charge", "Card charged twice, refund please",
               "Charge on card twice", "Refund the double charge"] * 4
    login = ["Login fails with password reset", "Password reset link broken", "Cannot login after password reset",
             "Login page loops, password reset", "Reset password link expired"] * 4
    subjects = billing + login
    texts = T.DistinctTexts.of(pa.array(subjects), pa.array([None] * len(subjects), pa.string()))
    terms = T.pair_terms(texts)
    model = T.topic_model(texts, terms, n_topics=2, min_df=3, max_df=0.9)
    assert len(model.topics) == 2
    by_topic = {t.topic: set(t.terms) for t in model.topics}
    of = model.topic_of_doc
    billing_topic, login_topic = int(of[0]), int(of[len(billing)])
    assert billing_topic != login_topic
    assert (of[: len(billing)] == billing_topic).all() and (of[len(billing):] == login_topic).all()
    assert {"charge", "refund", "card"} & by_topic[billing_topic]
    assert {"password", "login", "reset"} & by_topic[login_topic]
    assert sum(t.tickets for t in model.topics) == len(subjects)
    again = T.topic_model(texts, terms, n_topics=2, min_df=3, max_df=0.9)
    assert again.topics == model.topics and (again.topic_of_doc == model.topic_of_doc).all()
    cells = T.cell_topics(model, np.arange(len(subjects)) < len(billing))
    assert cells[0].topic == billing_topic and cells[0].share == 1.0


def test_topics_per_group_on_the_sample(insights_repo: Any) -> None:
    r = T.topics(insights_repo, by="group", sentiment=False, n_topics=6)
    assert 1 < len(r.topics) <= 6 and [t.topic for t in r.topics] == list(range(1, len(r.topics) + 1))
    assert sum(t.tickets for t in r.topics) <= r.tickets
    assert [t.tickets for t in r.topics] == sorted((t.tickets for t in r.topics), reverse=True)
    for c in r.cells:
        assert 0 < len(c.topics) <= 3 and sum(t.share for t in c.topics) <= 1.0 + 1e-9
    billing = {c.value: c for c in r.cells}["Billing"]
    labels = {t.topic: set(t.terms) for t in r.topics}
    assert labels[billing.topics[0].topic] & {"invoice", "charge", "refund", "charged", "card", "cancel",
                                             "subscription", "payment", "billed"}
    assert T.topics(insights_repo, by="group", sentiment=False, n_topics=6) == r  # deterministic
    none = T.topics(insights_repo, by="group", sentiment=False, n_topics=0)
    assert none.topics == () and all(c.topics == () for c in none.cells)
    assert "top_topics" in r.rows()[0] and r.as_dict()["topics"][0]["label"]


def test_cli_topics_model(insights_db: Built) -> None:
    out = cli_json(insights_db.db, "topics", "--by", "group", "--topics", "4", "--no-sentiment")
    assert 1 < len(out["topics"]) <= 4 and out["cells"][0]["topics"]
    code, text = run_cli(insights_db.db, "topics", "--by", "group", "--no-sentiment")
    assert code == 0 and "NMF topics" in text
    out = cli_json(insights_db.db, "topics", "--topics", "0", "--no-sentiment")
    assert out["topics"] == []
