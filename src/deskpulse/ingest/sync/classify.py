"""Rule-based classification on ingest: urgency, sentiment, requires_action and the rule.

Rules live in a YAML file users edit (``examples/classification_rules.yml`` documents the
format; the built-in copy is ``rules_default.yml`` beside this module). Matching is vectorised
with RE2 over a whole page of tickets — no Python loop over rows. For each attribute the first
matching rule (top to bottom) that sets it wins; ``classified_by`` names the rule that decided
urgency (else the first rule that matched, else ``default``). A high-urgency ticket always
requires action.

Small pages run one Arrow RE2 search per rule (and per ``unless``). Large tables (a file import)
find the phrases of all rules together instead (:class:`_OnePass`): DuckDB's
``regexp_extract_all`` over one alternation of the phrases, longest first, on both cores — two
scans for the built-in rules instead of 13 searches; a rule matches when an extracted phrase
contains one of its phrases at word boundaries. That gives the same answer as the per-rule
searches (see :class:`_OnePass` for why); patterns it cannot answer (a ``regex``, a phrase
starting or ending with a non-word character) keep the per-rule search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
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

#: Tables with at least this many rows are matched in one pass (:class:`_OnePass`); smaller
#: pages (the sync's) search rule by rule, which has no fixed cost.
ONE_PASS_MIN_ROWS = 20_000

#: Rows per Arrow batch handed to DuckDB for the one-pass scans (each batch is one task).
_BATCH_ROWS = 50_000

#: RE2's ``\b``: a word character is ASCII [0-9A-Za-z_] (Python's ``re.ASCII`` agrees).
_WORD = re.compile(r"\w", re.ASCII)


def _phrase(text: str) -> str:
    body = "".join("\\" + ch if ch in _META else ch for ch in text.strip().lower())
    return body


def _literal(text: str) -> str:
    """The text a phrase's pattern matches (what :func:`_phrase` escapes)."""
    return text.strip().lower()


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
    #: the literal phrases of ``any`` / ``unless`` (what the patterns match at word boundaries);
    #: ``has_regex``: ``pattern`` also holds ``regex`` entries
    phrases: tuple[str, ...] = ()
    unless_phrases: tuple[str, ...] = ()
    has_regex: bool = False


@dataclass(frozen=True)
class RuleSet:
    source: str
    defaults: dict[str, Any]
    rules: tuple[Rule, ...] = field(default_factory=tuple)

    @cached_property
    def _one_pass(self) -> _OnePass:
        return _OnePass(self.rules)

    def classify(self, tickets: pa.Table, *, one_pass: bool | None = None) -> pa.Table:
        """Return ``tickets`` with urgency, sentiment, requires_action, classified_by set.

        ``one_pass``: find all phrases in one pass (default: for tables of at least
        :data:`ONE_PASS_MIN_ROWS` rows); the result is the same either way.
        """
        n = tickets.num_rows
        text = _text(tickets)
        if one_pass is None:
            one_pass = n >= ONE_PASS_MIN_ROWS
        found = self._one_pass.masks(text) if one_pass else {}

        def search(pattern: str) -> pa.Array:
            if pattern in found:
                return found[pattern]
            return pc.fill_null(pc.match_substring_regex(text, pattern), False)

        masks: list[np.ndarray[Any, np.dtype[np.bool_]]] = []
        for r in self.rules:
            m: Any = pa.array(np.ones(n, np.bool_)) if r.pattern is None else search(r.pattern)
            if r.pattern is None and not r.fields:
                m = pa.array(np.zeros(n, np.bool_))
            if r.unless is not None:
                m = pc.and_(m, pc.invert(search(r.unless)))
            for col, values in r.fields.items():
                if col in tickets.column_names:
                    vals = pc.utf8_lower(pc.cast(tickets.column(col), pa.string()))
                    hit = pc.fill_null(pc.is_in(vals, value_set=pa.array(values, pa.string())), False)
                    m = pc.and_(m, hit)
                else:
                    m = pa.array(np.zeros(n, np.bool_))
            if isinstance(m, pa.ChunkedArray):
                m = m.combine_chunks()
            masks.append(np.asarray(m.to_numpy(zero_copy_only=False), np.bool_))
        # For each attribute the first matching rule that sets it (index into the rules; the
        # last index, one past them, stands for the default), painted from the bottom up.
        last = len(self.rules)
        out: dict[str, Any] = {}
        types = {"urgency": pa.string(), "sentiment": pa.string(), "requires_action": pa.bool_()}
        for attr in ATTRIBUTES:
            first = np.full(n, last, np.int32)
            for i in reversed(range(last)):
                if attr in self.rules[i].sets:
                    first[masks[i]] = i
            choices = [r.sets.get(attr) for r in self.rules] + [self.defaults[attr]]
            out[attr] = pc.take(pa.array(choices, types[attr]), pa.array(first))
        # classified_by: the rule that decided urgency (the first matching rule setting it, whose
        # value urgency took), else the first matching rule of any kind, else "default"
        decided = np.full(n, last, np.int32)
        matched = np.full(n, last, np.int32)
        for i in reversed(range(last)):
            matched[masks[i]] = i
            if "urgency" in self.rules[i].sets:
                decided[masks[i]] = i
        by = np.where(decided < last, decided, matched)
        names = pa.array([r.name for r in self.rules] + ["default"], pa.string())
        out["requires_action"] = pc.or_(out["requires_action"], pc.equal(out["urgency"], "high"))
        out["classified_by"] = pc.take(names, pa.array(by))
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


