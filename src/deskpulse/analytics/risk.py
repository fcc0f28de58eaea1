"""Breach risk and the next-best-ticket queue (issue 5 item 5, seed 003).

One job: for every open SLA clock (``active``, ``paused``, ``active_breached``) say how many
business minutes are left to its ``due_at`` and how likely it is to breach, and rank the open
tickets into a work queue with a one-line reason.

**Remaining time** is ``target − elapsed`` at ``as_of``, elapsed projected with the business-time
kernel on the clock's policy calendar: for a running clock not yet due that is
``F(due_at) − F(as_of)``; a paused clock's is frozen; a clock past due shows minus the business
minutes it ran beyond its target (time paused after the due instant does not count).

**The model** is an L2-regularised logistic regression (Newton/IRLS in numpy, no heavy imports on
the hot path) fitted on *snapshots of history*: every ``step_minutes`` over a window, each clock
that was open and not yet breached at that instant is one row, described only by what was known
then — metric, priority, channel, the group/status/assignee held at that instant (from
``ticket_segments``), the elapsed share of the target (reconstructed with the kernel: reply clocks
run in every status, the resolution clock only outside ``pause_on`` and solved/closed), the
business minutes left, the target, whether business hours were running, UTC weekday and 4-hour
block (plus per-metric curvature of the elapsed share and reply clocks' minutes left and
off-hours terms). The label is whether that clock breached in the end. **Calibration**: the
regression is fitted on the earlier 70 % of the training snapshots (by instant) and its
probabilities are mapped through an isotonic regression fitted on the latest 30 %
(:func:`isotonic_knots`; a time split, so the map corrects what the fit gets wrong on a later
period — without it the top bins were over-predicted). Clocks still open and unbreached at
``as_of`` have no known outcome and are left out (counted as censored). Evaluation is a time
split: fit on ``[test_from − train_days, test_from)``, score on the later
``[test_from, as_of − gap_days)``: Brier score against the base-rate Brier (and the uncalibrated
regression's), log loss, AUC, a reliability table and the expected calibration error. On a big
tenant each window keeps its end and shrinks (to at least 7 days) and tickets are sampled by an
md5 prefix of their id (portable, deterministic) so that about ``max_clocks`` clocks remain; at most ``max_rows`` snapshot rows are used. ``deskpulse next``
fits once per build and keeps the model as JSON (:func:`cached_breach_model`).

**Ranking** (``next_best``), one row per ticket at its most urgent clock:

1. running clocks already past due, most business minutes overdue first (the customers who have
   waited longest; closing them removes the most SLA debt);
2. running clocks not yet due, by risk band (high ≥ 50 %, medium ≥ 20 %, low), and within a band
   the fewest business minutes left first (then higher risk, earlier due_at);
3. paused clocks (waiting on the requester or on hold) last: nobody can act on them now.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from deskpulse.analytics.filters import Filters
from deskpulse.analytics.insights_common import (
    DONE_STATUSES,
    METRIC_WORDS,
    PRIORITY_LABELS,
    BoolArray,
    FloatArray,
    IntArray,
    ObjArray,
    SlaContext,
    epoch_s,
    floats,
    fmt_business_minutes,
    from_epoch_s,
    jsonable,
    plain,
    require_build,
    strings,
    ts_micros,
    ts_seconds,
)
from deskpulse.config import AppConfig
from deskpulse.errors import UsageError
from deskpulse.store import TenantStore

log = logging.getLogger(__name__)

OPEN_SLA_STATUSES: Final = ("active", "paused", "active_breached")
#: Risk bands of running clocks that are not due yet.
HIGH_RISK: Final = 0.5
MEDIUM_RISK: Final = 0.2
NUMERIC_FEATURES: Final = (
    "frac_first_response",
    "frac_next_response",
    "frac_resolution",
    "frac_sq_first_response",
    "frac_sq_next_response",
    "frac_sq_resolution",
    "log_remaining_minutes",
    "log_remaining_reply",
    "log_target_minutes",
    "in_business_hours",
    "off_hours_reply",
    "off_hours_frac_reply",
    "assigned",
)
CATEGORICAL_FEATURES: Final = (
    "metric", "priority", "channel", "group_at", "status_at", "weekday", "hour_block",
)
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RANKING: Final = (
    "1) running clocks past due, most business minutes overdue first; "
    "2) running clocks not yet due by risk band (high >= 50 %, medium >= 20 %, low), "
    "fewest business minutes left first within a band, then higher risk, earlier due_at; "
    "3) paused clocks last. One row per ticket, at its most urgent clock."
)


@dataclass(frozen=True)
class RiskSettings:
    """Windows and sizes of the breach model (days are calendar days back from ``as_of``)."""

    train_days: int = 28
    test_days: int = 14
    #: Snapshots end this long before ``as_of`` so that most outcomes are known.
    gap_days: int = 7
    step_minutes: int = 60
    #: Clocks sampled (by a hash of the ticket id, in SQL) to build snapshots from.
    max_clocks: int = 25_000
    #: Snapshot rows kept (uniform sample) for fitting / scoring.
    max_rows: int = 40_000
    l2: float = 1.0
    seed: int = 0
    #: The latest share of the training snapshots (by snapshot instant) held out to fit the
    #: isotonic calibration of the regression's probabilities (0: no calibration).
    calibration_share: float = 0.3

    def __post_init__(self) -> None:
        if min(self.train_days, self.test_days, self.step_minutes, self.max_clocks, self.max_rows) <= 0:
            raise UsageError("risk model windows and sizes must be positive")
        if self.gap_days < 0:
            raise UsageError("--gap-days must be >= 0")
        if not 0 <= self.calibration_share < 1:
            raise UsageError("the calibration share must be in [0, 1)")


# --- data: clocks, segments and snapshot features ---------------------------------------------

_SLA_COLUMNS: Final = (
    "s.ticket_id, s.metric, s.instance, s.policy, s.calendar, s.target_minutes, s.started_at, "
    "s.due_at, s.stopped_at, s.breached_at, s.status, s.elapsed_business_minutes, "
    "s.margin_minutes"
)


@dataclass(frozen=True)
class _Clocks:
    """SLA clock rows as numpy arrays (one entry per clock)."""

    ticket_id: ObjArray
    metric: ObjArray
    instance: IntArray
    policy: ObjArray
    calendar: ObjArray
    target_s: IntArray
    started_s: IntArray
    due_s: IntArray
    has_due: BoolArray
    stopped_s: IntArray
    stopped: BoolArray
    breached_s: IntArray
    breached: BoolArray
    sla_status: ObjArray
    elapsed_minutes: FloatArray
    margin_minutes: FloatArray
    priority: ObjArray
    channel: ObjArray
    code: IntArray

    def __len__(self) -> int:
        return int(self.instance.size)


@dataclass(frozen=True)
class _Segments:
    """ticket_segments rows sorted by (ticket code, start, segment) with running sums."""

    code: IntArray
    start_s: IntArray
    status: ObjArray
    group: ObjArray
    assignee: ObjArray
    running: BoolArray
    cum_before_s: IntArray  # running business seconds of the ticket before this segment
    keys: IntArray  # (code << 33) + (start_s − base): one sorted search key
    base: int


def _codes(clock_ids: pa.Array, seg_ids: pa.Array) -> tuple[IntArray, IntArray]:
    both = pa.concat_arrays([clock_ids.cast(pa.string()), seg_ids.cast(pa.string())])
    enc = pc.dictionary_encode(both).indices
    codes = np.asarray(enc.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes[: len(clock_ids)], codes[len(clock_ids):]


def _sorted_clocks(clocks: pa.Table) -> pa.Table:
    """A fixed order makes sampling and fitting independent of the backend's row order."""
    return clocks.sort_by([("ticket_id", "ascending"), ("metric", "ascending"),
                           ("instance", "ascending")])


