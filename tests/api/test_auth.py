"""Authentication and roles: every API route of the route table needs a valid bearer token;
missing, malformed, forged and expired tokens answer 401, a too-weak role 403, in the error shape."""

from __future__ import annotations

import re
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from deskpulse.serve.app import PUBLIC_PATHS, iter_routes
from deskpulse.serve.auth import ALGORITHM, Role, create_token, decode_token
from tests.api.conftest import SECRET, Seeded, headers

_PARAM = re.compile(r"{[^}]+}")


def api_routes(api: TestClient) -> list[tuple[str, str]]:
    """(method, concrete path) of every documented route outside the public ones."""
    out = set()
    for r in iter_routes(api.app.routes):  # type: ignore[attr-defined]
        if r.path in PUBLIC_PATHS or not r.include_in_schema:
            continue
        for m in r.methods - {"HEAD", "OPTIONS"}:
            out.add((m, _PARAM.sub("A-001", r.path).replace("/export/A-001", "/export/tickets")))
    return sorted(out)


def assert_401(resp: object, where: str) -> None:
    assert resp.status_code == 401, f"{where}: {resp.status_code} {resp.text[:200]}"  # type: ignore[attr-defined]
    body = resp.json()  # type: ignore[attr-defined]
    assert body["error"]["code"] == "unauthorized" and set(body["error"]) == {"code", "message", "details"}
    assert resp.headers["www-authenticate"] == "Bearer"  # type: ignore[attr-defined]


def forged() -> str:
    return create_token("another-secret-" + "y" * 40, tenant_id="alpha", role="admin")


def expired() -> str:
    return create_token(SECRET, tenant_id="alpha", role="admin", ttl_seconds=3600, now=time.time() - 7200)


def claims_token(**claims: object) -> str:
    base = {"sub": "u", "tenant": "alpha", "role": "viewer", "exp": int(time.time()) + 600}
    return jwt.encode({k: v for k, v in {**base, **claims}.items() if v is not None}, SECRET, algorithm=ALGORITHM)


def test_every_api_route_needs_a_valid_token(api: TestClient) -> None:
    routes = api_routes(api)
    assert len(routes) >= 10
    bad_headers = {
        "none": {},
        "not bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "forged": {"Authorization": f"Bearer {forged()}"},
        "expired": {"Authorization": f"Bearer {expired()}"},
        "no tenant": {"Authorization": f"Bearer {claims_token(tenant=None)}"},
        "unknown role": {"Authorization": f"Bearer {claims_token(role='root')}"},
        "no expiry": {"Authorization": f"Bearer {claims_token(exp=None)}"},
        "alg none": {"Authorization": "Bearer " + jwt.encode({"sub": "u", "tenant": "alpha", "role": "admin",
                                                              "exp": int(time.time()) + 600}, None, algorithm="none")},
    }
    for method, path in routes:
        for label, h in bad_headers.items():
            assert_401(api.request(method, path, headers=h), f"{method} {path} ({label})")


def test_public_routes_need_no_token(api: TestClient) -> None:
    assert api.get("/health").status_code == 200
    assert api.get("/metrics").status_code == 200
    assert api.get("/openapi.json").status_code == 200
    assert api.get("/docs").status_code == 200


def test_roles(api: TestClient) -> None:
    for role in ("viewer", "agent"):
        r = api.post("/api/v1/tokens", json={"role": "viewer"}, headers=headers("alpha", role))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = api.post("/api/v1/tokens", json={"role": "agent", "subject": "kim", "ttl_days": 2},
                 headers=headers("alpha", "admin"))
    assert r.status_code == 201, r.text
    issued = r.json()
    p = decode_token(SECRET, issued["token"])
    assert (p.tenant_id, p.role, p.subject) == ("alpha", Role.agent, "kim")
    assert issued["tenant_id"] == "alpha" and issued["expires_at"].endswith("Z")
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {issued['token']}"}).json()
    assert me == {"subject": "kim", "tenant_id": "alpha", "role": "agent"}
    # an admin body cannot name another tenant: the token is always the admin's tenant
    other = api.post("/api/v1/tokens", json={"role": "admin", "tenant_id": "bravo"}, headers=headers("alpha", "admin"))
    assert other.status_code == 201 and decode_token(SECRET, other.json()["token"]).tenant_id == "alpha"
    bad = api.post("/api/v1/tokens", json={"role": "root"}, headers=headers("alpha", "admin"))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_error"
    long = api.post("/api/v1/tokens", json={"role": "viewer", "ttl_days": 9999}, headers=headers("alpha", "admin"))
    assert long.status_code == 422


def test_viewer_reads_everything_it_should(api: TestClient) -> None:
    v = headers("alpha", "viewer")
    for path in ("/tickets", "/api/v1/tickets/A-001/sla", "/tenants/alpha/stats", "/api/v1/export/tickets",
                 "/api/v1/meta", "/api/v1/me"):
        assert api.get(path, headers=v).status_code == 200, path


def test_a_server_without_secret_refuses_every_token(seeded: Seeded) -> None:
    from pydantic import SecretStr

    from deskpulse.serve.app import create_app
    from deskpulse.settings import Settings

    app = create_app(Settings(database_url=seeded.url, jwt_secret=SecretStr("")))  # type: ignore[call-arg]
    with TestClient(app) as client:
        assert_401(client.get("/api/v1/me", headers=headers("alpha")), "no secret")


@pytest.mark.parametrize("role", ["viewer", "agent", "admin"])
def test_token_round_trip(role: str) -> None:
    p = decode_token(SECRET, create_token(SECRET, tenant_id="t1", role=role))
    assert (p.tenant_id, p.role.value, p.subject) == ("t1", role, f"{role}@t1")
