"""Arrivals forecast and backlog outlook (issue 5 item 6, seed 003).

One job: forecast daily and weekly ticket arrivals with weekly seasonality, score the forecast
against a seasonal-naive baseline by a rolling-origin backtest (MAPE), and say when the open
backlog clears at current throughput and what throughput would clear it by a given date.

- **Series**: tickets created per UTC day (zero-filled) from the window start (or the first
  ticket) up to the last full day before ``as_of``.
- **Model**: additive Holt-Winters, ETS(A,N,A) with a 7-day season (no trend: over a 2–4 week
  horizon a trend adds more variance than it removes). Smoothing weights α (level) and γ
  (season) are the least-squares fit of the one-step-ahead errors over a 50 × 50 grid with
  γ ≤ 1 − α, run for the whole grid at once in numpy; initial states are the first week's mean
  and its deviations. 80 % intervals from the ETS(A,N,A) variance
  ``σ²·(1 + Σ_{j<h} (α + γ·[j mod 7 = 0])²)``. ``engine="statsmodels"`` fits statsmodels'
  ``ExponentialSmoothing`` (same model, estimated initial states) instead — slower to import,
  so not the default of the CLI.
- **Baseline**: seasonal naive — each day repeats the same weekday of the last observed week.
- **Backtest**: origins every 7 days going back from the end (``folds``), each forecasting
  ``horizon`` days from the history before it; MAPE over days with at least one arrival, and
  WAPE (Σ|error| / Σ actual).
- **Backlog**: open = tickets whose status at the build's ``as_of`` is not solved/closed (the
  last ``ticket_segments`` row of each ticket); over the last ``throughput_days``: arrivals, reopens (solved → not
  closed) and completions (into solved/closed from an unsolved status) per day. Net burn =
  completions − arrivals − reopens per day; clear date = as_of + open / net burn when it is
  positive. Throughput needed by a date D = (open + forecast arrivals until D + reopens/day ·
  days) / days until D.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from deskpulse.analytics.filters import Filters
from deskpulse.analytics.insights_common import (
    NO_TICKETS,
    FloatArray,
    build_as_of,
    jsonable,
    resolve_as_of,
)
from deskpulse.errors import ComponentMissingError, UsageError
from deskpulse.store import TenantStore

SEASON_DAYS: Final = 7
Z80: Final = 1.2815515655446004
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ENGINES: Final = ("numpy", "statsmodels")


# --- models on one daily series ----------------------------------------------------------------


@dataclass(frozen=True)
class EtsFit:
    """A fitted ETS(A,N,A): smoothing weights, final states and the one-step error scale."""

    alpha: float
    gamma: float
    level: float
    season: tuple[float, ...]  # season[k] applies to day t with t % 7 == k (t counted from 0)
    n: int
    sigma: float
    engine: str = "numpy"
    _statsmodels: Any = field(default=None, repr=False, compare=False)

    def forecast(self, horizon: int) -> FloatArray:
        if self._statsmodels is not None:
            return np.asarray(self._statsmodels.forecast(horizon), dtype=np.float64)
        idx = (self.n + np.arange(horizon)) % SEASON_DAYS
        return self.level + np.asarray(self.season)[idx]

    def interval(self, horizon: int) -> tuple[FloatArray, FloatArray]:
        """80 % prediction interval per step (lower clipped at 0)."""
        mid = self.forecast(horizon)
        j = np.arange(1, horizon)
        c = self.alpha + self.gamma * (j % SEASON_DAYS == 0)
        var = self.sigma**2 * (1 + np.concatenate([[0.0], np.cumsum(c**2)]))
        half = Z80 * np.sqrt(var)
        return np.maximum(mid - half, 0.0), mid + half


def ets_states(y: FloatArray, alpha: FloatArray, gamma: FloatArray
               ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Run ETS(A,N,A) for many (α, γ) pairs at once: (SSE, final level, final season[G, 7])."""
    m = SEASON_DAYS
    level = np.full(alpha.size, float(np.mean(y[:m])))
    season = np.tile(y[:m] - level[0], (alpha.size, 1))
    sse = np.zeros(alpha.size)
    for t in range(y.size):
        k = t % m
        err = y[t] - (level + season[:, k])
        sse += err * err
        level = level + alpha * err
        season[:, k] += gamma * err
    return sse, level, season


