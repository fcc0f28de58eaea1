"""Where deskpulse keeps files it can always recompute (fitted risk models, transpiled SQL).

``$DESKPULSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/deskpulse``, else ``~/.cache/deskpulse``.
Deleting the folder is always safe; a cache that cannot be read or written is skipped.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=16)
def package_stamp(name: str) -> str:
    """The installed version of package ``name`` for cache keys, without importing it (that
    is what the caches save): its ``dist-info`` folder name, else its location and mtime."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return f"{name}:missing"
    origin = Path(spec.origin)
    infos = sorted(p.name for p in origin.parent.parent.glob(f"{name}-*.dist-info"))
    if infos:
        return infos[-1]
    return f"{origin}:{origin.stat().st_mtime_ns}"


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
