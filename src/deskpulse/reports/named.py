"""Tenant rows addressed by id or by unique name: the shared read side of schedules and alert rules.

Report schedules and alert rules are both stored one row per object, unique per tenant by name,
and found by either their id or their name. :class:`NamedTable` holds what differs (table,
columns, id column, the noun for messages, how a row becomes an object); listing, fetching and
the name-is-free check are written once here. Table and column names are constants of the
calling module, never user input; values always travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from deskpulse.errors import ConflictError, NotFoundError
from deskpulse.store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class NamedTable(Generic[T]):
    """One tenant table of named objects (``name`` unique per tenant)."""

    table: str
    id_column: str
    columns: tuple[str, ...]
    noun: str
    decode: Callable[[Sequence[Any]], T]
    sort_key: Callable[[T], Any]

    def select(self, where: str) -> str:
        """``SELECT <columns> FROM <table> WHERE <where>`` (``where`` is the caller's fixed text)."""
        return f"SELECT {', '.join(self.columns)} FROM {self.table} WHERE {where}"  # noqa: S608

    def all(self, store: Store, tenant: str) -> list[T]:
        """Every object of the tenant, in ``sort_key`` order."""
        rows = store.execute(self.select("tenant_id = $t"), {"t": tenant})
        return sorted((self.decode(r) for r in rows), key=self.sort_key)

    def get(self, store: Store, tenant: str, ref: str) -> T:
        """One object by id or name; another tenant's is as missing as a missing one."""
        rows = store.execute(
            self.select(f"tenant_id = $t AND ({self.id_column} = $r OR name = $r)"), {"t": tenant, "r": ref}
        )
        if not rows:
            raise NotFoundError(f"{self.noun} {ref!r} not found", **{self.noun.split()[-1]: ref})
        return self.decode(rows[0])

    def ensure_name_free(self, store: Store, tenant: str, name: str) -> None:
        """ConflictError when the tenant already has an object called ``name``."""
        if store.execute(f"SELECT 1 FROM {self.table} WHERE tenant_id = $t AND name = $n",  # noqa: S608
                         {"t": tenant, "n": name}):
            article = "an" if self.noun[0] in "aeiou" else "a"
            raise ConflictError(f"{article} {self.noun} named {name!r} exists", name=name)