def fit_ets(y: FloatArray, *, engine: str = "numpy") -> EtsFit:
    """Fit ETS(A,N,A) with a weekly season to a daily series (at least two weeks)."""
    if y.size < 2 * SEASON_DAYS:
        raise UsageError(f"a weekly-seasonal forecast needs at least {2 * SEASON_DAYS} days of history, got {y.size}")
    if engine == "statsmodels":
        return _fit_statsmodels(y)
    if engine != "numpy":
        raise UsageError(f"unknown forecast engine {engine!r}; use {', '.join(ENGINES)}")
    grid = np.linspace(0.01, 0.99, 50)
    a, g = np.meshgrid(grid, np.linspace(0.0, 0.98, 50), indexing="ij")
    ok = g <= 1 - a
    alpha, gamma = a[ok], g[ok]
    sse, level, season = ets_states(y, alpha, gamma)
    best = int(np.argmin(sse))
    dof = max(y.size - (2 + SEASON_DAYS), 1)
    return EtsFit(alpha=float(alpha[best]), gamma=float(gamma[best]), level=float(level[best]),
                  season=tuple(float(v) for v in season[best]), n=int(y.size),
                  sigma=float(np.sqrt(sse[best] / dof)))


def _fit_statsmodels(y: FloatArray) -> EtsFit:
    try:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
    except ImportError as exc:
        raise ComponentMissingError(
            "--engine statsmodels needs the statsmodels package (pip install statsmodels)") from exc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ExponentialSmoothing(y, trend=None, seasonal="add", seasonal_periods=SEASON_DAYS,
                                      initialization_method="estimated").fit()
    params = fitted.params
    resid = np.asarray(fitted.resid, dtype=np.float64)
    dof = max(y.size - (2 + SEASON_DAYS), 1)
    return EtsFit(alpha=float(params["smoothing_level"]), gamma=float(params["smoothing_seasonal"]),
                  level=float("nan"), season=(), n=int(y.size),
                  sigma=float(np.sqrt(np.sum(resid**2) / dof)), engine="statsmodels",
                  _statsmodels=fitted)


def seasonal_naive(y: FloatArray, horizon: int) -> FloatArray:
    """Each future day repeats the same weekday of the last observed week."""
    last_week = y[-SEASON_DAYS:]
    return np.asarray(last_week[np.arange(horizon) % SEASON_DAYS], dtype=np.float64)


@dataclass(frozen=True)
class BacktestScore:
    """Rolling-origin backtest of one model."""

    model: str
    mape_pct: float | None
    wape_pct: float | None
    folds: int
    horizon_days: int
    points: int


def backtest(y: FloatArray, *, horizon: int, folds: int, engine: str = "numpy",
             min_train: int = 3 * SEASON_DAYS) -> tuple[BacktestScore, BacktestScore]:
    """MAPE/WAPE of ETS and seasonal naive over ``folds`` origins, 7 days apart, ending at the end."""
    origins = [y.size - horizon - SEASON_DAYS * j for j in range(folds)]
    origins = sorted(o for o in origins if o >= min_train)
    errs: dict[str, list[FloatArray]] = {"ets": [], "seasonal_naive": []}
    actuals: list[FloatArray] = []
    for o in origins:
        train, actual = y[:o], y[o:o + horizon]
        errs["ets"].append(fit_ets(train, engine=engine).forecast(horizon) - actual)
        errs["seasonal_naive"].append(seasonal_naive(train, horizon) - actual)
        actuals.append(actual)
    scores = []
    for name in ("ets", "seasonal_naive"):
        if not origins:
            scores.append(BacktestScore(name, None, None, 0, horizon, 0))
            continue
        e = np.concatenate(errs[name])
        act = np.concatenate(actuals)
        pos = act > 0
        mape = float(np.mean(np.abs(e[pos]) / act[pos]) * 100) if pos.any() else None
        wape = float(np.sum(np.abs(e)) / np.sum(act) * 100) if act.sum() > 0 else None
        scores.append(BacktestScore(name, None if mape is None else round(mape, 2),
                                    None if wape is None else round(wape, 2), len(origins),
                                    horizon, int(act.size)))
    return scores[0], scores[1]


# --- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayForecast:
    day: date
    weekday: str
    forecast: float
    lower_80: float
    upper_80: float
    seasonal_naive: float


@dataclass(frozen=True)
class WeekForecast:
    week_start: date
    days: int  # days of this week inside the horizon
    forecast: float
    seasonal_naive: float


@dataclass(frozen=True)
class BacklogOutlook:
    """When the open backlog clears at current throughput (and what clears it by a date)."""

    as_of: datetime
    open_tickets: int
    throughput_days: int
    arrivals_per_day: float
    reopens_per_day: float
    completions_per_day: float
    net_burn_per_day: float
    clear_days: float | None
    clear_date: date | None
    clear_by: date | None = None
    required_completions_per_day: float | None = None
    note: str = ""


