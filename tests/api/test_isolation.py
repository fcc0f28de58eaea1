"""Tenant isolation, generated from the app's route table: a new route cannot escape it.

Every GET route the app dispatches (whoever wrote it) is called with tenant bravo's token,
its path parameters filled with tenant alpha's objects (alpha's ticket ids, alpha's tenant
id, every export table, …), once plainly and once with ``?tenant_id=alpha`` (seed 004's
parameter). The answer must be a 404 in the error shape, or carry none of alpha's data
(``ALPHA_MARKERS``); never a 5xx. The same calls with alpha's own token must show alpha's
data on the routes that serve it — proof that the parameters reached real objects.
Routes that change state (POST, PATCH, DELETE) are covered by test_auth's 401 sweep only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from fastapi.testclient import TestClient

from deskpulse.serve.app import PUBLIC_PATHS, iter_routes
from deskpulse.store.schema import EXPORTABLE
from tests.api.conftest import ALPHA_MARKERS, headers

#: Values of alpha's objects per path parameter name; unknown names try each fallback.
PARAM_VALUES: dict[str, list[str]] = {
    "ticket_id": ["A-001", "A-002", "SHARED-1"],
    "tenant_id": ["alpha"],
    "table": list(EXPORTABLE),
}
FALLBACK = ["A-001", "alpha", "alpha-cust-1", "agt-1"]
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
#: Alpha's data, as opposed to identifiers a client may send and get echoed back in a 404.
DATA_MARKERS = ("alpha-cust-", "zebrafish")


def concrete_paths(template: str) -> list[tuple[str, list[str]]]:
    """(path, the values put into it) for every combination of alpha's values."""
    names = _PARAM.findall(template)
    choices = [PARAM_VALUES.get(n, FALLBACK) for n in names]
    out = []
    for combo in itertools.product(*choices):
        values = iter(combo)

        def fill(_m: re.Match[str], v: Iterator[str] = values) -> str:
            return next(v)

        out.append((_PARAM.sub(fill, template), list(combo)))
    return out


def get_routes(api: TestClient) -> list[str]:
    return sorted({r.path for r in iter_routes(api.app.routes) if "GET" in r.methods})  # type: ignore[attr-defined]


def authenticated(api: TestClient) -> set[str]:
    """Documented routes outside the public ones: they all authenticate."""
    return {r.path for r in iter_routes(api.app.routes)  # type: ignore[attr-defined]
            if r.include_in_schema and r.path not in PUBLIC_PATHS}


def check(resp: Any, where: str, asked: list[str]) -> None:
    assert resp.status_code < 500, f"{where}: {resp.status_code} {resp.text[:300]}"
    text = resp.text
    if resp.status_code == 404 and resp.headers.get("content-type", "").startswith("application/json"):
        body = resp.json()
        assert set(body) == {"error"} and body["error"]["code"] == "not_found", where
    if 200 <= resp.status_code < 300:
        leaked = [m for m in ALPHA_MARKERS if m in text]
    else:  # an error may echo what was asked for, never alpha's data
        for value in asked:
            text = text.replace(value, "")
        leaked = [m for m in DATA_MARKERS if m in text]
    assert not leaked, f"{where} leaked {leaked}: {text[:300]}"


def test_route_table_is_not_empty(api: TestClient) -> None:
    paths = set(get_routes(api))
    for expected in ("/tickets", "/tickets/{ticket_id}", "/api/v1/tickets/{ticket_id}/sla",
                     "/tenants/{tenant_id}/stats", "/api/v1/export/{table}", "/health"):
        assert expected in paths
    schema_paths = set(api.get("/openapi.json").json()["paths"])
    assert schema_paths <= {r.path for r in iter_routes(api.app.routes)}  # type: ignore[attr-defined]


def test_no_get_route_shows_alpha_to_bravo(api: TestClient) -> None:
    bravo = headers("bravo", role="admin")  # the strongest role of the other tenant
    calls = 0
    private = authenticated(api)
    for template in get_routes(api):
        for path, asked in concrete_paths(template):
            for params in ({}, {"tenant_id": "alpha"}):
                resp = api.get(path, params=params, headers=bravo)
                check(resp, f"GET {path} {params}", asked)
                calls += 1
                if params and template in private:  # naming another tenant is a 404 everywhere
                    assert resp.status_code == 404, f"{path}?tenant_id=alpha answered {resp.status_code}"
    assert calls > 40


def test_the_same_calls_reach_alpha_data_for_alpha(api: TestClient) -> None:
    alpha = headers("alpha")
    shown = set()
    for template in get_routes(api):
        for path, _asked in concrete_paths(template):
            resp = api.get(path, headers=alpha)
            assert resp.status_code < 500, f"GET {path}: {resp.text[:300]}"
            if resp.status_code == 200 and any(m in resp.text for m in ALPHA_MARKERS):
                shown.add(template)
    for template in ("/tickets", "/tickets/{ticket_id}", "/tickets/{ticket_id}/history",
                     "/api/v1/tickets/{ticket_id}/sla", "/api/v1/tickets/{ticket_id}/metrics",
                     "/tenants/{tenant_id}/stats", "/api/v1/export/{table}", "/tickets/urgent"):
        assert template in shown, template


def test_public_paths_are_few() -> None:
    assert {"/health", "/metrics", "/openapi.json"} <= PUBLIC_PATHS
    # the one public API route is the password login (it is how a user gets a token)
    assert {p for p in PUBLIC_PATHS if p.startswith("/api/") or p.startswith("/tickets")} == {"/api/v1/auth/token"}
