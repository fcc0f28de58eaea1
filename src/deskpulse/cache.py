"""Where deskpulse keeps files it can always recompute (fitted risk models, transpiled SQL).

``$DESKPULSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/deskpulse``, else ``~/.cache/deskpulse``.
Deleting the folder is always safe; a cache that cannot be read or written is skipped.
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import suppress
from pathlib import Path

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """The cache folder (not created here)."""
    explicit = os.environ.get("DESKPULSE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deskpulse"


def _entry(kind: str, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return cache_dir() / kind / digest[:2] / digest


def read_text(kind: str, key: str) -> str | None:
    """The text stored under ``key`` in the ``kind`` folder, or None."""
    try:
        return _entry(kind, key).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_text(kind: str, key: str, text: str) -> None:
    """Store ``text`` under ``key`` (atomically; readable by this user only); failures are logged."""
    path = _entry(kind, key)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cache: cannot write %s: %s", path, exc)
        with suppress(OSError):
            tmp.unlink()