@dataclass(frozen=True)
class ArrivalsForecast:
    """``deskpulse forecast``: the daily/weekly forecast, its backtest and the backlog outlook."""

    as_of: datetime
    window: str
    history_from: date | None
    history_to: date | None  # last day of history (inclusive)
    history_days: int
    history_tickets: int
    horizon_days: int
    engine: str
    alpha: float | None
    gamma: float | None
    days: tuple[DayForecast, ...]
    weeks: tuple[WeekForecast, ...]
    backtest: tuple[BacktestScore, ...]
    backlog: BacklogOutlook | None
    message: str = ""

    @property
    def empty(self) -> bool:
        return self.history_tickets == 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


# --- queries ------------------------------------------------------------------------------------


def daily_arrivals(repo: TenantStore, filters: Filters, day_end: datetime) -> pd.Series:
    """Tickets created per UTC day before ``day_end`` (zero-filled between first and last day)."""
    pred, params = filters.ticket_predicate("t")
    tbl = repo.query(
        f"SELECT CAST(t.created_at AS DATE) AS day, count(*) AS arrivals FROM tickets t "  # noqa: S608
        f"WHERE {pred} AND t.created_at < $day_end GROUP BY 1 ORDER BY 1",
        day_end=day_end, **params)
    if tbl.num_rows == 0:
        return pd.Series([], dtype=np.float64)
    s = pd.Series(np.asarray(tbl.column("arrivals").to_numpy(), dtype=np.float64),
                  index=pd.to_datetime(tbl.column("day").to_pandas()))
    start = pd.Timestamp(filters.start_at.date()) if filters.start_at else s.index.min()
    full = pd.date_range(start, pd.Timestamp(day_end.date()) - pd.Timedelta(days=1), freq="D")
    return s.reindex(full, fill_value=0.0)


def backlog_outlook(repo: TenantStore, filters: Filters, *, as_of: datetime, throughput_days: int,
                    arrivals_ahead: FloatArray | None = None, clear_by: date | None = None
                    ) -> BacklogOutlook | None:
    """Open backlog at the build's ``as_of`` and its clear date at the last N days' throughput."""
    built = build_as_of(repo)
    if built is None:
        return None
    dims = Filters(values=filters.values)
    pred, params = dims.ticket_predicate("t")
    # the build leaves deleted tickets out of ticket_segments: join tickets only to filter
    seg_join = f"JOIN tickets t ON t.ticket_id = g.ticket_id AND {pred} " if filters.values else ""
    seg_params = params if filters.values else {}
    open_n = int(repo.scalar(
        f"SELECT count(*) FROM ticket_segments g {seg_join}"  # noqa: S608
        "WHERE g.ended_at IS NULL AND g.status NOT IN ('solved', 'closed')", **seg_params) or 0)
    lo = built - timedelta(days=throughput_days)
    arrivals = int(repo.scalar(
        f"SELECT count(*) FROM tickets t WHERE {pred} AND t.created_at >= $lo AND t.created_at < $hi",  # noqa: S608
        lo=lo, hi=built, **params) or 0)
    # a transition = a segment starting in the window and the one before it (ending then)
    flows = repo.rows(
        "SELECT sum(CASE WHEN g.status IN ('solved', 'closed') AND p.status NOT IN ('solved', 'closed') "  # noqa: S608
        "THEN 1 ELSE 0 END), "
        "sum(CASE WHEN p.status = 'solved' AND g.status NOT IN ('solved', 'closed') THEN 1 ELSE 0 END) "
        "FROM ticket_segments g JOIN ticket_segments p ON p.ticket_id = g.ticket_id "
        f"AND p.segment = g.segment - 1 AND p.ended_at = g.started_at {seg_join}"
        "WHERE g.started_at >= $lo AND g.started_at < $hi AND p.ended_at >= $lo AND p.ended_at < $hi",
        lo=lo, hi=built, **seg_params)
    completions = int(flows[0][0] or 0) if flows else 0
    reopens = int(flows[0][1] or 0) if flows else 0
    per = float(throughput_days)
    arr_d, reo_d, com_d = arrivals / per, reopens / per, completions / per
    net = com_d - arr_d - reo_d
    clear_days = open_n / net if net > 0 else (0.0 if open_n == 0 else None)
    note = "" if clear_days is not None else (
        f"the backlog grows by {-net:.1f} tickets a day at current throughput: it does not clear")
    required = None
    if clear_by is not None:
        days_left = (datetime.combine(clear_by, datetime.min.time()) - built).total_seconds() / 86400
        if days_left <= 0:
            raise UsageError(f"--clear-by {clear_by} is not after the build's as_of {built:%Y-%m-%d %H:%M}")
        whole = int(np.ceil(days_left))
        ahead = arrivals_ahead[:whole] if arrivals_ahead is not None else np.zeros(0)
        inflow = float(np.sum(ahead)) + arr_d * max(whole - ahead.size, 0) + reo_d * days_left
        required = round((open_n + inflow) / days_left, 2)
    return BacklogOutlook(
        as_of=built, open_tickets=open_n, throughput_days=throughput_days,
        arrivals_per_day=round(arr_d, 2), reopens_per_day=round(reo_d, 2),
        completions_per_day=round(com_d, 2), net_burn_per_day=round(net, 2),
        clear_days=None if clear_days is None else round(clear_days, 1),
        clear_date=None if clear_days is None else (built + timedelta(days=clear_days)).date(),
        clear_by=clear_by, required_completions_per_day=required, note=note,
    )


