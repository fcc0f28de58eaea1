"""Load and check a column-mapping YAML file (``deskpulse import --mapping``).

The one job of this module: turn a mapping file into a typed, validated :class:`Mapping`, or
raise :class:`~deskpulse.errors.ConfigError` naming the file, the key path and the reason.
The format is documented in docs/import.md; in short::

    preset: event-log            # optional: zendesk | event-log
    format: csv                  # optional: csv | parquet | jsonl
    tz: Europe/Berlin            # optional: zone of timestamps without an offset (wins over --tz)
    delimiter: ";"               # optional: CSV delimiter (sniffed when absent)
    timestamp_format: "%d/%m/%Y %H:%M"   # optional: strptime format, or a list of them
    null_values: ["?", "N/A"]    # optional: tokens read as empty
    columns: {ticket_id: "Case Number", created_at: Opened, status: State}
    values:
      status: {"Waiting on Customer": pending}
      priority: {"1 - Critical": urgent}
    constants: {channel: email}
    reject_values: {State: {"-100": "placeholder state, not a real status"}}
    events:                      # the same keys again for the events file (inherits the
      columns: {event_at: When}  # top-level timestamp_format / null_values / delimiter / values)
      values: {kind: {note: comment}, actor: {Customer: end_user}}
    event_log: {...}             # options of the event-log preset
    zendesk: {...}               # options of the zendesk preset
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deskpulse import model
from deskpulse.errors import ConfigError

#: Canonical columns whose values are enumerations, with their allowed values.
TICKET_ENUMS: dict[str, tuple[str, ...]] = {
    "status": model.STATUSES,
    "priority": model.PRIORITIES,
    "satisfaction": model.SATISFACTION,
}
EVENT_ENUMS: dict[str, tuple[str, ...]] = {
    "kind": model.EVENT_KINDS,
    "actor": model.ACTORS,
    "status": model.STATUSES,
    "priority": model.PRIORITIES,
}
#: Built-in alias tables per enumerated field (CONTRACT §1).
BUILTIN_ALIASES: dict[str, dict[str, str]] = {
    "status": dict(model.STATUS_ALIASES),
    "priority": dict(model.PRIORITY_ALIASES),
    "actor": dict(model.ACTOR_ALIASES),
    "kind": {k: k for k in model.EVENT_KINDS},
    "satisfaction": {k: k for k in model.SATISFACTION},
}

PRESETS = ("zendesk", "event-log")
FORMATS = ("csv", "parquet", "jsonl")

_FILE_KEYS = {
    "columns",
    "values",
    "constants",
    "timestamp_format",
    "null_values",
    "delimiter",
    "reject_values",
}
_TOP_KEYS = _FILE_KEYS | {"version", "preset", "format", "tz", "events", "event_log", "zendesk"}
_EVENT_COLUMNS = set(model.EVENT_COLUMNS)
_TICKET_COLUMNS = set(model.TICKET_COLUMNS) - {"extra"}


def normalize_preset(name: str) -> str | None:
    """``event_log`` / ``eventlog`` / ``Event-Log`` → ``event-log``; None when not a preset."""
    key = name.strip().lower().replace("_", "-")
    if key == "eventlog":
        key = "event-log"
    return key if key in PRESETS else None


def fold(value: str) -> str:
    """Python twin of :func:`deskpulse.ingest.sql.norm_sql` (used for messages only)."""
    return " ".join(value.replace("_", " ").split()).lower()


@dataclass(frozen=True)
class FileMapping:
    """How one input file's columns and values map onto a canonical table."""

    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source column
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical -> {src: dst}
    constants: dict[str, str] = field(default_factory=dict)  # canonical -> constant value
    timestamp_format: tuple[str, ...] = ()
    null_values: tuple[str, ...] = ()
    delimiter: str | None = None
    reject_values: dict[str, dict[str, str]] = field(default_factory=dict)  # src col -> {v: why}


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file (or the empty mapping when none was given)."""

    path: Path | None = None
    preset: str | None = None
    format: str | None = None
    tz: str | None = None
    tickets: FileMapping = field(default_factory=FileMapping)
    events: FileMapping = field(default_factory=FileMapping)
    options: dict[str, Any] = field(default_factory=dict)  # preset section, e.g. event_log: {...}

    @property
    def label(self) -> str:
        return str(self.path) if self.path is not None else "<no mapping>"

    def error(self, key: str, reason: str) -> ConfigError:
        """A ConfigError naming this file, ``key`` and ``reason``."""
        return config_error(self.path, key, reason)


def config_error(path: Path | None, key: str, reason: str) -> ConfigError:
    where = str(path) if path is not None else "<mapping>"
    return ConfigError(f"{where}: {key}: {reason}", file=where, key=key, reason=reason)


def check_tz(name: str) -> bool:
    """True when ``name`` is an IANA time zone known to this machine's tz database."""
    if not name or name != name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def load_mapping(path: Path) -> Mapping:
    """Read and validate a mapping YAML file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error(path, "<file>", f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise config_error(path, "<file>", "not UTF-8 text") from exc
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise config_error(path, "<file>", f"not valid YAML: {exc}") from exc
    if doc is None:
        doc = {}
    return parse_mapping(doc, Path(path))


def parse_mapping(doc: Any, path: Path | None = None) -> Mapping:
    """Validate an already-loaded mapping document."""
    if not isinstance(doc, dict):
        raise config_error(path, "<root>", "a mapping file must be a YAML mapping (key: value)")
    for key in doc:
        if key not in _TOP_KEYS:
            raise config_error(
                path, str(key), f"unknown key (allowed: {', '.join(sorted(_TOP_KEYS))})"
            )
    version = doc.get("version", 1)
    if version != 1:
        raise config_error(path, "version", "only version 1 is supported")
    preset = None
    if doc.get("preset") is not None:
        raw = doc["preset"]
        preset = normalize_preset(raw) if isinstance(raw, str) else None
        if preset is None:
            raise config_error(
                path, "preset", f"unknown preset {raw!r} (use one of {', '.join(PRESETS)})"
            )
    fmt = None
    if doc.get("format") is not None:
        fmt = doc["format"]
        if fmt == "json":
            fmt = "jsonl"
        if fmt not in FORMATS:
            raise config_error(
                path, "format", f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})"
            )
    tz = None
    if doc.get("tz") is not None:
        tz = doc["tz"]
        if not isinstance(tz, str) or not check_tz(tz):
            raise config_error(
                path, "tz", f"unknown time zone {tz!r} (use an IANA name such as Europe/Berlin)"
            )
    tickets = _parse_file(doc, path, "", _TICKET_COLUMNS, TICKET_ENUMS, None)
    ev_doc = doc.get("events") or {}
    if not isinstance(ev_doc, dict):
        raise config_error(path, "events", "must be a mapping")
    for key in ev_doc:
        if key not in _FILE_KEYS:
            raise config_error(
                path, f"events.{key}", f"unknown key (allowed: {', '.join(sorted(_FILE_KEYS))})"
            )
    events = _parse_file(ev_doc, path, "events.", _EVENT_COLUMNS, EVENT_ENUMS, tickets)
    options: dict[str, Any] = {}
    for section in ("event_log", "zendesk"):
        if doc.get(section) is not None:
            if not isinstance(doc[section], dict):
                raise config_error(path, section, "must be a mapping")
            options[section] = doc[section]
    return Mapping(
        path=path, preset=preset, format=fmt, tz=tz, tickets=tickets, events=events, options=options
    )


def _str_map(value: Any, path: Path | None, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise config_error(path, key, "must be a mapping")
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(k, bool) or not isinstance(k, str | int | float):
            raise config_error(path, f"{key}.{k}", "keys must be strings")
        if v is None or isinstance(v, bool) or not isinstance(v, str | int | float):
            raise config_error(path, f"{key}.{k}", "value must be a string")
        out[str(k)] = str(v)
    return out


def _str_list(value: Any, path: Path | None, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        raise config_error(path, key, "must be a string or a list of strings")
    return tuple(str(v) for v in value)


def _parse_file(
    doc: dict[str, Any],
    path: Path | None,
    prefix: str,
    canonical: set[str],
    enums: dict[str, tuple[str, ...]],
    parent: FileMapping | None,
) -> FileMapping:
    columns = _str_map(doc.get("columns"), path, prefix + "columns")
    for k in columns:
        if k not in canonical:
            raise config_error(
                path,
                f"{prefix}columns.{k}",
                f"not a canonical column (one of {', '.join(sorted(canonical))})",
            )
    constants = _str_map(doc.get("constants"), path, prefix + "constants")
    for k in constants:
        if k not in canonical:
            raise config_error(path, f"{prefix}constants.{k}", "not a canonical column")
        if k in enums and resolve_value(constants[k], k, {}) is None:
            raise config_error(
                path,
                f"{prefix}constants.{k}",
                f"{constants[k]!r} is not a valid {k} ({', '.join(enums[k])})",
            )
    raw_values = doc.get("values")
    if raw_values is not None and not isinstance(raw_values, dict):
        raise config_error(path, prefix + "values", "must be a mapping")
    values: dict[str, dict[str, str]] = {}
    if parent is not None:  # events inherit the tickets' status/priority value maps
        values = {k: dict(v) for k, v in parent.values.items() if k in enums}
    for fld, vmap_doc in (raw_values or {}).items():
        key = f"{prefix}values.{fld}"
        if fld not in canonical:
            raise config_error(path, key, "not a canonical column")
        vmap = _str_map(vmap_doc, path, key)
        if fld in enums:
            for src, dst in vmap.items():
                if resolve_value(dst, fld, {}) is None:
                    raise config_error(
                        path,
                        f"{key}.{src}",
                        f"{dst!r} is not a valid {fld} (one of {', '.join(enums[fld])})",
                    )
        values.setdefault(fld, {}).update(vmap)
    fmts = _str_list(doc.get("timestamp_format"), path, prefix + "timestamp_format")
    for f in fmts:
        if "%" not in f:
            raise config_error(
                path, prefix + "timestamp_format", f"{f!r} has no strptime directive (e.g. %Y)"
            )
    nulls = _str_list(doc.get("null_values"), path, prefix + "null_values")
    delim = doc.get("delimiter")
    if delim is not None and (not isinstance(delim, str) or len(delim) != 1):
        raise config_error(path, prefix + "delimiter", "must be a single character")
    rej_doc = doc.get("reject_values")
    if rej_doc is not None and not isinstance(rej_doc, dict):
        raise config_error(
            path, prefix + "reject_values", "must be a mapping of column -> {value: reason}"
        )
    reject_values = {
        str(col): _str_map(v, path, f"{prefix}reject_values.{col}")
        for col, v in (rej_doc or {}).items()
    }
    if parent is not None:
        fmts = fmts or parent.timestamp_format
        nulls = nulls or parent.null_values
        delim = delim or parent.delimiter
    return FileMapping(
        columns=columns,
        values=values,
        constants=constants,
        timestamp_format=fmts,
        null_values=nulls,
        delimiter=delim,
        reject_values=reject_values,
    )


def resolve_value(value: str, fld: str, extra: dict[str, str]) -> str | None:
    """Canonical value for ``value`` of enumerated field ``fld`` (None when unknown)."""
    aliases = {fold(k): v for k, v in BUILTIN_ALIASES.get(fld, {}).items()}
    aliases.update({fold(k): v for k, v in extra.items()})
    return aliases.get(fold(value))
