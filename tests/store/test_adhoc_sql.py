"""`deskpulse sql` and the BI queries of examples/dashboards, on DuckDB and PostgreSQL.

The SLA overview must agree with the same aggregation done by hand in Python over the tenant's
ticket_sla rows; another tenant's rows never leak in; only one SELECT is accepted.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deskpulse.adhoc import check_select, load_query, run_query
from deskpulse.errors import BadInputError, UsageError

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "examples" / "dashboards"
GOLDEN = REPO / "tests" / "fixtures" / "golden"
AS_OF = datetime(2026, 3, 4, 12, 0, 0)


@pytest.fixture
def built(db_url: str):  # type: ignore[no-untyped-def]
    from deskpulse.analytics.backlog import build_backlog_daily
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    store = open_store(db_url)
    cfg = load_config(GOLDEN / "deskpulse.yaml")
    for tenant in ("acme", "other"):
        repo = store.tenant(tenant)
        import_files(repo, GOLDEN / "tickets.csv", GOLDEN / "events.csv")
        build(repo, cfg, as_of=AS_OF, full=True)
        build_backlog_daily(repo, as_of=AS_OF)
    # the other tenant's instances all read breached: none of that may show in acme's figures
    store.execute("UPDATE ticket_sla SET status = 'breached' WHERE tenant_id = $t", {"t": "other"})
    yield store
    store.close()


def test_sla_overview_agrees_with_a_hand_aggregation(built) -> None:  # type: ignore[no-untyped-def]
    repo = built.tenant("acme")
    sql, source = load_query(str(DASHBOARDS / "sla_overview.sql"))
    got = run_query(repo, sql, {"since": "2026-01-01"}, source=source).to_pylist()
    sla = repo.query("SELECT s.policy, t.priority, t.\"group\", s.metric, s.status FROM ticket_sla s "
                     "JOIN tickets t ON t.ticket_id = s.ticket_id").to_pylist()
    assert sla, "the golden build has SLA instances"
    want: dict[tuple[str, str, str, str], Counter[str]] = {}
    for r in sla:
        want.setdefault((r["policy"], r["priority"], r["group"], r["metric"]), Counter())[r["status"]] += 1
    assert len(got) == len(want)
    for row in got:
        c = want[(row["policy"], row["priority"], row["group"], row["metric"])]
        assert row["instances"] == sum(c.values())
        assert row["met"] == c["met"]
        assert row["breached"] == c["breached"] + c["active_breached"]
        decided = c["met"] + c["breached"] + c["active_breached"]
        expected = None if decided == 0 else round(100.0 * c["met"] / decided, 1)
        assert (None if row["attainment_pct"] is None else float(row["attainment_pct"])) == expected


def test_backlog_burndown_reads_backlog_daily(built) -> None:  # type: ignore[no-untyped-def]
    repo = built.tenant("acme")
    sql, source = load_query(str(DASHBOARDS / "backlog_burndown.sql"))
    rows = run_query(repo, sql, {"since": "2026-03-01"}, source=source).to_pylist()
    assert rows and [r["date"] for r in rows] == sorted(r["date"] for r in rows)
    for r in rows:
        assert r["net_change"] == r["arrivals"] - r["completions"]


def test_only_one_select_with_its_parameters(built) -> None:  # type: ignore[no-untyped-def]
    repo = built.tenant("acme")
    with pytest.raises(UsageError, match="exactly one SELECT"):
        run_query(repo, "DELETE FROM tickets")
    with pytest.raises(UsageError, match="exactly one SELECT"):
        run_query(repo, "SELECT 1; SELECT 2")
    with pytest.raises(UsageError, match="missing --param for since"):
        run_query(repo, "SELECT count(*) AS n FROM tickets WHERE created_at >= $since")
    with pytest.raises(UsageError, match="no parameter x"):
        run_query(repo, "SELECT 1 AS one", {"x": "1"})
    with pytest.raises(BadInputError, match="cannot parse"):
        check_select("SELEC nonsense FROM")
    # a value is a parameter, never SQL text
    n = run_query(repo, "SELECT count(*) AS n FROM tickets WHERE ticket_id = $id",
                  {"id": "A' OR '1'='1"}).column("n").to_pylist()
    assert n == [0]


def test_cli_sql_prints_and_writes(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from deskpulse.cli import app

    url = built.url
    runner = CliRunner()
    res = runner.invoke(app, ["--db", url, "--tenant", "acme", "sql",
                              "SELECT ticket_id FROM tickets ORDER BY ticket_id", "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["ticket_id", "A", "B", "C"]
    out = tmp_path / "overview.xlsx"
    res = runner.invoke(app, ["--db", url, "--tenant", "acme", "sql", str(DASHBOARDS / "sla_overview.sql"),
                              "-p", "since=2026-01-01", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 0
