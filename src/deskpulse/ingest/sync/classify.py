"""Rule-based classification on ingest: urgency, sentiment, requires_action and the rule.

Rules live in a YAML file users edit (``examples/classification_rules.yml`` documents the
format; the built-in copy is ``rules_default.yml`` beside this module). Matching is vectorised
with Arrow's RE2 kernels over a whole page of tickets — no Python loop over rows. For each
attribute the first matching rule (top to bottom) that sets it wins; ``classified_by`` names
the rule that decided urgency (else the first rule that matched, else ``default``). A
high-urgency ticket always requires action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml

from deskpulse.errors import ConfigError

DEFAULT_RULES = Path(__file__).with_name("rules_default.yml")
URGENCY = ("high", "medium", "low")
SENTIMENT = ("negative", "neutral", "positive")
ATTRIBUTES = ("urgency", "sentiment", "requires_action")
_META = set("\\.^$|?*+()[]{}")

#: Columns the classifier adds to a page of tickets.
CLASS_COLUMNS = ("urgency", "sentiment", "requires_action", "classified_by")


def _phrase(text: str) -> str:
    body = "".join("\\" + ch if ch in _META else ch for ch in text.strip().lower())
    return body


def _pattern(phrases: list[str], regexes: list[str]) -> str | None:
    parts = [rf"\b{_phrase(p)}\b" for p in phrases if p.strip()] + list(regexes)
    return "(?:" + "|".join(parts) + ")" if parts else None


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: str | None
    unless: str | None
    fields: dict[str, tuple[str, ...]]
    sets: dict[str, Any]


@dataclass(frozen=True)
class RuleSet:
    source: str
    defaults: dict[str, Any]
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    def classify(self, tickets: pa.Table) -> pa.Table:
        """Return ``tickets`` with urgency, sentiment, requires_action, classified_by set."""
        n = tickets.num_rows
        text = _text(tickets)
        masks: list[pa.Array] = []
        for r in self.rules:
            m = pa.array([True] * n, pa.bool_()) if r.pattern is None else pc.fill_null(
                pc.match_substring_regex(text, r.pattern), False)
            if r.pattern is None and not r.fields:
                m = pa.array([False] * n, pa.bool_())
            if r.unless is not None:
                m = pc.and_(m, pc.invert(pc.fill_null(pc.match_substring_regex(text, r.unless), False)))
            for col, values in r.fields.items():
                if col in tickets.column_names:
                    vals = pc.utf8_lower(pc.cast(tickets.column(col), pa.string()))
                    hit = pc.fill_null(pc.is_in(vals, value_set=pa.array(values, pa.string())), False)
                    m = pc.and_(m, hit)
                else:
                    m = pa.array([False] * n, pa.bool_())
            masks.append(m)
        out: dict[str, pa.Array] = {}
        types = {"urgency": pa.string(), "sentiment": pa.string(), "requires_action": pa.bool_()}
        for attr in ATTRIBUTES:
            value: Any = pa.array([self.defaults[attr]] * n, types[attr])
            for r, m in zip(reversed(self.rules), reversed(masks), strict=True):
                if attr in r.sets:
                    value = pc.if_else(m, pa.scalar(r.sets[attr], types[attr]), value)
            out[attr] = value
        by: Any = pa.array(["default"] * n, pa.string())
        for r, m in zip(reversed(self.rules), reversed(masks), strict=True):
            by = pc.if_else(m, pa.scalar(r.name), by)  # first matching rule of any kind
        for r, m in zip(reversed(self.rules), reversed(masks), strict=True):
            if "urgency" in r.sets:
                decided = pc.and_(m, pc.equal(out["urgency"], pa.scalar(r.sets["urgency"])))
                by = pc.if_else(decided, pa.scalar(r.name), by)
        out["requires_action"] = pc.or_(out["requires_action"], pc.equal(out["urgency"], "high"))
        out["classified_by"] = by
        for name in CLASS_COLUMNS:
            arr = out[name]
            if name in tickets.column_names:
                tickets = tickets.set_column(tickets.column_names.index(name), name, arr)
            else:
                tickets = tickets.append_column(name, arr)
        return tickets

    def classify_one(self, **ticket: Any) -> dict[str, Any]:
        """Classify one ticket given as keyword columns (subject, description, tags, priority)."""
        cols = {c: pa.array([ticket.get(c)], pa.string())
                for c in ("subject", "description", "tags", "priority")}
        row = self.classify(pa.table(cols)).to_pylist()[0]
        return {k: row[k] for k in CLASS_COLUMNS}


def _text(t: pa.Table) -> pa.Array:
    parts = []
    for col in ("subject", "description", "tags"):
        if col in t.column_names:
            parts.append(pc.fill_null(pc.cast(t.column(col), pa.string()), ""))
        else:
            parts.append(pa.array([""] * t.num_rows, pa.string()))
    joined = pc.binary_join_element_wise(*parts, " \n ")
    return pc.utf8_lower(joined)


def _err(source: str, path: str, reason: str) -> ConfigError:
    return ConfigError(f"{source}: {path}: {reason}", file=source, path=path, reason=reason)


def _strings(source: str, path: str, v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str | int | float) for x in v):
        raise _err(source, path, "must be a list of strings")
    return [str(x) for x in v]


def _check_regex(source: str, path: str, pattern: str) -> None:
    try:
        pc.match_substring_regex(pa.array([""]), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _err(source, path, f"invalid pattern: {exc}") from exc


def _value(source: str, path: str, attr: str, v: Any) -> Any:
    if attr == "urgency" and v not in URGENCY:
        raise _err(source, path, f"urgency must be one of {', '.join(URGENCY)}")
    if attr == "sentiment" and v not in SENTIMENT:
        raise _err(source, path, f"sentiment must be one of {', '.join(SENTIMENT)}")
    if attr == "requires_action" and not isinstance(v, bool):
        raise _err(source, path, "requires_action must be true or false")
    return v


def parse_rules(doc: Any, source: str = "<rules>") -> RuleSet:
    """Validate a loaded rules document; errors name the file, the key path and the reason."""
    if not isinstance(doc, dict):
        raise _err(source, "", "the top level must be a mapping with `rules`")
    unknown = set(doc) - {"version", "defaults", "rules"}
    if unknown:
        raise _err(source, sorted(unknown)[0], "unknown key (allowed: version, defaults, rules)")
    defaults = {"urgency": "low", "sentiment": "neutral", "requires_action": False}
    raw_defaults = doc.get("defaults") or {}
    if not isinstance(raw_defaults, dict):
        raise _err(source, "defaults", "must be a mapping")
    for k, v in raw_defaults.items():
        if k not in ATTRIBUTES:
            raise _err(source, f"defaults.{k}", "unknown attribute")
        defaults[k] = _value(source, f"defaults.{k}", k, v)
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _err(source, "rules", "must be a non-empty list")
    rules: list[Rule] = []
    names: set[str] = set()
    for i, r in enumerate(raw_rules):
        at = f"rules[{i}]"
        if not isinstance(r, dict):
            raise _err(source, at, "must be a mapping")
        bad = set(r) - {"name", "any", "regex", "unless", "fields", "set"}
        if bad:
            raise _err(source, f"{at}.{sorted(bad)[0]}", "unknown key")
        name = r.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _err(source, f"{at}.name", "a rule needs a name")
        if name in names:
            raise _err(source, f"{at}.name", f"duplicate rule name {name!r}")
        names.add(name)
        pattern = _pattern(_strings(source, f"{at}.any", r.get("any")),
                           _strings(source, f"{at}.regex", r.get("regex")))
        unless = _pattern(_strings(source, f"{at}.unless", r.get("unless")), [])
        for p, where in ((pattern, "any"), (unless, "unless")):
            if p is not None:
                _check_regex(source, f"{at}.{where}", p)
        raw_fields = r.get("fields") or {}
        if not isinstance(raw_fields, dict):
            raise _err(source, f"{at}.fields", "must map a column to values")
        fields = {str(k): tuple(s.lower() for s in _strings(source, f"{at}.fields.{k}", v))
                  for k, v in raw_fields.items()}
        if pattern is None and not fields:
            raise _err(source, at, "a rule needs `any`, `regex` or `fields`")
        sets = r.get("set")
        if not isinstance(sets, dict) or not sets:
            raise _err(source, f"{at}.set", "must set urgency, sentiment and/or requires_action")
        for k, v in sets.items():
            if k not in ATTRIBUTES:
                raise _err(source, f"{at}.set.{k}", "unknown attribute")
            _value(source, f"{at}.set.{k}", k, v)
        rules.append(Rule(name, pattern, unless, fields, dict(sets)))
    return RuleSet(source, defaults, tuple(rules))


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> RuleSet:
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise _err(path, "", f"invalid YAML: {exc}") from exc
    return parse_rules(doc, path)


def load_rules(path: Path | str | None = None) -> RuleSet:
    """The rules of ``path`` (default: the built-in file); re-read when the file changes."""
    p = Path(path) if path is not None else DEFAULT_RULES
    try:
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise _err(str(p), "", f"cannot read: {exc}") from exc
    return _load_cached(str(p), mtime)
