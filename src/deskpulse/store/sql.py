"""SQL dialect handling and tenant scoping, in one place.

Queries are written once in DuckDB's dialect with ``$name`` parameters. :func:`scoped_sql`
rewrites every reference to a tenant table into a subquery filtered on the bound tenant
(so a query cannot forget its ``WHERE tenant_id = …``) and transpiles the result with sqlglot
for PostgreSQL (``%(name)s`` parameters). Values always travel as parameters, never as text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from deskpulse.cache import package_stamp
from deskpulse.cache import read_text as cache_read
from deskpulse.cache import write_text as cache_write
from deskpulse.errors import UsageError
from deskpulse.store.schema import TENANT_TABLES

TENANT_PARAM = "__tenant"
_DIALECTS = {"duckdb": "duckdb", "postgresql": "postgres", "spark": "spark"}


@lru_cache(maxsize=1024)
def _rewrite(sql: str, dialect: str, scoped: bool) -> str:
    """The statement for ``dialect`` (scoped or not), from this process's memory, the disk
    cache, or sqlglot. A CLI command would otherwise import sqlglot (≈ 0.2 s) and parse its
    queries (30–70 ms each) on every run to get the same text."""
    if dialect == "duckdb" and not scoped:
        return sql
    key = "\0".join((_cache_salt(), dialect, str(scoped), sql))
    text = cache_read("sql", key)
    if text is None:
        text = _transpile(sql, dialect, scoped)
        cache_write("sql", key, text)
    return text


@lru_cache(maxsize=1)
def _cache_salt() -> str:
    """What else the text depends on: this module's code, the tenant tables and sqlglot's
    version (read without importing sqlglot: that import is what the cache saves)."""
    return "\0".join((Path(__file__).read_text(encoding="utf-8"), TENANT_PARAM, ",".join(sorted(TENANT_TABLES)),
                      package_stamp("sqlglot")))


def _transpile(sql: str, dialect: str, scoped: bool) -> str:
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="duckdb")
    if scoped:
        if not isinstance(tree, exp.Query):
            raise UsageError("only SELECT queries can be scoped to a tenant")
        cte_names = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}

        def scope(node: exp.Expression) -> exp.Expression:
            if (
                isinstance(node, exp.Table)
                and node.name in TENANT_TABLES
                and node.name not in cte_names
                and not node.args.get("db")
            ):
                alias = node.alias or node.name
                inner = (
                    exp.select("*")
                    .from_(exp.to_table(node.name))
                    .where(
                        exp.EQ(
                            this=exp.column("tenant_id"),
                            expression=exp.Placeholder(this=TENANT_PARAM),
                        )
                    )
                )
                return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias)))
            return node

        tree = tree.transform(scope)
    text = str(tree.sql(dialect=_DIALECTS[dialect]))
    if dialect == "postgresql":
        text = re.sub(r"%(?!\()", "%%", text)
    return text


def scoped_sql(
    sql: str, dialect: str, tenant: str | None, params: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """Return (statement text for ``dialect``, parameters), scoped to ``tenant`` when given."""
    bound = dict(params or {})
    if tenant is not None:
        bound[TENANT_PARAM] = tenant
    return _rewrite(sql, dialect, tenant is not None), bound


def transpile(sql: str, dialect: str) -> str:
    """Transpile one DuckDB-dialect statement to ``dialect`` (duckdb, postgresql, spark)."""
    return _rewrite(sql, dialect, False)
