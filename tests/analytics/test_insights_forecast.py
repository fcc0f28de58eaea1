"""Arrivals forecast (ETS vs seasonal naive, backtest MAPE) and the backlog clear date."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta
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
        run_cli,
    )

from deskpulse.analytics import forecast as F
from deskpulse.analytics.filters import Filters
from deskpulse.errors import UsageError


@pytest.fixture(scope="module")
def series(insights_repo: Any, insights_db: Built) -> np.ndarray:
    s = F.daily_arrivals(insights_repo, Filters(), insights_db.as_of)
    return s.to_numpy(dtype=np.float64)


def _statsmodels_known(y: np.ndarray, alpha: float, gamma: float) -> Any:
    holtwinters = pytest.importorskip("statsmodels.tsa.holtwinters")
    ExponentialSmoothing = holtwinters.ExponentialSmoothing

    level0 = float(np.mean(y[:7]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ExponentialSmoothing(
            y, trend=None, seasonal="add", seasonal_periods=7, initialization_method="known",
            initial_level=level0, initial_seasonal=y[:7] - level0,
        ).fit(smoothing_level=alpha, smoothing_seasonal=gamma, optimized=False)


def test_ets_recursion_equals_statsmodels(series: np.ndarray) -> None:
    """Same model, same weights, same initial states: the same one-step errors and forecasts."""
    for alpha, gamma in ((0.3, 0.2), (0.05, 0.14), (0.8, 0.0)):
        sse, level, season = F.ets_states(series, np.array([alpha]), np.array([gamma]))
        fit = F.EtsFit(alpha=alpha, gamma=gamma, level=float(level[0]),
                       season=tuple(season[0]), n=series.size, sigma=1.0)
        ref = _statsmodels_known(series, alpha, gamma)
        assert sse[0] == pytest.approx(float(np.sum((series - ref.fittedvalues) ** 2)), rel=1e-9)
        assert level[0] == pytest.approx(float(ref.level[-1]), rel=1e-12)
        n = series.size
        np.testing.assert_allclose(season[0][(n - 7 + np.arange(7)) % 7], ref.season[-7:], rtol=1e-9)
        # one week ahead both use the final states; from day 7 on statsmodels takes that weekday's
        # seasonal from a week before the last update, we take the last update (l_n + s_{n+h-m})
        np.testing.assert_allclose(fit.forecast(6), ref.forecast(6), rtol=1e-9, atol=1e-9)


def test_grid_fit_is_as_good_as_statsmodels(series: np.ndarray) -> None:
    pytest.importorskip("statsmodels")
    ours, naive = F.backtest(series, horizon=14, folds=4)
    theirs, _ = F.backtest(series, horizon=14, folds=4, engine="statsmodels")
    print(f"\nbacktest MAPE (14 days, 4 folds): ETS numpy {ours.mape_pct} %, "
          f"ETS statsmodels {theirs.mape_pct} %, seasonal naive {naive.mape_pct} %")
    assert ours.mape_pct is not None and theirs.mape_pct is not None and naive.mape_pct is not None
    assert ours.folds == 4 and ours.points == 56
    assert abs(ours.mape_pct - theirs.mape_pct) < 3
    assert ours.mape_pct < naive.mape_pct  # weekly ETS beats repeating last week
    assert ours.mape_pct < 35


def test_seasonal_naive_and_intervals() -> None:
    y = np.tile([10.0, 12, 14, 16, 18, 2, 1], 4)
    np.testing.assert_array_equal(F.seasonal_naive(y, 9), [10, 12, 14, 16, 18, 2, 1, 10, 12])
    fit = F.fit_ets(y)
    np.testing.assert_allclose(fit.forecast(7), y[:7], atol=1e-6)  # a perfect week is kept
    lo, hi = F.EtsFit(alpha=0.5, gamma=0.1, level=10, season=(0,) * 7, n=0, sigma=2).interval(9)
    width = hi - lo
    assert (np.diff(width) >= -1e-12).all() and width[0] == pytest.approx(2 * 1.2815515655 * 2)
    # the variance jumps by (α + γ)² at step 8 (one season ahead)
    var = ((hi - lo) / (2 * 1.2815515655)) ** 2
    assert var[7] - var[6] == pytest.approx(4 * (0.5 + 0.1) ** 2)
    with pytest.raises(UsageError):
        F.fit_ets(np.ones(10))


def test_forecast_arrivals_on_the_sample(insights_repo: Any, insights_db: Built) -> None:
    r = F.forecast_arrivals(insights_repo, horizon_days=14, folds=4)
    assert r.history_to == insights_db.as_of.date() - timedelta(days=1)
    n = insights_repo.scalar("SELECT count(*) FROM tickets WHERE deleted_at IS NULL AND created_at < $t",
                             t=insights_db.as_of)
    assert r.history_tickets == n
    assert len(r.days) == 14 and r.days[0].day == insights_db.as_of.date()
    assert all(d.lower_80 <= d.forecast <= d.upper_80 and d.forecast >= 0 for d in r.days)
    assert sum(w.forecast for w in r.weeks) == pytest.approx(sum(d.forecast for d in r.days), abs=0.5)
    assert sum(w.days for w in r.weeks) == 14
    # weekends are quieter in the sample: the forecast keeps the weekly shape
    weekday = np.mean([d.forecast for d in r.days if d.weekday in ("mon", "tue", "wed")])
    weekend = np.mean([d.forecast for d in r.days if d.weekday in ("sat", "sun")])
    assert weekday > 1.5 * weekend
    assert {b.model for b in r.backtest} == {"ets", "seasonal_naive"}
    d = r.as_dict()
    assert d["days"][0]["day"] == insights_db.as_of.date().isoformat()


def test_backlog_outlook_counts(insights_repo: Any, insights_db: Built) -> None:
    b = F.backlog_outlook(insights_repo, Filters(), as_of=insights_db.as_of, throughput_days=14)
    assert b is not None
    tk = insights_repo.query(
        "SELECT ticket_id, status FROM ticket_segments WHERE ended_at IS NULL").to_pandas()
    assert b.open_tickets == int((~tk["status"].isin(["solved", "closed"])).sum())
    # completions and reopens from the raw status events agree with the segment transitions
    lo = insights_db.as_of - timedelta(days=14)
    ev = insights_repo.query(
        "SELECT ticket_id, event_at, seq, to_value FROM ticket_events WHERE kind = 'status' "
        "AND event_at <= $t ORDER BY ticket_id, event_at, seq", t=insights_db.as_of).to_pandas()
    ev["prev"] = ev.groupby("ticket_id")["to_value"].shift()
    ev = ev[(ev["event_at"] >= lo) & (ev["event_at"] < insights_db.as_of) & (ev["to_value"] != ev["prev"])]
    done = ev["to_value"].isin(["solved", "closed"])
    completions = int((done & ~ev["prev"].isin(["solved", "closed"])).sum())
    reopens = int(((ev["prev"] == "solved") & ~done).sum())
    assert b.completions_per_day == pytest.approx(completions / 14, abs=0.01)
    assert b.reopens_per_day == pytest.approx(reopens / 14, abs=0.01)
    net = b.completions_per_day - b.arrivals_per_day - b.reopens_per_day
    assert b.net_burn_per_day == pytest.approx(net, abs=0.02)
    if b.clear_days is not None and b.open_tickets:
        assert b.clear_days == pytest.approx(b.open_tickets / b.net_burn_per_day, rel=0.05)
    else:
        assert "does not clear" in b.note
    by = insights_db.as_of.date() + timedelta(days=10)
    ahead = np.full(10, 20.0)
    b2 = F.backlog_outlook(insights_repo, Filters(), as_of=insights_db.as_of, throughput_days=14,
                           arrivals_ahead=ahead, clear_by=by)
    assert b2 is not None and b2.required_completions_per_day == pytest.approx(
        (b.open_tickets + 200 + b.reopens_per_day * 10) / 10, abs=0.05)
    with pytest.raises(UsageError):
        F.backlog_outlook(insights_repo, Filters(), as_of=insights_db.as_of, throughput_days=14,
                          clear_by=date(2020, 1, 1))


def test_filters_narrow_the_history(insights_repo: Any, insights_db: Built) -> None:
    start = datetime(2026, 2, 2)
    r = F.forecast_arrivals(insights_repo, filters=Filters(start_at=start, values={"group": "Billing"}),
                            folds=2)
    n = insights_repo.scalar(
        'SELECT count(*) FROM tickets WHERE deleted_at IS NULL AND "group" = $g AND created_at >= $s '
        "AND created_at < $t", g="Billing", s=start, t=insights_db.as_of)
    assert r.history_from == start.date() and r.history_tickets == n
    assert r.backlog is not None and r.backlog.open_tickets > 0


def test_cli_forecast(insights_db: Built) -> None:
    out = cli_json(insights_db.db, "forecast", "--horizon", "7", "--clear-by", "2026-05-20")
    assert len(out["days"]) == 7 and out["backlog"]["clear_by"] == "2026-05-20"
    assert out["backlog"]["required_completions_per_day"] > 0
    code, text = run_cli(insights_db.db, "forecast", "--by", "week", "--format", "csv")
    assert code == 0 and text.splitlines()[0] == "week_start,days,forecast,seasonal_naive"
    code, text = run_cli(insights_db.db, "forecast", "--days", "30", "--group", "Technical")
    assert code == 0 and "Arrivals forecast" in text and "Backtest" in text
    code, text = run_cli(insights_db.db, "forecast", "--from", "2020-01-01", "--to", "2020-03-01")
    assert code == 0 and text.strip() == "no tickets in range"
    code, _ = run_cli(insights_db.db, "forecast", "--days", "5")  # too short for a weekly season
    assert code == 2