def _load_clocks(clocks: pa.Table, code: IntArray) -> _Clocks:
    started_s, _ = ts_seconds(clocks.column("started_at"))
    due_s, has_due = ts_seconds(clocks.column("due_at"))
    stopped_s, stopped = ts_seconds(clocks.column("stopped_at"))
    breached_s, breached = ts_seconds(clocks.column("breached_at"))
    return _Clocks(
        ticket_id=strings(clocks.column("ticket_id")),
        metric=strings(clocks.column("metric")),
        instance=np.asarray(floats(clocks.column("instance"), 1.0), dtype=np.int64),
        policy=strings(clocks.column("policy")),
        calendar=strings(clocks.column("calendar"), "24x7"),
        target_s=np.rint(floats(clocks.column("target_minutes"), 0.0) * 60).astype(np.int64),
        started_s=started_s,
        due_s=due_s,
        has_due=has_due,
        stopped_s=stopped_s,
        stopped=stopped,
        breached_s=breached_s,
        breached=breached,
        sla_status=strings(clocks.column("status")),
        elapsed_minutes=floats(clocks.column("elapsed_business_minutes")),
        margin_minutes=floats(clocks.column("margin_minutes")),
        priority=strings(clocks.column("priority"), "(none)"),
        channel=strings(clocks.column("channel"), "(none)"),
        code=code,
    )


def _paused_statuses(ctx: SlaContext, policy: ObjArray, status: ObjArray) -> BoolArray:
    """Whether each status pauses the resolution clock of each row's policy."""
    paused = np.zeros(status.size, dtype=bool)
    for name, statuses in ctx.pause_on.items():
        if statuses:
            paused |= (policy == name) & np.isin(status, statuses)
    return paused


def _clocks_and_segments(
    clocks: pa.Table, segs: pa.Table, ctx: SlaContext
) -> tuple[_Clocks, _Segments]:
    clocks = _sorted_clocks(clocks)
    clock_code, seg_code = _codes(
        clocks.column("ticket_id").combine_chunks(), segs.column("ticket_id").combine_chunks()
    )
    c = _load_clocks(clocks, clock_code)
    start_s, _ = ts_seconds(segs.column("started_at"))
    seg_no = np.asarray(floats(segs.column("segment"), 0.0), dtype=np.int64)
    order = np.lexsort((seg_no, start_s, seg_code))
    code = seg_code[order]
    start_s = start_s[order]
    status = strings(segs.column("status"))[order]
    business_s = np.rint(floats(segs.column("business_minutes"), 0.0)[order] * 60).astype(np.int64)
    # the ticket's policy decides which statuses pause its resolution clock
    n_codes = int(max(code.max(initial=-1), clock_code.max(initial=-1))) + 1
    ticket_policy = np.full(n_codes, "", dtype=object)
    ticket_policy[clock_code] = c.policy
    running = ~np.isin(status, DONE_STATUSES) & ~_paused_statuses(ctx, ticket_policy[code], status)
    run_b = np.where(running, business_s, 0)
    cum_excl = np.cumsum(run_b) - run_b
    first = np.searchsorted(code, code, side="left")
    base = 0  # epoch seconds fit in 33 bits until 2242
    s = _Segments(
        code=code,
        start_s=start_s,
        status=status,
        group=strings(segs.column("group"), "(none)")[order],
        assignee=strings(segs.column("assignee_id"))[order],
        running=running,
        cum_before_s=cum_excl - cum_excl[first],
        keys=(code << 33) + (start_s - base),
        base=base,
    )
    return c, s


def _segment_at(segs: _Segments, code: IntArray, at_s: IntArray) -> tuple[IntArray, BoolArray]:
    """Index of the segment each (ticket, instant) falls in: the last one starting at or before."""
    q = (code << 33) + (at_s - segs.base)
    j = np.searchsorted(segs.keys, q, side="right") - 1
    ok = j >= 0
    j = np.maximum(j, 0)
    ok &= segs.code[j] == code if segs.code.size else np.zeros(code.size, dtype=bool)
    return j, ok