class _OnePass:
    """Every rule's ``any`` / ``unless`` phrases found in a few scans of the text, not one
    search per pattern.

    A scan is ``regexp_extract_all`` with one alternation ``\\bp\\b|…`` of phrases, longest
    first: RE2 reports the leftmost match, the first alternative (the longest phrase) matching
    there, then continues after it. A phrase Q of the scan occurring in the text (at word
    boundaries) is then either reported, or overlaps a reported phrase P: it cannot start
    before P (P would not be leftmost), if it starts where P does it is not longer (longest
    first), so it starts inside P. Either it ends inside P too — then it is a word-bounded
    substring of P, known from P alone — or it runs past P's end ("straddles" P: a suffix of P
    starting at a word is a prefix of Q, followed in Q by a non-word character, as the text is
    after P). So when no phrase of a scan straddles another, a phrase of the scan occurs exactly
    when an extracted phrase contains it. Phrases are put in scans greedily (the first scan
    without a straddling partner; most go in the first); a pattern matches a row when an
    extracted phrase of some scan contains one of the pattern's phrases.

    Only phrases whose first and last characters are word characters take part (then a
    ``\\b`` at the phrase's edge depends on the neighbour outside it only, as above); patterns
    with other phrases, a ``regex``, or a phrase that fits in none of :data:`MAX_SCANS` scans
    keep the per-rule search.
    """

    MAX_SCANS = 4

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        groups: list[tuple[str, tuple[str, ...]]] = []  # (pattern, its phrases)
        for r in rules:
            if r.pattern is not None and not r.has_regex:
                groups.append((r.pattern, r.phrases))
            if r.unless is not None:
                groups.append((r.unless, r.unless_phrases))
        edged = sorted(
            {p for _, ps in groups for p in ps if _WORD.match(p[0]) and _WORD.match(p[-1])},
            key=lambda p: (-len(p), p),
        )
        #: the phrases of each scan, longest first; no phrase of a scan straddles another
        self.levels: list[list[str]] = []
        found_in: dict[str, int] = {}  # phrase -> its scan
        for q in edged:
            lv = next(
                (i for i, scan in enumerate(self.levels)
                 if not any(_straddles(p, q) or _straddles(q, p) for p in scan)),
                None,
            )
            if lv is None:
                if len(self.levels) == self.MAX_SCANS:
                    continue  # left to the per-rule search
                lv = len(self.levels)
                self.levels.append([])
            self.levels[lv].append(q)
            found_in[q] = lv
        #: pattern -> per level, the extracted phrases that imply a match
        self.implied: dict[str, list[list[str]]] = {}
        for pattern, wanted in groups:
            if not wanted or not all(q in found_in for q in wanted):
                continue
            per_level: list[list[str]] = [[] for _ in self.levels]
            for q in wanted:
                at = found_in[q]
                per_level[at] += [
                    p for p in self.levels[at] if p not in per_level[at] and _contains(p, q)
                ]
            self.implied[pattern] = per_level

    def masks(self, text: pa.Array) -> dict[str, pa.Array]:
        """pattern -> boolean mask over ``text`` for every pattern answered here.

        DuckDB runs the scans (both cores); each extracted phrase then sets, in numpy, the bits
        of the patterns it implies on its row.
        """
        if not self.implied or len(text) == 0:
            return {}
        import duckdb

        patterns = list(self.implied)
        words = -(-len(patterns) // 64)
        params = {
            f"s{lv}": "(?:" + "|".join(rf"\b{_phrase(p)}\b" for p in phrases) + ")"
            for lv, phrases in enumerate(self.levels)
        }
        scans = ", ".join(f"regexp_extract_all(t, $s{lv}) AS m{lv}" for lv in range(len(self.levels)))
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            # in batches: DuckDB scans an Arrow table one batch per thread
            batches = pa.table({"t": text}).to_batches(max_chunksize=_BATCH_ROWS)
            con.register("_dp_text", pa.Table.from_batches(batches))
            sql = f"SELECT {scans} FROM _dp_text"  # noqa: S608 - fixed names; patterns are parameters
            got = con.sql(sql, params=params).to_arrow_table()
        finally:
            con.close()
        row_bits = np.zeros((len(text), words), np.uint64)
        for lv, phrases in enumerate(self.levels):
            # bits of the patterns each phrase of this scan implies (last row: no phrase)
            table = np.zeros((len(phrases) + 1, words), np.uint64)
            for i, pattern in enumerate(patterns):
                for p in self.implied[pattern][lv]:
                    table[phrases.index(p), i // 64] |= np.uint64(1 << (i % 64))
            lists = got.column(lv).combine_chunks()  # one array: row numbers run on
            flat = pc.list_flatten(lists)
            if len(flat) == 0:
                continue
            at = pc.fill_null(pc.index_in(flat, value_set=pa.array(phrases, pa.string())), len(phrases))
            bits = table[np.asarray(at.to_numpy(zero_copy_only=False), np.int64)]
            rows = np.asarray(pc.list_parent_indices(lists).to_numpy(zero_copy_only=False), np.int64)
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])  # rows come in order
            row_bits[rows[starts]] |= np.bitwise_or.reduceat(bits, starts, axis=0)
        return {
            pattern: pa.array((row_bits[:, i // 64] >> np.uint64(i % 64)) & np.uint64(1) == 1)
            for i, pattern in enumerate(patterns)
        }


def _contains(p: str, q: str) -> bool:
    """``q`` occurs in ``p`` at word boundaries (RE2's ``\\b``, ASCII)."""
    return re.search(rf"\b{re.escape(q)}\b", p, re.ASCII) is not None


def _straddles(p: str, q: str) -> bool:
    """``q`` could start at a word inside ``p`` and run past ``p``'s end (where a match of
    ``\\bp\\b`` is followed by a non-word character)."""
    for k in range(1, len(p)):
        if not _WORD.match(p[k - 1]) and _WORD.match(p[k]):
            tail = p[k:]
            if len(q) > len(tail) and q.startswith(tail) and not _WORD.match(q[len(tail)]):
                return True
    return False


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
        phrases = tuple(_literal(p) for p in _strings(source, f"{at}.any", r.get("any")) if p.strip())
        unless_phrases = tuple(
            _literal(p) for p in _strings(source, f"{at}.unless", r.get("unless")) if p.strip()
        )
        has_regex = bool(_strings(source, f"{at}.regex", r.get("regex")))
        rules.append(
            Rule(name, pattern, unless, fields, dict(sets), phrases, unless_phrases, has_regex)
        )
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
