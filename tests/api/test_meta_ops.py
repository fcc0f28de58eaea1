"""``/api/v1/me``, ``/api/v1/meta``, ``/health`` and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from deskpulse import __version__
from tests.api.conftest import Seeded, headers

SAMPLE = r'[a-z_]+(\{[a-z_]+="(?:[^"\\]|\\.)*"(?:,[a-z_]+="(?:[^"\\]|\\.)*")*\})? (?:[0-9.e+-]+|\+Inf)'


def test_me_and_meta(api: TestClient, seeded: Seeded) -> None:
    assert api.get("/api/v1/me", headers=headers("alpha", "agent", subject="kim")).json() == {
        "subject": "kim", "tenant_id": "alpha", "role": "agent"}
    m = api.get("/api/v1/meta", headers=headers("alpha")).json()
    assert m["version"] == __version__ and m["dialect"] in ("duckdb", "postgresql")
    assert m["tenant_id"] == "alpha" and m["tickets"] == 31 and m["build"]["tickets"] == 30  # build skips the deleted one
    assert m["schema_version"] and "open" in m["statuses"] and "tickets" in m["export_tables"]
    assert m["ticket_sorts"][0] == "-created_at"
    assert api.get("/api/v1/meta", headers=headers("nobody")).json()["build"] is None


def test_health(api: TestClient) -> None:
    r = api.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["checks"]["store"]["ok"] is True
    assert body["checks"]["store"]["schema"] and body["checks"]["read_pool"] == {"ok": True, "size": 2}


def test_health_and_metrics_when_the_store_is_down(fresh: tuple[TestClient, Any]) -> None:
    client, store = fresh
    assert client.get("/health").status_code == 200
    store.close()  # the connection is gone
    r = client.get("/health")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["checks"]["store"]["ok"] is False
    assert 'deskpulse_store_up{dialect="' in client.get("/metrics").text
    assert re.search(r'deskpulse_store_up\{dialect="\w+"\} 0', client.get("/metrics").text)
    failed = client.get("/api/v1/tickets", headers=headers("alpha"))
    assert failed.status_code == 503 and failed.json()["error"]["code"] == "storage_error"
    assert "SELECT" not in failed.text  # no SQL in answers


def test_metrics_text_format(api: TestClient) -> None:
    api.get("/api/v1/tickets/A-001", headers=headers("alpha"))
    api.get("/api/v1/tickets/A-002", headers=headers("alpha"))
    api.get("/no/such/path")
    r = api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert "# TYPE deskpulse_http_requests_total counter" in text
    assert "# TYPE deskpulse_http_request_duration_seconds histogram" in text
    # labels are route templates (bounded), never raw ids
    count = re.search(r'deskpulse_http_requests_total\{method="GET",route="/api/v1/tickets/\{ticket_id\}",status="200"\} (\d+)', text)
    assert count and int(count.group(1)) >= 2
    assert "A-001" not in text and 'route="<unmatched>"' in text
    assert re.search(r'deskpulse_store_up\{dialect="\w+"\} 1', text)
    assert f'deskpulse_build_info{{version="{__version__}"}} 1' in text
    # histogram buckets are cumulative and end with +Inf == count
    route = 'method="GET",route="/api/v1/tickets/{ticket_id}"'
    buckets = [int(v) for v in re.findall(r'deskpulse_http_request_duration_seconds_bucket\{' + re.escape(route) + r',le="[^"]+"\} (\d+)', text)]
    total = int(re.search(r'deskpulse_http_request_duration_seconds_count\{' + re.escape(route) + r'\} (\d+)', text).group(1))  # type: ignore[union-attr]
    assert buckets == sorted(buckets) and buckets[-1] == total
    for line in text.splitlines():  # every sample line: name{labels} value
        assert line.startswith("#") or re.fullmatch(SAMPLE, line), line


def test_openapi_documents_the_api(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/tickets", "/api/v1/tickets", "/tickets/urgent", "/tickets/{ticket_id}/history",
              "/api/v1/tickets/{ticket_id}/sla", "/api/v1/tickets/{ticket_id}/metrics",
              "/tenants/{tenant_id}/stats", "/api/v1/tenants/{tenant_id}/stats", "/api/v1/export/{table}",
              "/api/v1/me", "/api/v1/meta", "/api/v1/tokens"):
        assert p in paths, p
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    params = {q["name"] for q in paths["/api/v1/tickets"]["get"]["parameters"]}
    assert {"status", "priority", "urgency", "group", "assignee", "created_from", "created_to",
            "cursor", "sort", "limit", "tenant_id"} <= params
