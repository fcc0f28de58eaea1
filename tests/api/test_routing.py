"""Static path segments are routed before parameters, across modules and whatever their names.

``/api/v1/tickets/agents/…`` (seed 002, written in another module) must never reach
``/api/v1/tickets/{ticket_id}…``. The app orders routers so that holds; these tests check the
whole live route table, and a dummy router discovered *after* tickets.py.
"""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import compile_path

import deskpulse.serve.app as app_module
from deskpulse.serve.app import (
    API_PREFIX,
    RouteInfo,
    _order_units,
    _Unit,
    iter_routes,
    sample_path,
    shadows,
)
from tests.api.conftest import Seeded, headers, make_app


def first_match(routes: list[RouteInfo], path: str, methods: frozenset[str]) -> RouteInfo | None:
    for r in routes:
        if r.methods & methods and compile_path(r.path)[0].match(path):
            return r
    return None


def test_no_route_of_the_live_app_is_shadowed(api: TestClient) -> None:
    routes = iter_routes(api.app.routes)  # type: ignore[attr-defined]
    for r in routes:
        winner = first_match(routes, sample_path(r.path), r.methods)
        assert winner is not None and winner.path == r.path, f"{r.path} is caught by {winner and winner.path}"


def _dummy() -> APIRouter:
    router = APIRouter()
    for path in ("/tickets/agents", "/tickets/agents/metrics", "/tickets/agents/history",
                 "/tickets/agents/zz-performance", "/tickets/agents/zz-availability/{user_id}"):
        def endpoint(p: str = path) -> dict[str, str]:
            return {"dummy": p}
        router.add_api_route(path, endpoint, methods=["GET"], name=f"dummy{path}")
    return router


def test_a_static_router_discovered_after_tickets_still_wins(seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    dummy = _dummy()
    real = app_module._discover_units
    monkeypatch.setattr(app_module, "_discover_units",
                        lambda: [*real(), _Unit("zz_dummy.router", dummy, API_PREFIX)])  # sorts after tickets
    with TestClient(make_app(seeded.url)) as client:
        for path in ("/tickets/agents", "/tickets/agents/metrics", "/tickets/agents/history",
                     "/tickets/agents/zz-performance", "/tickets/agents/zz-availability/u1"):
            r = client.get(API_PREFIX + path, headers=headers("alpha"))
            assert r.status_code == 200, (path, r.text)
            assert r.json()["dummy"].startswith("/tickets/agents"), path
        # the parameter routes still answer for real ids
        assert client.get("/api/v1/tickets/A-001/metrics", headers=headers("alpha")).json()["ticket_id"] == "A-001"


def test_without_ordering_the_dummy_would_be_shadowed() -> None:
    """The reason for the ordering: plain inclusion in discovery order loses the static routes."""
    units = [*app_module._discover_units(), _Unit("zz_dummy.router", _dummy(), API_PREFIX)]
    naive = FastAPI()
    for u in units:
        naive.include_router(u.router, prefix=u.prefix)
    routes = iter_routes(naive.routes)
    winner = first_match(routes, "/api/v1/tickets/agents/metrics", frozenset({"GET"}))
    assert winner is not None and winner.path == "/api/v1/tickets/{ticket_id}/metrics"


def _unit(label: str, *paths: str) -> _Unit:
    router = APIRouter()
    for p in paths:
        router.add_api_route(p, lambda: None, methods=["GET"])
    u = _Unit(label, router, "")
    u.routes = iter_routes(router.routes)
    return u


def test_order_units() -> None:
    params = _unit("a_params", "/t/{id}")
    static = _unit("b_static", "/t/agents")
    unrelated = _unit("c_other", "/u/{id}")
    assert [u.label for u in _order_units([params, static, unrelated])] == ["b_static", "a_params", "c_other"]
    x = _unit("x", "/x/{a}", "/y/static")
    y = _unit("y", "/x/static", "/y/{b}")
    with pytest.raises(RuntimeError, match="shadow"):
        _order_units([x, y])


def test_shadows() -> None:
    def r(path: str, *methods: str) -> RouteInfo:
        return RouteInfo(path, frozenset(methods or ("GET",)), path, None, True)

    assert shadows(r("/t/{id}"), r("/t/urgent"))
    assert not shadows(r("/t/urgent"), r("/t/{id}"))
    assert not shadows(r("/t/{id}", "DELETE"), r("/t/urgent"))
    assert not shadows(r("/t/{id}"), r("/t/{id}"))
    assert shadows(r("/t/{id}/metrics"), r("/t/agents/metrics"))
    assert not shadows(r("/t/{id}"), r("/t/agents/metrics"))
    assert sample_path("/a/{n:int}/{rest:path}") == "/a/1/p/q"
