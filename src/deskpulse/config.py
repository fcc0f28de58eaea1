"""The deskpulse YAML config file: reading it, and the seed-000 ``thresholds`` section.

``deskpulse.yaml`` has top-level sections ``thresholds``, ``calendars``, ``policies`` and
later ones. This module reads the file and validates ``thresholds``; the SLA sections are
validated by :mod:`deskpulse.sla.policies`. Every error names the file, the key path and the
reason (CONTRACT §2), before any data is touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deskpulse.errors import ConfigError


class Thresholds(BaseModel):
    """Seed 000's targets: the defaults apply when the file or the section is absent."""

    model_config = ConfigDict(extra="forbid")

    first_response_minutes: float = Field(60.0, gt=0)
    resolution_hours: float = Field(24.0, gt=0)
    sla_target_percentage: float = Field(95.0, ge=0, le=100)
    resolution_rate_target: float = Field(0.85, ge=0, le=1)
    bottleneck_threshold_percentage: float = Field(20.0, ge=0, le=100)


@dataclass(frozen=True)
class AppConfig:
    """A parsed config file: validated thresholds plus the raw sections for other layers."""

    source: str
    thresholds: Thresholds
    sections: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """A hash of the whole config: a build is stale when it changes."""
        blob = json.dumps(self.sections, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def format_loc(loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into a config path like ``policies[0].targets``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def config_error(source: str, path: str, reason: str) -> ConfigError:
    """A ConfigError whose message names file, path and reason."""
    where = f"{source}: {path}" if path else source
    return ConfigError(f"{where}: {reason}", file=source, path=path, reason=reason)


def parse_config(raw: Any, source: str = "<config>") -> AppConfig:
    """Validate an already-loaded YAML document."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise config_error(source, "", "the top level must be a mapping of sections")
    thresholds_raw = raw.get("thresholds") or {}
    try:
        thresholds = Thresholds.model_validate(thresholds_raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise config_error(source, format_loc(("thresholds", *err["loc"])), err["msg"]) from exc
    return AppConfig(source=source, thresholds=thresholds, sections=dict(raw))


def load_config(path: Path | str | None, *, required: bool = False) -> AppConfig:
    """Read ``path``; a missing default file gives the built-in defaults (seed 000)."""
    if path is None:
        return parse_config({}, "<defaults>")
    p = Path(path)
    if not p.exists():
        if required:
            raise config_error(str(p), "", "config file not found")
        return parse_config({}, "<defaults>")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise config_error(str(p), where, f"invalid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise config_error(str(p), "", f"cannot read: {exc}") from exc
    return parse_config(raw, str(p))
