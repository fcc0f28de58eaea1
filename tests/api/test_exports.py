"""``GET /api/v1/export/{table}``: the same bytes as ``deskpulse export``, in chunks, tenant-scoped."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from deskpulse.pipeline import export_table
from deskpulse.serve.routes import exports
from deskpulse.store import open_store
from deskpulse.store.schema import EXPORTABLE
from tests.api.conftest import ALPHA_MARKERS, Seeded, headers

ALPHA = headers("alpha")
BRAVO = headers("bravo")


def cli_export(seeded: Seeded, table: str, tmp_path: Path, tenant: str = "alpha") -> bytes:
    store = open_store(seeded.url, migrate=False)
    try:
        out = tmp_path / f"{table}.csv"
        export_table(store.tenant(tenant), table, "csv", out)
        return out.read_bytes()
    finally:
        store.close()


@pytest.mark.parametrize("table", list(EXPORTABLE))
def test_csv_is_the_cli_export(api: TestClient, seeded: Seeded, tmp_path: Path, table: str,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    expected = cli_export(seeded, table, tmp_path)
    r = api.get(f"/api/v1/export/{table}", headers=ALPHA)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="{table}.csv"'
    assert r.content == expected
    monkeypatch.setattr(exports, "CHUNK_ROWS", 3)  # many chunks: same bytes
    assert api.get(f"/api/v1/export/{table}", params={"format": "csv"}, headers=ALPHA).content == expected


def test_exports_are_tenant_scoped(api: TestClient, seeded: Seeded, tmp_path: Path) -> None:
    for table in ("tickets", "ticket_events", "ticket_sla", "ticket_metrics"):
        body = api.get(f"/api/v1/export/{table}", headers=BRAVO).text
        assert not any(m in body for m in ALPHA_MARKERS), table
        assert api.get(f"/api/v1/export/{table}", headers=BRAVO).content == cli_export(seeded, table, tmp_path, "bravo")
    assert "bravo-cust" not in api.get("/api/v1/export/tickets", headers=ALPHA).text


def test_empty_table_is_a_header(api: TestClient) -> None:
    r = api.get("/api/v1/export/backlog_daily", headers=headers("nobody-at-all"))
    assert r.status_code == 200
    assert r.text.strip() == ",".join(f'"{c}"' for c in EXPORTABLE["backlog_daily"])


def test_xlsx(api: TestClient, seeded: Seeded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "CHUNK_ROWS", 4)
    r = api.get("/api/v1/export/tickets", params={"format": "xlsx"}, headers=ALPHA)
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="tickets.xlsx"'
    ws = load_workbook(io.BytesIO(r.content), read_only=True).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    csv_lines = cli_export(seeded, "tickets", tmp_path).decode().strip().splitlines()
    assert list(rows[0]) == list(EXPORTABLE["tickets"])
    assert len(rows) == len(csv_lines) == 32  # header + 31 alpha tickets (the deleted one included)
    ids = [row[0] for row in rows[1:]]
    assert ids == sorted(ids, key=lambda i: [line.split(",")[0].strip('"') for line in csv_lines[1:]].index(i))
    created = rows[1][1]
    assert isinstance(created, str) and created.endswith("Z")


def test_errors(api: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    r = api.get("/api/v1/export/users", headers=ALPHA)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = api.get("/api/v1/export/tickets", params={"format": "parquet"}, headers=ALPHA)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 5)
    r = api.get("/api/v1/export/tickets", params={"format": "xlsx"}, headers=ALPHA)
    assert r.status_code == 400 and r.json()["error"]["code"] == "usage_error"
    assert api.get("/api/v1/export/tickets").status_code == 401
