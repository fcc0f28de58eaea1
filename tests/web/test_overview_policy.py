"""The overview's "SLA attainment by policy" (when the analytics library breaks down by policy),
drilling down to the tickets of one policy."""

from __future__ import annotations

import re
from html import unescape

import pytest
from fastapi.testclient import TestClient

from deskpulse.analytics.results import BREAKDOWNS
from tests.web.conftest import bearer

pytestmark = pytest.mark.skipif("policy" not in BREAKDOWNS, reason="the analytics library has no policy breakdown")


def test_sla_attainment_by_policy_drills_down(web: TestClient) -> None:
    page = web.get("/ui/?range=all", headers=bearer("acme"))
    assert page.status_code == 200
    assert "SLA attainment by policy" in page.text and 'data-table="sla-policy"' in page.text
    links = sorted({unescape(u) for u in re.findall(r'href="(/ui/tickets\?[^"]*policy=[^"]*)"', page.text)})
    assert links
    url = next(u for u in links if "sla_status" not in u)
    policy = re.search(r"policy=([^&]+)", url).group(1)  # type: ignore[union-attr]
    listed = web.get(url, headers=bearer("acme"))
    assert listed.status_code == 200 and "policy: " in listed.text
    total = int(re.search(r"<h2>([\d,]+) ticket", listed.text).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert total > 0
    csv = web.get("/ui/csv/sla_policy?range=all", headers=bearer("acme"))
    assert csv.status_code == 200 and policy.replace("+", " ") in csv.text
