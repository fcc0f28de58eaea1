"""Breach risk and the next-best-ticket queue: remaining time, the model, its evaluation, ranking."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:  # package mode (tests/analytics/__init__.py present) or rootdir mode
    from .insights_helpers import (  # noqa: F401 - fixtures
        Built,
        cli_json,
        insights_built,
        insights_cfg,
        insights_db,
        insights_repo,
        make_store,
        run_cli,
    )
except ImportError:
    from insights_helpers import (  # type: ignore[no-redef]  # noqa: F401 - fixtures
        Built,
        cli_json,
        insights_built,
        insights_cfg,
        insights_db,
        insights_repo,
        make_store,
        run_cli,
    )

from deskpulse.analytics import risk
from deskpulse.analytics.filters import Filters
from deskpulse.analytics.insights_common import SlaContext, epoch_s
from deskpulse.errors import UsageError

REASON = re.compile(
    r"^(first reply|next reply|resolution) "
    r"(due in [\d.,]+ business (min|h)|overdue by [\d.,]+ business (min|h)|paused \(\w+\) · .+) · "
    r"(P[1-4]|\(none\)) · (\d+ % breach risk|breached)$"
)


@pytest.fixture(scope="module")
def model(insights_repo: Any, insights_cfg: Any) -> risk.BreachModel:
    return risk.fit_breach_model(insights_repo, insights_cfg)


@pytest.fixture(scope="module")
def open_frame(insights_repo: Any, insights_cfg: Any, model: risk.BreachModel) -> Any:
    return risk.open_clock_frame(insights_repo, insights_cfg, model)


def test_elapsed_reconstructed_from_segments_equals_the_engine(insights_repo: Any, insights_cfg: Any,
                                                                insights_db: Built) -> None:
    """Snapshot features rebuild elapsed business time; at the build's as_of it must equal ticket_sla."""
    ctx = SlaContext.load(insights_cfg)
    lo, hi = insights_db.as_of - timedelta(days=1), insights_db.as_of + timedelta(seconds=1)
    clocks_t, segs_t, _ = risk._history(insights_repo, lo, hi, risk.RiskSettings())
    clocks, segs = risk._clocks_and_segments(clocks_t, segs_t, ctx)
    is_open = np.isin(clocks.sla_status, risk.OPEN_SLA_STATUSES)
    assert is_open.sum() > 50
    rows = np.flatnonzero(is_open)
    at = np.full(rows.size, epoch_s(insights_db.as_of))
    feats = risk._snapshot_features(clocks, segs, rows, at, ctx)
    np.testing.assert_allclose(feats["elapsed_s"].to_numpy() / 60, clocks.elapsed_minutes[rows], atol=1e-6)
    # paused now <=> the engine says paused (or paused and already breached)
    paused_engine = clocks.sla_status[rows] == "paused"
    assert (feats["paused_now"].to_numpy()[paused_engine]).all()
    # the open-clock path (last segment + stored elapsed) agrees with the rebuild
    open_ = risk._open_clocks(insights_repo, ctx, as_of=insights_db.as_of, built=insights_db.as_of,
                              filters=Filters())
    # (the history leaves out clocks breached before its window: the open path has them all)
    assert open_ is not None and len(open_.clocks) >= rows.size
    got = dict(zip(zip(open_.clocks.ticket_id, open_.clocks.metric, open_.clocks.instance, strict=True),
                   zip(open_.features["status_at"], open_.features["paused_now"], strict=True), strict=True))
    for k, r in enumerate(rows.tolist()):
        key = (clocks.ticket_id[r], clocks.metric[r], clocks.instance[r])
        assert got[key] == (feats["status_at"].iloc[k], bool(feats["paused_now"].iloc[k]))


def test_elapsed_matches_history_at_past_instants(insights_repo: Any, insights_cfg: Any, tmp_path: Path,
                                                  insights_db: Built) -> None:
    """A build as of an earlier instant is the ground truth for snapshot features at that instant."""
    import shutil

    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    earlier = insights_db.as_of - timedelta(days=20, hours=5)
    copy = tmp_path / "earlier.duckdb"
    shutil.copy(insights_db.db, copy)
    store = open_store(str(copy))
    try:
        repo = store.tenant("default")
        build(repo, insights_cfg, as_of=earlier, full=True)
        truth = repo.query("SELECT ticket_id, metric, instance, elapsed_business_minutes FROM ticket_sla "
                           "WHERE status IN ('active', 'paused', 'active_breached')").to_pandas()
    finally:
        store.close()
    ctx = SlaContext.load(insights_cfg)
    lo, hi = earlier - timedelta(days=1), earlier + timedelta(seconds=1)
    clocks_t, segs_t, _ = risk._history(insights_repo, lo, hi, risk.RiskSettings())
    clocks, segs = risk._clocks_and_segments(clocks_t, segs_t, ctx)
    key = {(t, m, int(i)): k for k, (t, m, i) in enumerate(zip(clocks.ticket_id, clocks.metric, clocks.instance, strict=True))}
    # clocks open at `earlier` and not reopened-after-solve: compare elapsed
    picked = [(key[(r.ticket_id, r.metric, int(r.instance))], r.elapsed_business_minutes)
              for r in truth.itertuples() if (r.ticket_id, r.metric, int(r.instance)) in key]
    assert len(picked) > 30
    rows = np.asarray([p[0] for p in picked])
    feats = risk._snapshot_features(clocks, segs, rows, np.full(rows.size, epoch_s(earlier)), ctx)
    np.testing.assert_allclose(feats["elapsed_s"].to_numpy() / 60, [p[1] for p in picked], atol=1e-6)