def _feature_frame(clocks: _Clocks, row: IntArray, at_s: IntArray, *, status_at: ObjArray,
                   group_at: ObjArray, assignee_at: ObjArray, elapsed_s: IntArray,
                   paused_now: BoolArray, ctx: SlaContext) -> pd.DataFrame:
    cal = clocks.calendar[row]
    weekday = ((at_s // 86400) + 3) % 7
    return pd.DataFrame({
        "row": row,
        "at_s": at_s,
        "metric": clocks.metric[row],
        "priority": clocks.priority[row],
        "channel": clocks.channel[row],
        "group_at": group_at,
        "status_at": status_at,
        "assignee_at": assignee_at,
        "assigned": (assignee_at != "").astype(np.float64),
        "in_business_hours": ctx.is_business(cal, at_s).astype(np.float64),
        "weekday": np.asarray(_WEEKDAYS, dtype=object)[weekday],
        "hour_block": np.asarray([f"{h:02d}-{h + 4:02d}h" for h in range(0, 24, 4)], dtype=object)[
            (at_s % 86400) // 14400
        ],
        "elapsed_s": elapsed_s,
        "target_s": np.maximum(clocks.target_s[row], 1),
        "paused_now": paused_now,
    })


def _snapshot_features(
    clocks: _Clocks, segs: _Segments, row: IntArray, at_s: IntArray, ctx: SlaContext
) -> pd.DataFrame:
    """What was known about clock ``row[i]`` at instant ``at_s[i]``, rebuilt from the segments.

    Reply clocks: business time since their start. Resolution: the running business time of the
    ticket's earlier segments plus the running part of the segment holding the instant.
    """
    code = clocks.code[row]
    j, ok = _segment_at(segs, code, at_s)
    cal = clocks.calendar[row]
    pos_at = ctx.positions(cal, at_s)
    reply_elapsed = np.maximum(pos_at - ctx.positions(cal, clocks.started_s[row]), 0)
    seg_pos = ctx.positions(cal, segs.start_s[j])
    res_elapsed = segs.cum_before_s[j] + np.where(segs.running[j], np.maximum(pos_at - seg_pos, 0), 0)
    is_res = clocks.metric[row] == "resolution"
    status_at = np.where(ok, segs.status[j], "new")
    return _feature_frame(
        clocks, row, at_s, status_at=status_at, group_at=np.where(ok, segs.group[j], "(none)"),
        assignee_at=np.where(ok, segs.assignee[j], ""),
        elapsed_s=np.where(is_res, res_elapsed, reply_elapsed),
        paused_now=is_res & ~segs.running[j] & ok & ~np.isin(status_at, DONE_STATUSES), ctx=ctx)


def _add_numeric(frame: pd.DataFrame) -> pd.DataFrame:
    frac = np.clip(frame["elapsed_s"].to_numpy() / frame["target_s"].to_numpy(), 0.0, 1.5)
    metric = frame["metric"].to_numpy()
    remaining_min = np.maximum(frame["target_s"].to_numpy() - frame["elapsed_s"].to_numpy(), 0) / 60
    reply = (metric != "resolution").astype(np.float64)
    off_hours = 1.0 - frame["in_business_hours"].to_numpy(dtype=np.float64)
    log_remaining = np.log1p(remaining_min)
    # per-metric curvature, and reply clocks outside business hours (they do not tick, and
    # replies come when the shift starts): without these terms the model over-predicts
    # reply clocks close to due at night
    return frame.assign(
        frac=frac,
        frac_first_response=frac * (metric == "first_response"),
        frac_next_response=frac * (metric == "next_response"),
        frac_resolution=frac * (metric == "resolution"),
        frac_sq_first_response=frac**2 * (metric == "first_response"),
        frac_sq_next_response=frac**2 * (metric == "next_response"),
        frac_sq_resolution=frac**2 * (metric == "resolution"),
        log_remaining_minutes=log_remaining,
        log_remaining_reply=log_remaining * reply,
        log_target_minutes=np.log(frame["target_s"].to_numpy() / 60),
        off_hours_reply=off_hours * reply,
        off_hours_frac_reply=off_hours * reply * frac,
    )


# --- the model --------------------------------------------------------------------------------


def _expit(x: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def single_blas_thread() -> AbstractContextManager[Any]:
    """Limit BLAS to one thread: on a busy 2-core machine OpenBLAS threads thrash (a 40k-row fit
    takes 1–4 s instead of 0.08 s). Uses threadpoolctl when it is installed."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return contextlib.nullcontext()
    limits: AbstractContextManager[Any] = threadpool_limits(limits=1, user_api="blas")
    return limits


def fit_logistic(
    x: FloatArray, y: FloatArray, *, l2: float = 1.0, max_iter: int = 50, tol: float = 1e-7
) -> tuple[float, FloatArray]:
    """L2-penalised logistic regression by Newton's method (IRLS); the intercept is free.

    Minimises ``−Σ log-likelihood + l2/2 · ‖w‖²`` — scikit-learn's ``LogisticRegression(C=1/l2)``.
    Returns ``(intercept, weights)``.
    """
    n, k = x.shape
    xb = np.column_stack([np.ones(n), x])
    rate = float(np.clip(y.mean() if n else 0.5, 1e-6, 1 - 1e-6))
    beta = np.zeros(k + 1)
    beta[0] = math.log(rate / (1 - rate))
    pen = np.full(k + 1, float(l2))
    pen[0] = 0.0
    with single_blas_thread():
        for _ in range(max_iter):
            p = _expit(xb @ beta)
            w = p * (1 - p)
            grad = xb.T @ (y - p) - pen * beta
            xw = xb * np.sqrt(w)[:, None]
            hess = xw.T @ xw + np.diag(pen) + 1e-10 * np.eye(k + 1)
            step = np.linalg.solve(hess, grad)
            beta += step
            if float(np.max(np.abs(step))) < tol:
                break
    return float(beta[0]), beta[1:]


#: Fewest rows (and of each class) for fitting, and for calibrating, the model.
MIN_CALIBRATION_ROWS: Final = 200


def isotonic_knots(p: FloatArray, y: FloatArray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Isotonic regression of outcomes ``y`` on predictions ``p`` (pool adjacent violators),
    as knots for linear interpolation: each pooled block contributes its lowest and highest
    prediction at the block's observed rate (scikit-learn's ``IsotonicRegression`` with
    ``out_of_bounds="clip"`` predicts the same)."""
    if p.size == 0:
        return (), ()
    order = np.lexsort((y, p))
    xs, ys = p[order], y[order]
    ux, start = np.unique(xs, return_index=True)  # equal predictions form one point
    sums = np.add.reduceat(ys, start)
    counts = np.diff(np.append(start, xs.size)).astype(np.float64)
    # pool adjacent violators over the distinct predictions
    vals: list[float] = []
    wts: list[float] = []
    lo: list[int] = []
    for i in range(ux.size):
        v, w, first = float(sums[i] / counts[i]), float(counts[i]), i
        while vals and vals[-1] >= v:
            pv, pw, pl = vals.pop(), wts.pop(), lo.pop()
            v, w, first = (pv * pw + v * w) / (pw + w), pw + w, pl
        vals.append(v)
        wts.append(w)
        lo.append(first)
    knots_x: list[float] = []
    knots_y: list[float] = []
    bounds = [*lo, ux.size]
    for k, v in enumerate(vals):
        a, b = float(ux[bounds[k]]), float(ux[bounds[k + 1] - 1])
        knots_x.append(a)
        knots_y.append(v)
        if b > a:
            knots_x.append(b)
            knots_y.append(v)
    return tuple(knots_x), tuple(knots_y)


@dataclass(frozen=True)
class Coefficient:
    """One model term: standardised for numeric features (per standard deviation)."""

    feature: str
    coefficient: float
    odds_ratio: float


@dataclass(frozen=True)
class BreachModel:
    """A fitted breach model: its encoding, coefficients and the window it learned from."""

    levels: dict[str, tuple[str, ...]]
    means: dict[str, float]
    scales: dict[str, float]
    intercept: float
    weights: tuple[float, ...]
    feature_names: tuple[str, ...]
    train_from: datetime
    train_to: datetime
    train_rows: int
    base_rate: float
    step_minutes: int
    #: Isotonic calibration map (knots of a piecewise-linear function of the regression's
    #: probability); empty: the regression's probability is used as is.
    calibration_x: tuple[float, ...] = ()
    calibration_y: tuple[float, ...] = ()
    calibration_rows: int = 0

    @classmethod
    def fit(cls, frame: pd.DataFrame, y: FloatArray, *, train_from: datetime,
            train_to: datetime, settings: RiskSettings) -> BreachModel:
        """Fit the regression on the earlier snapshots of the window and, when there are
        enough, an isotonic calibration of its probabilities on the latest
        ``calibration_share`` of them (a time split: calibrated on a later period than fitted)."""
        cal = _calibration_rows(frame, y, settings.calibration_share)
        fit_frame, fit_y = frame[~cal].reset_index(drop=True), y[~cal]
        levels = {c: tuple(sorted(str(v) for v in pd.unique(fit_frame[c]))) for c in CATEGORICAL_FEATURES}
        means = {c: float(fit_frame[c].mean()) for c in NUMERIC_FEATURES}
        scales = {c: float(fit_frame[c].std(ddof=0)) or 1.0 for c in NUMERIC_FEATURES}
        names = (*NUMERIC_FEATURES, *(f"{c}={lv}" for c in CATEGORICAL_FEATURES for lv in levels[c]))
        model = cls(levels=levels, means=means, scales=scales, intercept=0.0, weights=(),
                    feature_names=names, train_from=train_from, train_to=train_to,
                    train_rows=len(frame), base_rate=float(y.mean()) if len(y) else 0.0,
                    step_minutes=settings.step_minutes)
        x = model.design(frame)  # row by row: the fit rows' and calibration rows' matrices
        b0, w = fit_logistic(x[~cal], fit_y, l2=settings.l2)
        object.__setattr__(model, "intercept", b0)
        object.__setattr__(model, "weights", tuple(float(v) for v in w))
        if cal.any():
            raw = _expit(b0 + x[cal] @ np.asarray(model.weights))
            kx, ky = isotonic_knots(raw, y[cal])
            object.__setattr__(model, "calibration_x", kx)
            object.__setattr__(model, "calibration_y", ky)
            object.__setattr__(model, "calibration_rows", int(cal.sum()))
        return model

    def design(self, frame: pd.DataFrame) -> FloatArray:
        """The model matrix: standardised numeric columns, then one-hot levels."""
        n = len(frame)
        width = len(NUMERIC_FEATURES) + sum(len(self.levels[c]) for c in CATEGORICAL_FEATURES)
        x = np.zeros((n, width))  # filled in place (no column copies stacked afterwards)
        for k, c in enumerate(NUMERIC_FEATURES):
            x[:, k] = (frame[c].to_numpy(dtype=np.float64) - self.means[c]) / self.scales[c]
        at = len(NUMERIC_FEATURES)
        rows = np.arange(n)
        for c in CATEGORICAL_FEATURES:
            lv = self.levels[c]
            # the level of each row (-1: a level not seen when fitting), by an Arrow hash lookup
            found = pc.index_in(pa.array(frame[c].astype(str), pa.string()),
                                value_set=pa.array(lv, pa.string()))
            idx = np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
            hit = idx >= 0
            x[rows[hit], at + idx[hit]] = 1.0
            at += len(lv)
        return x

    def predict(self, frame: pd.DataFrame, *, calibrated: bool = True) -> FloatArray:
        """Breach probability per row of a snapshot feature frame (calibrated when the model
        has a calibration map, unless ``calibrated=False``)."""
        if len(frame) == 0:
            return np.zeros(0)
        p = _expit(self.intercept + self.design(frame) @ np.asarray(self.weights))
        return self.calibrate(p) if calibrated else p

    def calibrate(self, p: FloatArray) -> FloatArray:
        """The regression's probabilities through the calibration map (as is without one)."""
        if self.calibration_x:
            out: FloatArray = np.interp(p, self.calibration_x, self.calibration_y)
            return out
        return p

    def coefficients(self, top: int | None = None) -> tuple[Coefficient, ...]:
        """Terms by absolute size (the explanation of the model)."""
        pairs = sorted(zip(self.feature_names, self.weights, strict=True), key=lambda p: -abs(p[1]))
        return tuple(Coefficient(n, round(w, 4), round(math.exp(w), 4)) for n, w in pairs[:top])

    def to_json(self) -> dict[str, Any]:
        """Everything needed to predict again (see :meth:`from_json`)."""
        d = asdict(self)
        d["levels"] = {k: list(v) for k, v in self.levels.items()}
        d["train_from"], d["train_to"] = plain(self.train_from), plain(self.train_to)
        return jsonable(d)  # type: ignore[no-any-return]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BreachModel:
        return cls(
            levels={k: tuple(v) for k, v in d["levels"].items()}, means=dict(d["means"]),
            scales=dict(d["scales"]), intercept=float(d["intercept"]),
            weights=tuple(float(w) for w in d["weights"]), feature_names=tuple(d["feature_names"]),
            train_from=datetime.fromisoformat(d["train_from"].rstrip("Z")),
            train_to=datetime.fromisoformat(d["train_to"].rstrip("Z")), train_rows=int(d["train_rows"]),
            base_rate=float(d["base_rate"]), step_minutes=int(d["step_minutes"]),
            calibration_x=tuple(float(v) for v in d.get("calibration_x", ())),
            calibration_y=tuple(float(v) for v in d.get("calibration_y", ())),
            calibration_rows=int(d.get("calibration_rows", 0)))

    def summary(self) -> dict[str, Any]:
        return {
            "kind": "logistic regression (L2, IRLS) on clock snapshots",
            "train_from": plain(self.train_from),
            "train_to": plain(self.train_to),
            "train_rows": self.train_rows,
            "base_rate": round(self.base_rate, 4),
            "step_minutes": self.step_minutes,
            "calibration": (f"isotonic on the latest {self.calibration_rows:,} training rows"
                            if self.calibration_x else "none"),
        }


def _calibration_rows(frame: pd.DataFrame, y: FloatArray, share: float) -> BoolArray:
    """The latest ``share`` of the snapshots by instant (the calibration set), or none when
    either part would be too small or lack a class."""
    n = len(frame)
    none = np.zeros(n, dtype=bool)
    if share <= 0 or n == 0:
        return none
    at = frame["at_s"].to_numpy()
    cut = np.sort(at)[min(int(n * (1 - share)), n - 1)]
    cal: BoolArray = np.asarray(at >= cut, dtype=bool)
    for part in (cal, ~cal):
        k = int(part.sum())
        pos = int(y[part].sum())
        if min(k, pos, k - pos) < MIN_CALIBRATION_ROWS // 10 or k < MIN_CALIBRATION_ROWS:
            return none
    return cal


# --- history snapshots --------------------------------------------------------------------------


def _sample_cut(fraction: float) -> str:
    """The 4-hex-digit md5 prefix bound that keeps about ``fraction`` of ticket ids."""
    if fraction >= 1:
        return "ffff"
    return f"{max(int(fraction * 65536) - 1, 0):04x}"


_HISTORY_WHERE: Final = (
    "s.status <> 'not_applicable' AND s.started_at < $hi "
    "AND (s.stopped_at IS NULL OR s.stopped_at > $lo) "
    "AND (s.breached_at IS NULL OR s.breached_at > $lo)"
)
#: A shrunk window still covers a whole week (weekday effects).
MIN_WINDOW_DAYS: Final = 7


def _us(value: datetime) -> int:
    return epoch_s(value) * 1_000_000 + value.microsecond


def _history(repo: TenantStore, lo: datetime, hi: datetime, settings: RiskSettings
             ) -> tuple[pa.Table, pa.Table, datetime]:
    """Clocks open at some instant of ``[lo, hi)`` and their tickets' segments.

    On a big tenant the window is shortened (to at least a week, keeping its end) and tickets are
    sampled by a hash of their id, so that about ``max_clocks`` clocks remain. Returns the clocks,
    the segments and the window start actually used.
    """
    return _histories(repo, [(lo, hi)], settings)[0]


def _histories(repo: TenantStore, windows: list[tuple[datetime, datetime]], settings: RiskSettings
               ) -> list[tuple[pa.Table, pa.Table, datetime]]:
    """:func:`_history` of each window, with one query per table for all of them.

    One narrow scan of ``ticket_sla`` reads every clock of the windows' span with its id's md5
    prefix; each window's clocks (their count decides its sample), shortened window and sample
    are then cut in Arrow. The kept clocks' tickets are read by id (joining all tickets in SQL
    to a few thousand clocks costs a scan and hash of the whole table), and their segments
    (each window's: started in ``[its tickets' first creation, its end]``) in one query too.
    """
    span_lo, span_hi = min(lo for lo, _ in windows), max(hi for _, hi in windows)
    span = repo.query(
        f"SELECT {_SLA_COLUMNS}, substr(md5(s.ticket_id), 1, 4) AS id_md5 "  # noqa: S608 - fixed SQL
        f"FROM ticket_sla s WHERE {_HISTORY_WHERE}", lo=span_lo, hi=span_hi)
    started, _ = ts_micros(span.column("started_at"))
    ends = [ts_micros(span.column(name)) for name in ("stopped_at", "breached_at")]

    def open_after(lo: datetime) -> BoolArray:  # still running (and unbreached) after lo
        keep = np.ones(span.num_rows, dtype=bool)
        for at, ok in ends:
            keep &= ~ok | (at > _us(lo))
        return keep

    kept: list[tuple[pa.Table, datetime, datetime]] = []
    for lo, hi in windows:
        before_hi = started < _us(hi)
        n = int((before_hi & open_after(lo)).sum())  # the window's clocks
        fraction = 1.0
        if n > settings.max_clocks:
            span_s = (hi - lo).total_seconds()
            keep_s = max(MIN_WINDOW_DAYS * 86400.0, span_s * settings.max_clocks / n)
            if keep_s < span_s:
                lo = hi - timedelta(seconds=int(keep_s))
            fraction = settings.max_clocks / (n * min(keep_s / span_s, 1.0))
        keep = before_hi & open_after(lo)
        if fraction < 1:
            keep &= np.asarray(pc.less_equal(span.column("id_md5"), _sample_cut(fraction))
                               .to_numpy(zero_copy_only=False), dtype=bool)
        kept.append((span.filter(pa.array(keep)).drop_columns(["id_md5"]), lo, hi))
    ids = pc.unique(pa.concat_arrays([c.column("ticket_id").combine_chunks() for c, _, _ in kept]))
    tickets = repo.query(
        "SELECT t.ticket_id, t.priority, t.channel, t.created_at FROM tickets t "
        "WHERE t.ticket_id IN (SELECT unnest(CAST($ids AS VARCHAR[]))) AND t.deleted_at IS NULL",
        ids=ids.to_pylist())
    clocks = [(c.join(tickets, "ticket_id", join_type="inner"), lo, hi) for c, lo, hi in kept]
    # each window's segments: its tickets' segments started in [first creation, window end]
    bounds = []
    for c, _, hi in clocks:
        created, ok = ts_seconds(c.column("created_at"))
        bounds.append((from_epoch_s(int(created[ok].min())) if ok.any() else hi, hi))
    all_ids = pc.unique(pa.concat_arrays([c.column("ticket_id").combine_chunks() for c, _, _ in clocks]))
    segs = repo.query(
        'SELECT g.ticket_id, g.segment, g.started_at, g.status, g."group", g.assignee_id, '
        "g.business_minutes FROM ticket_segments g WHERE g.ticket_id IN (SELECT unnest(CAST($ids AS VARCHAR[]))) "
        "AND g.started_at >= $seg_lo AND g.started_at <= $hi",
        ids=all_ids.to_pylist(), seg_lo=min(b[0] for b in bounds), hi=max(b[1] for b in bounds))
    if len(windows) == 1:
        return [(clocks[0][0], segs, clocks[0][1])]
    seg_start, _ = ts_micros(segs.column("started_at"))
    out = []
    for (c, lo, _), (seg_lo, hi) in zip(clocks, bounds, strict=True):
        mine = np.asarray(pc.is_in(segs.column("ticket_id"), value_set=c.column("ticket_id").combine_chunks())
                          .to_numpy(zero_copy_only=False), dtype=bool)
        mine &= (seg_start >= _us(seg_lo)) & (seg_start <= _us(hi))
        out.append((c, segs.filter(pa.array(mine)), lo))
    return out


@dataclass(frozen=True)
class _Snapshots:
    frame: pd.DataFrame
    y: FloatArray
    censored: int
    window_from: datetime


def _snapshots(repo: TenantStore, ctx: SlaContext, lo: datetime, hi: datetime,
               settings: RiskSettings) -> _Snapshots:
    """Grid snapshots of open, unbreached clocks in ``[lo, hi)`` with their final outcome."""
    return _snapshots_of(ctx, _history(repo, lo, hi, settings), hi, settings)


def _snapshots_of(ctx: SlaContext, history: tuple[pa.Table, pa.Table, datetime], hi: datetime,
                  settings: RiskSettings) -> _Snapshots:
    """:func:`_snapshots` of a window's :func:`_history` (clocks, segments, window start)."""
    clocks_t, segs_t, lo = history
    if clocks_t.num_rows == 0:
        return _Snapshots(_add_numeric(_empty_features()), np.zeros(0), 0, lo)
    clocks, segs = _clocks_and_segments(clocks_t, segs_t, ctx)
    lo_s, hi_s, step = epoch_s(lo), epoch_s(hi), settings.step_minutes * 60
    far = np.iinfo(np.int64).max // 4
    end = np.minimum(np.where(clocks.stopped, clocks.stopped_s, far),
                     np.where(clocks.breached, clocks.breached_s, far))
    a = np.maximum(clocks.started_s, lo_s)
    b = np.minimum(end, hi_s)
    first_k = -(-(a - lo_s) // step)
    stop_k = np.where(b > a, -(-(b - lo_s) // step), first_k)
    counts = np.maximum(stop_k - first_k, 0)
    total = int(counts.sum())
    rng = np.random.default_rng(settings.seed)
    pick = (np.sort(rng.choice(total, settings.max_rows, replace=False))
            if total > settings.max_rows else np.arange(total, dtype=np.int64))
    cum = np.cumsum(counts)
    row = np.searchsorted(cum, pick, side="right")
    at_s = lo_s + (first_k[row] + pick - (cum[row] - counts[row])) * step
    frame = _snapshot_features(clocks, segs, row, at_s, ctx)
    known = clocks.stopped[row] | clocks.breached[row]
    keep = known & ~np.isin(frame["status_at"].to_numpy(), DONE_STATUSES)
    censored = int((~known).sum())
    frame = _add_numeric(frame[keep].reset_index(drop=True))
    y = clocks.breached[row][keep].astype(np.float64)
    return _Snapshots(frame, y, censored, lo)


def _empty_features() -> pd.DataFrame:
    cols: dict[str, Any] = {c: pd.Series([], dtype=object) for c in CATEGORICAL_FEATURES}
    cols.update({c: pd.Series([], dtype=np.int64) for c in ("row", "at_s", "elapsed_s", "target_s")})
    cols.update({"assigned": pd.Series([], dtype=np.float64),
                 "in_business_hours": pd.Series([], dtype=np.float64),
                 "paused_now": pd.Series([], dtype=bool),
                 "assignee_at": pd.Series([], dtype=object)})
    return pd.DataFrame(cols)


def fit_breach_model(repo: TenantStore, cfg: AppConfig, *, as_of: datetime | None = None,
                     settings: RiskSettings | None = None) -> BreachModel:
    """Fit the breach model on the most recent labelled window ``[as_of − gap − train, as_of − gap)``."""
    settings = settings or RiskSettings()
    as_of = as_of or require_build(repo)
    ctx = SlaContext.load(cfg)
    hi = as_of - timedelta(days=settings.gap_days)
    lo = hi - timedelta(days=settings.train_days)
    snaps = _snapshots(repo, ctx, lo, hi, settings)
    if len(snaps.y) == 0:
        raise UsageError(f"no SLA history between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} to fit a breach model")
    return BreachModel.fit(snaps.frame, snaps.y, train_from=snaps.window_from, train_to=hi,
                           settings=settings)


def model_cache_dir() -> Path:
    """Where fitted models are kept: :func:`deskpulse.cache.cache_dir`."""
    from deskpulse.cache import cache_dir

    return cache_dir()


def cached_breach_model(repo: TenantStore, cfg: AppConfig, *, settings: RiskSettings | None = None,
                        cache_dir: Path | None = None, refit: bool = False) -> BreachModel:
    """The breach model of the tenant's current build: fitted once per build and kept as JSON.

    The cache key is the store, the tenant, the build (as_of, built_at, config hash) and the
    settings, so a new build or a changed config fits afresh. A cache that cannot be read or
    written is ignored.
    """
    settings = settings or RiskSettings()
    state = repo.rows("SELECT as_of, built_at, config_hash, tickets FROM build_state")
    if not state:
        require_build(repo)
    def digest(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]

    where = digest({"v": 2, "store": repo.store.safe_url, "tenant": repo.tenant_id})
    build_key = digest([str(v) for v in state[0]])
    folder = cache_dir or model_cache_dir()
    path = folder / f"breach_model_{where}_{build_key}_{digest(asdict(settings))}.json"
    if not refit:
        try:
            return BreachModel.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            pass
    model = fit_breach_model(repo, cfg, as_of=state[0][0], settings=settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(model.to_json()), encoding="utf-8")
        tmp.replace(path)
        for stale in folder.glob(f"breach_model_{where}_*.json"):  # models of older builds
            if not stale.name.startswith(f"breach_model_{where}_{build_key}_"):
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("breach model cache not written: %s", exc)
    return model


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationBin:
    """Predicted vs observed breach rate of the held-out rows whose prediction fell in a bin."""

    predicted_from: float
    predicted_to: float
    rows: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class MetricScore:
    """Held-out scores of one SLA metric."""

    metric: str
    rows: int
    base_rate: float
    brier: float
    brier_base_rate: float


@dataclass(frozen=True)
class RiskEvaluation:
    """The breach model scored on a later, held-out period (time split)."""

    as_of: datetime
    train_from: datetime
    train_to: datetime
    test_from: datetime
    test_to: datetime
    step_minutes: int
    train_rows: int
    test_rows: int
    censored_rows: int
    train_base_rate: float
    test_base_rate: float
    brier: float
    #: Brier of always predicting the held-out base rate (the best constant).
    brier_base_rate: float
    #: Brier of always predicting the training base rate (what a naive model would say).
    brier_train_rate: float
    brier_skill: float
    log_loss: float
    auc: float | None
    calibration: tuple[CalibrationBin, ...]
    by_metric: tuple[MetricScore, ...]
    coefficients: tuple[Coefficient, ...]
    #: Expected calibration error on the held-out period: Σ rows × |predicted − observed| / rows
    #: over the calibration bins, with the calibration map and with the bare regression.
    ece: float = 0.0
    ece_uncalibrated: float = 0.0
    brier_uncalibrated: float = 0.0
    calibration_method: str = "none"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable(asdict(self))
        return out


def brier_score(p: FloatArray, y: FloatArray) -> float:
    return float(np.mean((p - y) ** 2)) if len(y) else float("nan")


def auc_score(p: FloatArray, y: FloatArray) -> float | None:
    """Area under the ROC curve (Mann–Whitney, average ranks for ties); None with one class."""
    pos = int(y.sum())
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return None
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def calibration_table(p: FloatArray, y: FloatArray, bins: int = 10) -> tuple[CalibrationBin, ...]:
    """Equal-width bins of predicted probability (empty bins left out)."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    sp = np.bincount(idx, weights=p, minlength=bins)
    sy = np.bincount(idx, weights=y, minlength=bins)
    return tuple(
        CalibrationBin(round(float(edges[k]), 2), round(float(edges[k + 1]), 2), int(n[k]),
                       round(float(sp[k] / n[k]), 4), round(float(sy[k] / n[k]), 4))
        for k in range(bins) if n[k]
    )


def expected_calibration_error(bins: tuple[CalibrationBin, ...]) -> float:
    """Σ rows · |mean predicted − observed rate| / Σ rows over the bins (0 without rows)."""
    total = sum(b.rows for b in bins)
    if total == 0:
        return 0.0
    return sum(b.rows * abs(b.mean_predicted - b.observed_rate) for b in bins) / total


def evaluate_breach_model(repo: TenantStore, cfg: AppConfig, *, as_of: datetime | None = None,
                          settings: RiskSettings | None = None) -> RiskEvaluation:
    """Fit on ``[test_from − train_days, test_from)`` and score on ``[test_from, as_of − gap)``."""
    settings = settings or RiskSettings()
    as_of = as_of or require_build(repo)
    ctx = SlaContext.load(cfg)
    test_to = as_of - timedelta(days=settings.gap_days)
    test_from = test_to - timedelta(days=settings.test_days)
    train_from = test_from - timedelta(days=settings.train_days)
    # both windows' clocks, tickets and segments with one query each
    train_h, test_h = _histories(repo, [(train_from, test_from), (test_from, test_to)], settings)
    train = _snapshots_of(ctx, train_h, test_from, settings)
    test = _snapshots_of(ctx, test_h, test_to, settings)
    if len(train.y) == 0 or len(test.y) == 0:
        raise UsageError(
            f"not enough SLA history to evaluate: need clocks between {train_from:%Y-%m-%d} and "
            f"{test_to:%Y-%m-%d} (try smaller --train-days/--test-days/--gap-days)")
    train_from, test_from_used = train.window_from, test.window_from
    model = BreachModel.fit(train.frame, train.y, train_from=train_from, train_to=test_from,
                            settings=settings)
    raw = model.predict(test.frame, calibrated=False)
    p = model.calibrate(raw)
    y = test.y
    rate = float(y.mean())
    eps = 1e-12
    by_metric = []
    metric = test.frame["metric"].to_numpy()
    for m in sorted(set(metric.tolist())):
        sel = metric == m
        r = float(y[sel].mean())
        by_metric.append(MetricScore(m, int(sel.sum()), round(r, 4), round(brier_score(p[sel], y[sel]), 5),
                                     round(r * (1 - r), 5)))
    brier = brier_score(p, y)
    base = rate * (1 - rate)
    auc = auc_score(p, y)
    return RiskEvaluation(
        as_of=as_of, train_from=train_from, train_to=test_from, test_from=test_from_used,
        test_to=test_to, step_minutes=settings.step_minutes, train_rows=len(train.y),
        test_rows=len(y), censored_rows=train.censored + test.censored,
        train_base_rate=round(model.base_rate, 4), test_base_rate=round(rate, 4),
        brier=round(brier, 5), brier_base_rate=round(base, 5),
        brier_train_rate=round(brier_score(np.full(len(y), model.base_rate), y), 5),
        brier_skill=round(1 - brier / base, 4) if base > 0 else 0.0,
        log_loss=round(float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))), 5),
        auc=round(auc, 4) if auc is not None else None,
        calibration=(table := calibration_table(p, y)),
        by_metric=tuple(by_metric),
        coefficients=model.coefficients(top=15),
        ece=round(expected_calibration_error(table), 5),
        ece_uncalibrated=round(expected_calibration_error(calibration_table(raw, y)), 5),
        brier_uncalibrated=round(brier_score(raw, y), 5),
        calibration_method=model.summary()["calibration"],
    )


# --- open clocks and the work queue -------------------------------------------------------------


_OPEN_COLUMNS: Final = ["ticket_id", "metric", "instance", "policy", "calendar", "priority", "channel",
                        "group", "assignee_id", "ticket_status", "sla_status", "due_at",
                        "remaining_business_minutes", "breach_probability", "paused", "tier", "band"]


@dataclass(frozen=True)
class _OpenClocks:
    clocks: _Clocks
    features: pd.DataFrame  # snapshot features at as_of (with the numeric terms)


def _open_clocks(repo: TenantStore, ctx: SlaContext, *, as_of: datetime, built: datetime,
                 filters: Filters) -> _OpenClocks | None:
    """Open clocks and their features at ``as_of`` from the build's state.

    The ticket's last segment gives status, group and assignee; elapsed is the engine's value at
    the build's ``as_of``, moved on by the business time since then unless the clock is paused.
    """
    # three narrow queries joined in Arrow: a wide three-table join scans every ticket_sla column
    clocks = repo.query(
        "SELECT s.ticket_id, s.metric, s.instance, s.policy, s.calendar, s.target_minutes, "
        "s.started_at, s.due_at, s.stopped_at, s.breached_at, s.status, s.elapsed_business_minutes, "
        "s.margin_minutes FROM ticket_sla s WHERE s.status IN ('active', 'paused', 'active_breached')")
    if clocks.num_rows == 0:
        return None
    ids = pc.unique(clocks.column("ticket_id").combine_chunks())
    pred, params = filters.ticket_predicate("t")
    tickets = repo.query(
        "SELECT t.ticket_id, t.priority, t.channel, t.created_at FROM tickets t "  # noqa: S608
        f"WHERE t.ticket_id IN (SELECT unnest(CAST($ids AS VARCHAR[]))) AND {pred}",
        ids=ids.to_pylist(), **params)
    # the ticket's current state: its last segment (open clocks' tickets are never solved)
    last = repo.query(
        'SELECT g.ticket_id, g.status AS status_at, g."group" AS group_at, g.assignee_id AS assignee_at '
        "FROM ticket_segments g WHERE g.ended_at IS NULL AND g.status NOT IN ('solved', 'closed')")
    table = clocks.join(tickets, "ticket_id", join_type="inner").join(last, "ticket_id",
                                                                     join_type="left outer")
    if table.num_rows == 0:
        return None
    table = _sorted_clocks(table)
    codes = np.asarray(pc.dictionary_encode(table.column("ticket_id").combine_chunks()).indices
                       .to_numpy(zero_copy_only=False), dtype=np.int64)
    clocks = _load_clocks(table, codes)
    status_at = strings(table.column("status_at"), "new")
    is_res = clocks.metric == "resolution"
    paused = is_res & _paused_statuses(ctx, clocks.policy, status_at)
    row = np.arange(len(clocks), dtype=np.int64)
    at = np.full(row.size, epoch_s(as_of), dtype=np.int64)
    moved = ctx.positions(clocks.calendar, at) - ctx.positions(
        clocks.calendar, np.full(row.size, epoch_s(built), dtype=np.int64))
    elapsed = np.rint(np.nan_to_num(clocks.elapsed_minutes) * 60).astype(np.int64)
    elapsed = elapsed + np.where(paused, 0, moved)
    feats = _feature_frame(clocks, row, at, status_at=status_at,
                           group_at=strings(table.column("group_at"), "(none)"),
                           assignee_at=strings(table.column("assignee_at")), elapsed_s=elapsed,
                           paused_now=paused, ctx=ctx)
    return _OpenClocks(clocks, _add_numeric(feats))


def _score_open(open_: _OpenClocks, model: BreachModel | None) -> pd.DataFrame:
    clocks, feats = open_.clocks, open_.features
    paused = feats["paused_now"].to_numpy()
    # target − elapsed at as_of: for a running clock not yet due that is F(due_at) − F(as_of);
    # past due it is minus the business time it ran beyond its target
    remaining = (clocks.target_s - feats["elapsed_s"].to_numpy()) / 60.0
    breached = (clocks.sla_status == "active_breached") | (remaining < 0)
    prob = np.ones(len(clocks))
    todo = ~breached
    if model is None:
        prob[todo] = np.nan
    elif todo.any():
        prob[todo] = model.predict(feats[todo].reset_index(drop=True))
    tier = np.where(paused, 2, np.where(breached, 0, 1))
    band = np.where(tier == 1, np.where(prob >= HIGH_RISK, 0, np.where(prob >= MEDIUM_RISK, 1, 2)), 0)
    due_at = np.where(clocks.has_due, clocks.due_s, 0).astype("datetime64[s]")
    due_at[~clocks.has_due] = np.datetime64("NaT")
    return pd.DataFrame({
        "ticket_id": clocks.ticket_id,
        "metric": clocks.metric,
        "instance": clocks.instance,
        "policy": clocks.policy,
        "calendar": clocks.calendar,
        "priority": clocks.priority,
        "channel": clocks.channel,
        "group": feats["group_at"].to_numpy(),
        "assignee_id": feats["assignee_at"].to_numpy(),
        "ticket_status": feats["status_at"].to_numpy(),
        "sla_status": np.where(breached & (clocks.sla_status != "active_breached"), "active_breached",
                               clocks.sla_status),
        "due_at": due_at,
        "remaining_business_minutes": np.round(remaining, 4),
        "breach_probability": np.round(prob, 4),
        "paused": paused,
        "tier": tier,
        "band": band,
    })


def _check_as_of(repo: TenantStore, as_of: datetime | None) -> tuple[datetime, datetime]:
    built = require_build(repo)
    as_of = as_of or built
    if as_of < built:
        raise UsageError(
            f"--as-of {as_of:%Y-%m-%dT%H:%M:%SZ} is before the last build ({built:%Y-%m-%dT%H:%M:%SZ}); "
            "rebuild with `deskpulse build --as-of …` to look at the past")
    return as_of, built


def open_clock_frame(repo: TenantStore, cfg: AppConfig, model: BreachModel | None, *,
                     as_of: datetime | None = None, filters: Filters | None = None) -> pd.DataFrame:
    """Every open clock with its business minutes left at ``as_of`` and its breach probability.

    ``as_of`` defaults to the last build's and may not be earlier (the store knows only that
    state); a later ``as_of`` projects running clocks forward on their calendars.
    """
    as_of, built = _check_as_of(repo, as_of)
    open_ = _open_clocks(repo, SlaContext.load(cfg), as_of=as_of, built=built,
                         filters=filters or Filters())
    if open_ is None:
        return pd.DataFrame(columns=_OPEN_COLUMNS)
    return _score_open(open_, model)


@dataclass(frozen=True)
class WorkItem:
    """One ticket of the work queue, at its most urgent open clock."""

    rank: int
    ticket_id: str
    metric: str
    instance: int
    priority: str
    group: str
    assignee_id: str | None
    ticket_status: str
    sla_status: str
    due_at: datetime | None
    remaining_business_minutes: float
    breach_probability: float
    other_open_clocks: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {k: plain(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class WorkQueue:
    """The ranked next-best-ticket queue (``deskpulse next``)."""

    as_of: datetime
    window: str
    open_clocks: int
    open_tickets: int
    breached_clocks: int
    items: tuple[WorkItem, ...]
    model: dict[str, Any] = field(default_factory=dict)
    ranking: str = RANKING

    @property
    def empty(self) -> bool:
        return self.open_clocks == 0

    def rows(self) -> list[dict[str, Any]]:
        return [i.as_dict() for i in self.items]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": plain(self.as_of), "window": self.window, "open_clocks": self.open_clocks,
            "open_tickets": self.open_tickets, "breached_clocks": self.breached_clocks,
            "ranking": self.ranking, "model": self.model, "items": self.rows(),
        }


def _due_seconds(due_at: Any) -> IntArray:
    """due_at as epoch seconds, missing ones last."""
    due = np.asarray(due_at).astype("datetime64[s]")
    out: IntArray = np.where(np.isnat(due), np.iinfo(np.int64).max, due.astype(np.int64))
    return out


def rank_open_clocks(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort open clocks by the documented ranking and keep each ticket's most urgent one."""
    if frame.empty:
        return frame.assign(other_open_clocks=pd.Series([], dtype=np.int64))
    remaining = frame["remaining_business_minutes"].to_numpy(dtype=np.float64)
    prob = frame["breach_probability"].fillna(0.0).to_numpy(dtype=np.float64)
    keyed = frame.assign(
        _urgency=remaining,
        _neg_p=-prob,
        _due=_due_seconds(frame["due_at"].to_numpy()),
    )
    keyed = keyed.sort_values(
        ["tier", "band", "_urgency", "_neg_p", "_due", "ticket_id", "metric", "instance"],
        kind="mergesort",
    )
    counts = keyed.groupby("ticket_id", sort=False)["metric"].transform("size")
    keyed = keyed.assign(other_open_clocks=counts.to_numpy() - 1)
    best = keyed.drop_duplicates("ticket_id", keep="first")
    return best.drop(columns=["_urgency", "_neg_p", "_due"]).reset_index(drop=True)


def reason(row: Mapping[Any, Any]) -> str:
    """``first reply due in 14 business min · P2 · 82 % breach risk`` (one ranked row)."""
    words = METRIC_WORDS.get(row["metric"], row["metric"])
    prio = PRIORITY_LABELS.get(row["priority"], row["priority"])
    left = float(row["remaining_business_minutes"])
    p = float(row["breach_probability"])
    if row["tier"] == 0:
        return f"{words} overdue by {fmt_business_minutes(-left)} · {prio} · breached"
    risk = "breached" if row["sla_status"] == "active_breached" else f"{p * 100:.0f} % breach risk"
    if row["tier"] == 2:
        when = (f"overdue by {fmt_business_minutes(-left)}" if left < 0
                else f"{fmt_business_minutes(left)} left")
        return f"{words} paused ({row['ticket_status']}) · {when} · {prio} · {risk}"
    return f"{words} due in {fmt_business_minutes(left)} · {prio} · {risk}"


def next_best(repo: TenantStore, cfg: AppConfig, *, filters: Filters | None = None, limit: int = 20,
              as_of: datetime | None = None,
              model: BreachModel | Callable[[], BreachModel] | None = None,
              settings: RiskSettings | None = None) -> WorkQueue:
    """The ranked work queue: one row per open ticket, most urgent first (see the module doc).

    ``model``: a fitted model, a function returning one (called only when a clock is open, e.g.
    :func:`cached_breach_model`), or None to fit on the build's history now.
    """
    if limit <= 0:
        raise UsageError("--limit must be positive")
    filters = filters or Filters()
    as_of, built = _check_as_of(repo, as_of)
    ctx = SlaContext.load(cfg)
    open_ = _open_clocks(repo, ctx, as_of=as_of, built=built, filters=filters)
    if open_ is None:  # nothing to rank: no model needed
        return WorkQueue(as_of=as_of, window=filters.describe(), open_clocks=0, open_tickets=0,
                         breached_clocks=0, items=())
    if model is None:
        model = fit_breach_model(repo, cfg, as_of=built, settings=settings)
    elif not isinstance(model, BreachModel):
        model = model()
    frame = _score_open(open_, model)
    ranked = rank_open_clocks(frame)
    top = ranked.head(limit)
    items = tuple(
        WorkItem(
            rank=k + 1,
            ticket_id=str(r["ticket_id"]),
            metric=str(r["metric"]),
            instance=int(r["instance"]),
            priority=str(r["priority"]),
            group=str(r["group"]),
            assignee_id=str(r["assignee_id"]) or None,
            ticket_status=str(r["ticket_status"]),
            sla_status=str(r["sla_status"]),
            due_at=None if pd.isna(r["due_at"]) else pd.Timestamp(r["due_at"]).to_pydatetime(),
            remaining_business_minutes=round(float(r["remaining_business_minutes"]), 2),
            breach_probability=round(float(r["breach_probability"]), 4),
            other_open_clocks=int(r["other_open_clocks"]),
            reason=reason(r),
        )
        for k, r in enumerate(top.to_dict("records"))
    )
    return WorkQueue(
        as_of=as_of,
        window=filters.describe(),
        open_clocks=len(frame),
        open_tickets=int(frame["ticket_id"].nunique()) if len(frame) else 0,
        breached_clocks=int((frame["sla_status"] == "active_breached").sum()) if len(frame) else 0,
        items=items,
        model=model.summary(),
    )