# --- the command's library call -----------------------------------------------------------------


def forecast_arrivals(
    repo: TenantStore,
    *,
    filters: Filters | None = None,
    as_of: datetime | None = None,
    horizon_days: int = 14,
    folds: int = 4,
    throughput_days: int = 14,
    clear_by: date | None = None,
    engine: str = "numpy",
) -> ArrivalsForecast:
    """Forecast arrivals ``horizon_days`` ahead from the history in ``filters``' window."""
    if horizon_days <= 0 or folds < 0 or throughput_days <= 0:
        raise UsageError("--horizon and --throughput-days must be positive, --folds >= 0")
    if engine not in ENGINES:
        raise UsageError(f"unknown forecast engine {engine!r}; use {', '.join(ENGINES)}")
    filters = filters or Filters()
    as_of = resolve_as_of(repo, as_of)
    end = min(as_of, filters.end_at) if filters.end_at else as_of
    day_end = datetime.combine(end.date(), datetime.min.time())
    series = daily_arrivals(repo, filters, day_end)
    if series.sum() == 0:
        return ArrivalsForecast(
            as_of=as_of, window=filters.describe(), history_from=None, history_to=None,
            history_days=0, history_tickets=0, horizon_days=horizon_days, engine=engine,
            alpha=None, gamma=None, days=(), weeks=(), backtest=(), backlog=None, message=NO_TICKETS)
    y = series.to_numpy(dtype=np.float64)
    fit = fit_ets(y, engine=engine)
    need = horizon_days
    if clear_by is not None:
        need = max(need, (clear_by - day_end.date()).days)
    mid_all = np.maximum(fit.forecast(need), 0.0)
    lower, upper = fit.interval(horizon_days)
    naive = seasonal_naive(y, horizon_days)
    first = day_end.date()
    days = tuple(
        DayForecast(day=first + timedelta(days=h), weekday=_WEEKDAYS[(first + timedelta(days=h)).weekday()],
                    forecast=round(float(mid_all[h]), 2), lower_80=round(float(lower[h]), 2),
                    upper_80=round(float(upper[h]), 2), seasonal_naive=round(float(naive[h]), 2))
        for h in range(horizon_days)
    )
    frame = pd.DataFrame({"day": [d.day for d in days], "f": mid_all[:horizon_days], "n": naive})
    frame["week"] = [d - timedelta(days=d.weekday()) for d in frame["day"]]
    weekly = frame.groupby("week", sort=True).agg(days=("f", "size"), f=("f", "sum"), n=("n", "sum"))
    weeks = tuple(WeekForecast(week_start=w, days=int(r["days"]), forecast=round(float(r["f"]), 1),
                               seasonal_naive=round(float(r["n"]), 1))
                  for w, r in zip(weekly.index, weekly.to_dict("records"), strict=True))
    scores = backtest(y, horizon=horizon_days, folds=folds, engine=engine) if folds else ()
    outlook = backlog_outlook(repo, filters, as_of=as_of, throughput_days=throughput_days,
                              arrivals_ahead=mid_all, clear_by=clear_by)
    return ArrivalsForecast(
        as_of=as_of, window=filters.describe(), history_from=series.index[0].date(),
        history_to=series.index[-1].date(), history_days=int(y.size), history_tickets=int(y.sum()),
        horizon_days=horizon_days, engine=engine, alpha=round(fit.alpha, 4),
        gamma=round(fit.gamma, 4), days=days, weeks=weeks, backtest=tuple(scores), backlog=outlook)
