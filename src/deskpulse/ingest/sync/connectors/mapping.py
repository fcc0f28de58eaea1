"""Zendesk- and Intercom-shaped ticket objects → canonical ticket rows (Arrow), fast.

The Zendesk mapping is the import preset's (:mod:`deskpulse.ingest.presets.zendesk`, table in
docs/import.md): ``id``→ticket_id, ``via.channel``→channel (voice→phone, native_messaging→chat),
``type``→category, ``group_id``/``brand_id``/``organization_id``→group/brand/organization,
``tags``→space-separated, ``satisfaction_rating.score``→satisfaction, status ``deleted``→closed
with ``deleted_at = updated_at``, every other non-null key → ``extra``. The preset validates
files through DuckDB, which costs ~0.2 ms a ticket; this module applies the same mapping to
decoded JSON objects column by column, and :func:`zendesk_page` to a raw page body parsed by
Arrow's JSON reader (no Python object per ticket: the simulator connector's high-volume path).
Tests check all three give the same rows. Objects without an id or a parseable created_at are rejected (counted), as the preset
rejects them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from deskpulse.errors import DeskpulseError
from deskpulse.ingest.presets.zendesk import MAPPED_KEYS
from deskpulse.model import PRIORITY_ALIASES, STATUS_ALIASES, TICKET_SCHEMA

log = logging.getLogger(__name__)

_MAPPED = frozenset(MAPPED_KEYS)
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_CHANNEL = {"voice": "phone", "native_messaging": "chat"}
_TAG_RE = re.compile(r"<[^>]+>")


def _s(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _ts(values: list[Any]) -> pa.Array:
    """ISO 8601 strings (offset or Z) or epoch numbers → naive-UTC timestamp('us')."""
    if any(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        secs = pa.array([float(v) if isinstance(v, int | float) else None for v in values],
                        pa.float64())
        us = pc.cast(pc.multiply(secs, 1_000_000.0), pa.int64(), safe=False)
        return pc.cast(us, pa.timestamp("us"))
    arr = pa.array([v if isinstance(v, str) else None for v in values], pa.string())
    parsed = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
    naive = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    out = pc.coalesce(pc.cast(parsed, pa.timestamp("us")), naive)
    return out


def _status(v: Any) -> str | None:
    s = _s(v)
    if s is None:
        return None
    key = " ".join(s.strip().lower().replace("_", " ").split())
    return STATUS_ALIASES.get(key, STATUS_ALIASES.get(s.strip().lower()))


def _priority(v: Any) -> str | None:
    s = _s(v)
    if s is None or not s.strip():
        return None
    return PRIORITY_ALIASES.get(s.strip().lower())


def latest_per_id(t: pa.Table) -> pa.Table:
    """One row per ticket_id: the latest updated_at (then the last in page order)."""
    if t.num_rows < 2:
        return t
    ids = t.column("ticket_id")
    if len(pc.unique(ids)) == t.num_rows:
        return t
    idx = pa.array(range(t.num_rows), pa.int64())
    t2 = t.append_column("__i", idx)
    order = pc.sort_indices(t2, sort_keys=[("ticket_id", "ascending"), ("updated_at", "descending"),
                                          ("__i", "descending")])
    s = t2.take(order)
    sid = s.column("ticket_id").combine_chunks()
    # the first row of each id run: differs from its predecessor (vectorised, no loop)
    first = pc.fill_null(pc.not_equal(sid.slice(1), sid.slice(0, len(sid) - 1)), True)
    keep = pa.concat_arrays([pa.array([True]), first])
    return s.filter(keep).drop_columns(["__i"])


def _col(values: list[Any]) -> pa.Array:
    """Python scalars (str, int, None, …) → a string array, vectorised where possible."""
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([_s(v) for v in values], pa.string())
    if pa.types.is_null(arr.type):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_string(arr.type):
        return arr
    if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type):
        return pc.cast(arr, pa.string()) if not pa.types.is_boolean(arr.type) else pa.array(
            [_s(v) for v in values], pa.string())
    return pa.array([_s(v) for v in values], pa.string())


def _lookup(values: pa.Array, table: dict[str, str]) -> pa.Array:
    """Lower-cased values mapped through ``table`` (unknown → null)."""
    keys = pa.array(list(table), pa.string())
    mapped = pa.array(list(table.values()), pa.string())
    norm = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    norm = pc.replace_substring(norm, "_", " ")
    idx = pc.index_in(norm, value_set=keys)
    return pc.take(mapped, idx)


def zendesk_tickets(objs: Iterable[dict[str, Any]]) -> tuple[pa.Table, int]:
    """Zendesk ticket objects → (canonical tickets, rejected count), column by column."""
    rows = list(objs)
    n = len(rows)
    get = [o.get for o in rows]
    raw_status = _col([g("status") for g in get])
    is_deleted = pc.fill_null(pc.equal(raw_status, "deleted"), False)
    status = pc.if_else(is_deleted, pa.scalar("closed"), _lookup(raw_status, STATUS_ALIASES))
    vias = [g("via") for g in get]
    channel = _col([v.get("channel") if isinstance(v, dict) else None for v in vias])
    channel = pc.coalesce(_lookup(channel, _CHANNEL), channel) if n else channel
    tags_raw = [g("tags") for g in get]
    tags = [" ".join(str(t) for t in v) if isinstance(v, list) else _s(v) for v in tags_raw]
    sats = [g("satisfaction_rating") for g in get]
    dumps = _ENCODER.encode
    mapped = _MAPPED
    extras = []
    for o in rows:
        extra = {k: v for k, v in o.items() if k not in mapped and v is not None}
        extras.append(dumps(extra) if extra else None)
    cols: dict[str, Any] = {
        "ticket_id": _col([g("id") for g in get]),
        "status": status,
        "priority": _lookup(_col([g("priority") for g in get]), PRIORITY_ALIASES),
        "channel": channel,
        "category": _col([g("type") for g in get]),
        "group": _col([g("group_id") for g in get]),
        "brand": _col([g("brand_id") for g in get]),
        "region": pa.nulls(n, pa.string()),
        "organization": _col([g("organization_id") for g in get]),
        "tier": pa.nulls(n, pa.string()),
        "requester_id": _col([g("requester_id") for g in get]),
        "assignee_id": _col([g("assignee_id") for g in get]),
        "subject": _col([g("subject") for g in get]),
        "description": _col([g("description") for g in get]),
        "tags": pa.array(tags, pa.string()),
        "satisfaction": _col([v.get("score") if isinstance(v, dict) else None for v in sats]),
        "extra": pa.array(extras, pa.string()),
    }
    return _finish_arrays(cols, [g("created_at") for g in get], [g("updated_at") for g in get],
                          is_deleted)


def _finish_arrays(cols: dict[str, Any], created: list[Any], updated: list[Any],
                   deleted: Any) -> tuple[pa.Table, int]:
    created_a = _ts(created)
    return _finish(cols, created_a, pc.coalesce(_ts(updated), created_a), deleted)


def _finish(cols: dict[str, Any], created_a: Any, updated_a: Any,
            deleted: Any) -> tuple[pa.Table, int]:
    n = len(created_a)
    deleted_at = pc.if_else(deleted, updated_a, pa.nulls(n, pa.timestamp("us")))
    arrays: dict[str, Any] = {}
    for f in TICKET_SCHEMA:
        if f.name == "created_at":
            arrays[f.name] = created_a
        elif f.name == "updated_at":
            arrays[f.name] = updated_a
        elif f.name == "deleted_at":
            arrays[f.name] = deleted_at
        elif f.name in ("first_reply_at", "solved_at"):
            arrays[f.name] = pa.nulls(n, pa.timestamp("us"))
        else:
            arrays[f.name] = cols[f.name]
    table = pa.table(arrays)
    ok = pc.and_(pc.is_valid(table.column("ticket_id")),
                 pc.and_(pc.is_valid(table.column("created_at")),
                         pc.is_valid(table.column("status"))))
    kept = table.filter(ok)
    kept = latest_per_id(kept)
    return kept.cast(TICKET_SCHEMA), table.num_rows - int(pc.sum(ok).as_py() or 0)


# --- raw Zendesk pages, parsed by Arrow ------------------------------------------------------

class PageFormatError(DeskpulseError):
    """A page body that is not JSON, or has no list under the expected key."""

    code = "connector_error"
    exit_code = 6
    http_status = 502


#: Canonical text column ← Zendesk key (values become text as ``_col`` makes them).
_TEXT_FIELDS = {"ticket_id": "id", "category": "type", "group": "group_id", "brand": "brand_id",
                "organization": "organization_id", "requester_id": "requester_id",
                "assignee_id": "assignee_id", "subject": "subject", "description": "description"}
_CONTROL = re.compile(r"[\x00-\x1f]")


class _Fallback(Exception):
    """A page shape the Arrow path does not reproduce exactly: use the Python mapping."""


def _field(items: pa.StructArray, name: str) -> pa.Array | None:
    i = items.type.get_field_index(name)
    return None if i < 0 else items.field(i)


def _text_arrow(arr: pa.Array | None, n: int) -> pa.Array:
    """An Arrow column → text, as :func:`_col` turns JSON scalars into text."""
    if arr is None or pa.types.is_null(arr.type):
        return pa.nulls(n, pa.string())
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr.cast(pa.string())
    if pa.types.is_integer(arr.type) or pa.types.is_boolean(arr.type):
        return pc.cast(arr, pa.string())
    raise _Fallback(f"column of type {arr.type}")


def _child(arr: pa.Array | None, name: str, n: int) -> pa.Array:
    """``obj.name`` when ``obj`` is an object (else null), as text."""
    if arr is None or not pa.types.is_struct(arr.type):
        if arr is not None and not (pa.types.is_null(arr.type) or pa.types.is_string(arr.type)
                                    or pa.types.is_integer(arr.type)):
            raise _Fallback(f"object of type {arr.type}")
        return pa.nulls(n, pa.string())
    value = _text_arrow(_field(arr, name), n)
    return pc.if_else(pc.is_valid(arr), value, pa.nulls(n, pa.string()))


def _ts_arrow(arr: pa.Array | None, n: int) -> pa.Array:
    """ISO 8601 text (inferred as timestamps or not) or epoch seconds → naive-UTC timestamp('us')."""
    if arr is None or pa.types.is_null(arr.type):
        return pa.nulls(n, pa.timestamp("us"))
    if pa.types.is_timestamp(arr.type):  # Arrow read the ISO text itself (UTC)
        us = pc.cast(arr, pa.timestamp("us", tz=arr.type.tz)) if arr.type.unit != "us" else arr
        return pc.cast(pc.cast(us, pa.int64()), pa.timestamp("us"))
    if pa.types.is_string(arr.type):
        parsed = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
        naive = pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
        return pc.coalesce(pc.cast(parsed, pa.timestamp("us")), naive)
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        us = pc.cast(pc.multiply(pc.cast(arr, pa.float64()), 1_000_000.0), pa.int64(), safe=False)
        return pc.cast(us, pa.timestamp("us"))
    raise _Fallback(f"timestamp of type {arr.type}")


def _json_string(arr: pa.Array) -> pa.Array:
    """Text values as JSON strings (quotes and backslashes escaped)."""
    esc = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', esc, '"', "")


def _extra_arrow(items: pa.StructArray, n: int) -> pa.Array:
    """``extra``: the unmapped keys with a value, as a compact JSON object (null when none).
    Only top-level scalars are rebuilt here; nested values go to the Python mapping."""
    pieces = []
    for i in range(items.type.num_fields):
        name = items.type.field(i).name
        if name in _MAPPED:
            continue
        arr = items.field(i)
        t = arr.type
        if pa.types.is_null(t):
            continue
        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            value = pc.cast(arr, pa.string())
        elif pa.types.is_string(t):
            if pc.any(pc.match_substring_regex(arr, "[\\x00-\\x1f]")).as_py():
                raise _Fallback("control characters in a text value")
            value = _json_string(arr)
        else:
            raise _Fallback(f"{name!r} holds {t} values")
        if _CONTROL.search(name):
            raise _Fallback("control characters in a key")
        key = _ENCODER.encode(name) + ":"
        pieces.append(pc.binary_join_element_wise(pa.scalar(key), value, ""))
    if not pieces:
        return pa.nulls(n, pa.string())
    body = pc.binary_join_element_wise(*pieces, ",", null_handling="skip")
    wrapped = pc.binary_join_element_wise("{", body, "}", "")
    return pc.if_else(pc.equal(wrapped, "{}"), pa.nulls(n, pa.string()), wrapped)


def _page_arrow(body: bytes, key: str) -> tuple[pa.Table, int, dict[str, Any]]:
    try:
        doc = pajson.read_json(pa.BufferReader(body), read_options=pajson.ReadOptions(
            use_threads=False, block_size=max(1 << 20, len(body) + 1)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _Fallback(str(exc)) from exc
    if doc.num_rows != 1:
        raise _Fallback("not one JSON object")
    if key not in doc.column_names:
        raise PageFormatError(f"the answer has no {key!r} list")
    lists = doc.column(key).combine_chunks()
    if pa.types.is_null(lists.type) or not lists.is_valid()[0].as_py():
        raise PageFormatError(f"the answer has no {key!r} list")
    if not pa.types.is_list(lists.type) or not (
            pa.types.is_struct(lists.type.value_type) or pa.types.is_null(lists.type.value_type)):
        raise _Fallback("the list does not hold objects only")
    rest = {c: doc.column(c)[0].as_py() for c in doc.column_names if c != key}
    items = pc.list_flatten(lists)
    n = len(items)
    if pa.types.is_null(items.type):
        return _finish_empty(), 0, rest
    if items.null_count:
        raise _Fallback("null items")
    cols: dict[str, Any] = {c: _text_arrow(_field(items, k), n) for c, k in _TEXT_FIELDS.items()}
    raw_status = _text_arrow(_field(items, "status"), n)
    is_deleted = pc.fill_null(pc.equal(raw_status, "deleted"), False)
    cols["status"] = pc.if_else(is_deleted, pa.scalar("closed"), _lookup(raw_status, STATUS_ALIASES))
    cols["priority"] = _lookup(_text_arrow(_field(items, "priority"), n), PRIORITY_ALIASES)
    channel = _child(_field(items, "via"), "channel", n)
    cols["channel"] = pc.coalesce(_lookup(channel, _CHANNEL), channel) if n else channel
    cols["satisfaction"] = _child(_field(items, "satisfaction_rating"), "score", n)
    tags = _field(items, "tags")
    if tags is None or pa.types.is_null(tags.type):
        cols["tags"] = pa.nulls(n, pa.string())
    elif pa.types.is_list(tags.type) and (pa.types.is_string(tags.type.value_type)
                                          or pa.types.is_null(tags.type.value_type)
                                          or pa.types.is_integer(tags.type.value_type)):
        if pc.list_flatten(tags).null_count:
            raise _Fallback("null tag")
        cols["tags"] = pc.binary_join(tags.cast(pa.list_(pa.string())), " ")
    elif pa.types.is_string(tags.type):
        cols["tags"] = tags
    else:
        raise _Fallback(f"tags of type {tags.type}")
    cols["region"] = pa.nulls(n, pa.string())
    cols["tier"] = pa.nulls(n, pa.string())
    cols["extra"] = _extra_arrow(items, n)
    created_a = _ts_arrow(_field(items, "created_at"), n)
    updated_a = pc.coalesce(_ts_arrow(_field(items, "updated_at"), n), created_a)
    tickets, rejected = _finish(cols, created_a, updated_a, is_deleted)
    return tickets, rejected, rest


def _finish_empty() -> pa.Table:
    return TICKET_SCHEMA.empty_table()


def zendesk_page(body: bytes, key: str = "tickets") -> tuple[pa.Table, int, dict[str, Any]]:
    """A raw Zendesk page body → (canonical tickets, rejected count, the rest of the document).

    The same rows as :func:`zendesk_tickets` over the decoded page, but parsed by Arrow's C++
    JSON reader and mapped column-wise: no Python object per ticket. Shapes it does not
    rebuild exactly (nested unmapped values, mixed types, a pretty-printed body) take the
    Python mapping. "The rest" is the page without its ``key`` list (meta, cursors, counts).
    Thread-safe; Arrow releases the GIL while it parses.
    """
    try:
        return _page_arrow(body, key)
    except _Fallback as why:
        log.debug("page mapped in Python: %s", why)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PageFormatError("the answer is not JSON") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise PageFormatError(f"the answer has no {key!r} list")
    tickets, rejected = zendesk_tickets(o for o in doc.pop(key) if isinstance(o, dict))
    return tickets, rejected, doc


_INTERCOM_STATE = {"open": "open", "snoozed": "hold", "closed": "solved"}
_INTERCOM_MAPPED = frozenset({
    "type", "id", "created_at", "updated_at", "state", "open", "priority", "title", "source",
    "tags", "admin_assignee_id", "team_assignee_id", "contacts", "statistics", "read",
    "waiting_since", "snoozed_until",
})


def intercom_conversations(objs: Iterable[dict[str, Any]]) -> tuple[pa.Table, int]:
    """Intercom conversation objects → (canonical tickets, rejected count).

    ``id``→ticket_id; ``created_at``/``updated_at`` (epoch seconds); ``state`` open→open,
    snoozed→hold, closed→solved; ``priority`` "priority"→high else normal; ``title`` or
    ``source.subject``→subject; ``source.body`` (HTML stripped)→description;
    ``source.delivered_as``/``source.type``→channel; ``source.author.id``→requester_id;
    ``admin_assignee_id``→assignee_id; ``team_assignee_id``→group; tag names→tags;
    ``statistics.first_admin_reply_at``→first_reply_at is left to events (not mapped).
    """
    names = [f.name for f in TICKET_SCHEMA]
    cols: dict[str, list[Any]] = {n: [] for n in names}
    created: list[Any] = []
    updated: list[Any] = []
    deleted: list[bool] = []
    for o in objs:
        raw_src = o.get("source")
        src: dict[str, Any] = raw_src if isinstance(raw_src, dict) else {}
        raw_author = src.get("author")
        author: dict[str, Any] = raw_author if isinstance(raw_author, dict) else {}
        tag_obj = o.get("tags")
        tag_list = tag_obj.get("tags", []) if isinstance(tag_obj, dict) else []
        body = src.get("body")
        channel = src.get("type")
        if channel == "conversation":
            channel = "chat"
        extra = {k: v for k, v in o.items() if k not in _INTERCOM_MAPPED and v is not None}
        cols["ticket_id"].append(_s(o.get("id")))
        created.append(o.get("created_at"))
        updated.append(o.get("updated_at"))
        deleted.append(False)
        cols["status"].append(_INTERCOM_STATE.get(str(o.get("state"))))
        cols["priority"].append("high" if o.get("priority") == "priority" else "normal")
        cols["channel"].append(_s(channel))
        cols["category"].append(None)
        cols["group"].append(_s(o.get("team_assignee_id")))
        cols["brand"].append(None)
        cols["region"].append(None)
        cols["organization"].append(None)
        cols["tier"].append(None)
        cols["requester_id"].append(_s(author.get("id")))
        cols["assignee_id"].append(_s(o.get("admin_assignee_id")))
        cols["subject"].append(_s(o.get("title") or src.get("subject")))
        cols["description"].append(_TAG_RE.sub(" ", body).strip() if isinstance(body, str) else None)
        cols["tags"].append(" ".join(str(t.get("name")) for t in tag_list if isinstance(t, dict))
                            or None)
        cols["satisfaction"].append(None)
        cols["extra"].append(json.dumps(extra, separators=(",", ":")) if extra else None)
    arrays = {k: pa.array(v, pa.string()) for k, v in cols.items()}
    return _finish_arrays(arrays, created, updated, pa.array(deleted, pa.bool_()))