def test_remaining_is_kernel_distance_to_due(open_frame: Any, insights_repo: Any, insights_cfg: Any,
                                             insights_db: Built) -> None:
    sla = insights_repo.query(
        "SELECT ticket_id, metric, instance, margin_minutes, status FROM ticket_sla "
        "WHERE status IN ('active', 'paused', 'active_breached')").to_pandas()
    merged = open_frame.merge(sla, on=["ticket_id", "metric", "instance"])
    assert len(merged) == len(open_frame) == len(sla)
    # at the build's as_of, F(due) − F(as_of) equals the engine's margin (target − elapsed)
    np.testing.assert_allclose(merged["remaining_business_minutes"], merged["margin_minutes"], atol=1e-3)
    # for running clocks not yet due it is the kernel distance F(due_at) − F(as_of)
    ctx = SlaContext.load(insights_cfg)
    due = merged[(merged["status"] == "active") & merged["due_at"].notna()]
    assert len(due) > 10
    cal = due["calendar"].to_numpy(dtype=object)
    due_s = due["due_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    dist = (ctx.positions(cal, due_s) - ctx.positions(cal, np.full(len(due), epoch_s(insights_db.as_of)))) / 60
    np.testing.assert_allclose(due["remaining_business_minutes"], dist, atol=1e-3)
    breached = merged["status"] == "active_breached"
    assert (merged.loc[breached, "breach_probability"] == 1.0).all()
    p = merged["breach_probability"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()


def test_later_as_of_projects_running_clocks(insights_repo: Any, insights_cfg: Any, model: risk.BreachModel,
                                            open_frame: Any, insights_db: Built) -> None:
    later = insights_db.as_of + timedelta(hours=30)
    moved = risk.open_clock_frame(insights_repo, insights_cfg, model, as_of=later)
    both = open_frame.merge(moved, on=["ticket_id", "metric", "instance"], suffixes=("_0", "_1"))
    ctx = SlaContext.load(insights_cfg)
    running = ~both["paused_0"].to_numpy()
    cal = both["calendar_0"].to_numpy(dtype=object)
    passed = (ctx.positions(cal, np.full(len(both), epoch_s(later)))
              - ctx.positions(cal, np.full(len(both), epoch_s(insights_db.as_of)))) / 60
    np.testing.assert_allclose(both["remaining_business_minutes_1"][running],
                               (both["remaining_business_minutes_0"] - passed)[running], atol=1e-3)
    np.testing.assert_allclose(both["remaining_business_minutes_1"][~running],
                               both["remaining_business_minutes_0"][~running], atol=1e-3)
    with pytest.raises(UsageError, match="before the last build"):
        risk.open_clock_frame(insights_repo, insights_cfg, model, as_of=insights_db.as_of - timedelta(days=1))


def test_irls_matches_scikit_learn() -> None:
    LogisticRegression = pytest.importorskip("sklearn.linear_model").LogisticRegression

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 6))
    y = (rng.random(4000) < 1 / (1 + np.exp(-(x @ [1.5, -2, 0.3, 0, 0.8, -0.1] + 0.4)))).astype(float)
    b0, w = risk.fit_logistic(x, y, l2=2.0, tol=1e-12)
    ref = LogisticRegression(C=0.5, tol=1e-12, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(w, ref.coef_[0], atol=1e-5)
    assert b0 == pytest.approx(ref.intercept_[0], abs=1e-5)


def test_scores_and_calibration_helpers() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    assert risk.brier_score(np.array([0.0, 0.0, 1.0, 1.0]), y) == 0
    assert risk.brier_score(np.full(4, 0.5), y) == 0.25
    assert risk.auc_score(np.array([0.1, 0.4, 0.35, 0.8]), y) == 0.75
    assert risk.auc_score(np.ones(3), np.ones(3)) is None
    bins = risk.calibration_table(np.array([0.05, 0.05, 0.95, 0.55]), np.array([0, 1, 1, 0], dtype=float))
    assert [(b.predicted_from, b.rows, b.mean_predicted, b.observed_rate) for b in bins] == [
        (0.0, 2, 0.05, 0.5), (0.5, 1, 0.55, 0.0), (0.9, 1, 0.95, 1.0)]


def test_model_beats_the_base_rate_on_a_later_period(insights_repo: Any, insights_cfg: Any) -> None:
    ev = risk.evaluate_breach_model(insights_repo, insights_cfg)
    assert ev.train_to <= ev.test_from < ev.test_to  # time split, test later
    assert ev.test_rows > 1000 and ev.train_rows > 1000
    assert ev.brier < ev.brier_base_rate and ev.brier < ev.brier_train_rate
    assert ev.brier_skill > 0.05
    assert ev.auc is not None and ev.auc > 0.7
    assert sum(b.rows for b in ev.calibration) == ev.test_rows
    rows = np.array([b.rows for b in ev.calibration])
    gap = np.abs(np.array([b.mean_predicted - b.observed_rate for b in ev.calibration]))
    assert float((rows * gap).sum() / rows.sum()) < 0.1  # expected calibration error
    d = ev.as_dict()
    assert d["test_from"].endswith("Z") and isinstance(d["calibration"], list)


def test_next_best_ranking_and_reasons(insights_repo: Any, insights_cfg: Any, model: risk.BreachModel,
                                       open_frame: Any) -> None:
    queue = risk.next_best(insights_repo, insights_cfg, limit=10_000, model=model)
    assert queue.open_clocks == len(open_frame)
    assert len(queue.items) == queue.open_tickets == open_frame["ticket_id"].nunique()
    ranked = risk.rank_open_clocks(open_frame)
    tiers = ranked["tier"].to_numpy()
    assert (np.diff(tiers) >= 0).all()
    overdue = ranked.loc[ranked["tier"] == 0, "remaining_business_minutes"].to_numpy()
    assert (np.diff(overdue) >= 0).all() and (overdue < 0).all()
    running = ranked[ranked["tier"] == 1]
    assert (np.diff(running["band"].to_numpy()) >= 0).all()
    for _, band in running.groupby("band"):
        assert (np.diff(band["remaining_business_minutes"].to_numpy()) >= 0).all()
    # each ticket's row is its most urgent clock
    for item in queue.items[:50]:
        assert REASON.match(item.reason), item.reason
    assert [i.rank for i in queue.items[:5]] == [1, 2, 3, 4, 5]
    assert queue.as_dict()["items"][0]["reason"] == queue.items[0].reason


def test_reason_format() -> None:
    row = {"metric": "first_response", "priority": "high", "remaining_business_minutes": 14.2,
           "breach_probability": 0.8234, "tier": 1, "sla_status": "active", "ticket_status": "open"}
    assert risk.reason(row) == "first reply due in 14 business min · P2 · 82 % breach risk"
    assert risk.reason({**row, "tier": 0, "remaining_business_minutes": -150}) == (
        "first reply overdue by 2.5 business h · P2 · breached")
    assert risk.reason({**row, "metric": "resolution", "tier": 2, "ticket_status": "pending"}) == (
        "resolution paused (pending) · 14 business min left · P2 · 82 % breach risk")


def test_model_cache_is_per_build(insights_repo: Any, insights_cfg: Any, tmp_path: Path) -> None:
    first = risk.cached_breach_model(insights_repo, insights_cfg, cache_dir=tmp_path)
    files = list(tmp_path.glob("breach_model_*.json"))
    assert len(files) == 1
    again = risk.cached_breach_model(insights_repo, insights_cfg, cache_dir=tmp_path)
    assert again == first  # read back, not refitted: identical to the float
    other = risk.cached_breach_model(insights_repo, insights_cfg, cache_dir=tmp_path,
                                     settings=risk.RiskSettings(train_days=21))
    assert other != first and len(list(tmp_path.glob("breach_model_*.json"))) == 2
    files[0].write_text("{not json")
    assert risk.cached_breach_model(insights_repo, insights_cfg, cache_dir=tmp_path) == first
    # a model of an older build of the same store and tenant is removed when a new one is written
    stale = files[0].with_name("_".join(files[0].name.split("_")[:3]) + "_000000000000_x.json")
    stale.write_text("{}")
    risk.cached_breach_model(insights_repo, insights_cfg, cache_dir=tmp_path, refit=True)
    assert not stale.exists() and files[0].exists()


def test_cli_next_and_risk_model(insights_db: Built) -> None:
    out = cli_json(insights_db.db, "next", "--limit", "5", "--group", "Billing")
    assert len(out["items"]) == 5 and all(i["group"] == "Billing" for i in out["items"])
    assert out["model"]["train_rows"] > 0
    code, text = run_cli(insights_db.db, "next", "--limit", "3")
    assert code == 0 and "Next best tickets" in text
    ev = cli_json(insights_db.db, "risk", "model", "--train-days", "21", "--test-days", "14")
    assert ev["brier"] < ev["brier_base_rate"]
    code, text = run_cli(insights_db.db, "risk", "model", "--format", "csv")
    assert code == 0 and text.startswith("predicted_from,predicted_to,rows,mean_predicted,observed_rate")


def test_cli_empty_window_says_so(insights_db: Built) -> None:
    code, text = run_cli(insights_db.db, "next", "--from", "2020-01-01", "--to", "2020-02-01")
    assert code == 0 and text.strip() == "no tickets in range"
    out = cli_json(insights_db.db, "next", "--group", "No Such Group")
    assert out["message"] == "no tickets in range" and out["items"] == []


def test_cli_needs_a_build(tmp_path: Path) -> None:
    code, _ = run_cli(tmp_path / "empty.duckdb", "next")
    assert code == 2


@pytest.mark.postgres
def test_insights_identical_on_duckdb_and_postgres(pg_url: str, tmp_path: Path) -> None:
    duck = make_store(tmp_path / "duck", 1500)
    make_store(tmp_path / "pg", 1500, db_url=pg_url, data=duck.data)
    args = ("next", "--limit", "200")
    a, b = cli_json(duck.db, *args), cli_json(pg_url, *args)
    assert a["open_clocks"] > 20 and a == b
    settings = ("risk", "model", "--train-days", "21", "--test-days", "14", "--gap-days", "5")
    assert cli_json(duck.db, *settings) == cli_json(pg_url, *settings)
    for args in (("forecast", "--horizon", "7", "--clear-by", "2026-05-20"),
                 ("staffing", "--roster", str(duck.data / "agents.csv")),
                 ("topics", "--by", "week", "--no-sentiment")):
        assert cli_json(duck.db, *args) == cli_json(pg_url, *args), args


def test_isotonic_calibration_matches_scikit_learn() -> None:
    IsotonicRegression = pytest.importorskip("sklearn.isotonic").IsotonicRegression

    rng = np.random.default_rng(7)
    p = np.round(rng.random(4000), 2)  # ties, like a model's repeated predictions
    y = (rng.random(4000) < p**1.7).astype(float)
    kx, ky = risk.isotonic_knots(p, y)
    assert list(kx) == sorted(kx) and list(ky) == sorted(ky)  # a non-decreasing map
    ref = IsotonicRegression(out_of_bounds="clip").fit(p, y)
    grid = np.linspace(-0.2, 1.2, 1001)
    np.testing.assert_allclose(np.interp(grid, kx, ky), ref.predict(grid), atol=1e-12)
    assert risk.isotonic_knots(np.zeros(0), np.zeros(0)) == ((), ())


def _worst_gap(bins: Any, least: int = 100) -> float:
    return max(abs(b.mean_predicted - b.observed_rate) for b in bins if b.rows >= least)


def test_reliability_on_a_later_period(insights_repo: Any, insights_cfg: Any) -> None:
    """Reliability check of the calibrated model on the held-out (later) period of generated
    data: in every bin with at least 100 rows the mean predicted breach probability is within
    0.15 of the observed breach rate — the top bins included — the expected calibration error
    is at most 2 points, and calibration beats the bare regression on both."""
    ev = risk.evaluate_breach_model(insights_repo, insights_cfg)
    assert ev.calibration_method.startswith("isotonic on the latest")
    big = [b for b in ev.calibration if b.rows >= 100]
    assert len(big) >= 5 and any(b.predicted_from >= 0.9 for b in big)
    for b in big:
        assert abs(b.mean_predicted - b.observed_rate) <= 0.15, b
    assert ev.ece <= 0.02 and ev.ece <= ev.ece_uncalibrated
    assert ev.brier < ev.brier_base_rate
    # the same fit without calibration (share 0): the regression's own probabilities
    bare = risk.evaluate_breach_model(insights_repo, insights_cfg,
                                      settings=risk.RiskSettings(calibration_share=0))
    assert bare.calibration_method == "none"
    assert _worst_gap(ev.calibration) < _worst_gap(bare.calibration)
    assert ev.ece < bare.ece
    with pytest.raises(UsageError):
        risk.RiskSettings(calibration_share=1.0)


def test_calibrated_model_round_trips_through_json(model: risk.BreachModel) -> None:
    assert model.calibration_x and model.calibration_rows > 0
    again = risk.BreachModel.from_json(model.to_json())
    assert again == model
