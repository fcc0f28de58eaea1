"""Dashboard pages render from the analytics library, with drill-down links that resolve.

Every page answers 200 for a logged-in caller with no failed panel; every ticket-list link
on a page (headline numbers, table cells, chart points) opens a ticket list, and the
headline numbers equal the number of tickets their link lists. CSV exports answer CSV with
the page's filters; filters live in the URL.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import bearer

PAGES = ["/ui/", "/ui/agents", "/ui/bottlenecks", "/ui/forecast", "/ui/tickets"]
FIGURE = re.compile(r'<script type="application/json" id="fig-([\w-]+)">(.*?)</script>', re.S)
HREF = re.compile(r'href="(/ui/tickets[^"#]*)"')
#: Tenant beta's identifiers: never on a page of tenant acme.
BETA_MARKERS = ("BETA-", "beta-agt-", "beta-usr-")
TOTAL = re.compile(r"<h2>([\d,]+) tickets?</h2>")


def get(web: TestClient, path: str, tenant: str = "acme") -> str:
    resp = web.get(path, headers=bearer(tenant))
    assert resp.status_code == 200, f"{path}: {resp.status_code} {resp.text[:400]}"
    assert resp.headers["content-type"].startswith("text/html")
    return resp.text


def figures(html: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {name: json.loads(body) for name, body in FIGURE.findall(html)}


def links(html: str) -> list[str]:
    return sorted({unescape(h) for h in HREF.findall(html)})


def listed(web: TestClient, url: str, tenant: str = "acme") -> int:
    """How many tickets the tickets list shows for ``url``."""
    m = TOTAL.search(get(web, url, tenant))
    assert m, url
    return int(m.group(1).replace(",", ""))


def card(html: str, label: str) -> tuple[str, str]:
    """(value, href) of the headline card labelled ``label``."""
    m = re.search(r'<a class="card[^"]*" href="([^"]+)" data-card="' + re.escape(label) +
                  r'">\s*<span class="card-label">[^<]*</span>\s*<span class="card-value">([^<]*)</span>', html)
    assert m, f"no card {label!r}"
    return m.group(2), unescape(m.group(1))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_without_failed_panels(web: TestClient, path: str) -> None:
    html = get(web, path)
    assert "panel-error" not in html, re.findall(r'panel-error[^>]*>([^<]*)', html)
    assert 'data-testid="timezone"' in html and "Times in UTC" in html
    assert "acme-agt-" in html or "ACME-" in html or path == "/ui/forecast"
    assert not any(m in html for m in BETA_MARKERS)


@pytest.mark.parametrize("path,charts", [
    ("/ui/", {"sla_priority", "sla_group", "burndown", "flows", "aging", "debt"}),
    ("/ui/agents", {"agents"}),
    ("/ui/bottlenecks", {"bottlenecks"}),
    ("/ui/forecast", {"forecast", "staffing", "gap"}),
])
def test_charts_are_plotly_figures_whose_points_drill_down(web: TestClient, path: str, charts: set[str]) -> None:
    figs = figures(get(web, path))
    assert charts <= set(figs)
    for name in charts:
        urls: list[str] = []
        for trace in figs[name]["data"]:
            data = trace.get("customdata") or []
            for item in data:
                urls.extend(item if isinstance(item, list) else [item])
        assert urls, f"{name} has no drill-down"
        assert all(u.startswith("/ui/tickets") for u in urls), name
        for url in sorted(set(urls))[:4]:  # a few per chart: each opens a ticket list
            get(web, url)


def test_the_page_links_to_plotly_served_by_the_app(web: TestClient) -> None:
    html = get(web, "/ui/")
    assert '<script src="/ui/static/plotly.min.js' in html
    assert "cdn" not in html.lower()
    js = web.get("/ui/static/plotly.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert len(js.content) > 1_000_000
    for name in ("app.js", "app.css", "favicon.svg"):
        assert web.get(f"/ui/static/{name}").status_code == 200
    assert web.get("/ui/static/../pages.py").status_code == 404
    assert web.get("/ui/static/nothing.js").status_code == 404


@pytest.mark.parametrize("path", ["/ui/", "/ui/agents", "/ui/bottlenecks", "/ui/forecast"])
def test_every_ticket_link_on_a_page_opens_a_ticket_list(web: TestClient, path: str) -> None:
    hrefs = links(get(web, path))
    assert len(hrefs) >= 3
    for href in hrefs[:25]:
        get(web, href)


def test_headline_numbers_equal_the_tickets_they_link_to(web: TestClient) -> None:
    html = get(web, "/ui/")
    for label in ("Open tickets", "Breached (open)", "At risk"):
        value, href = card(html, label)
        assert listed(web, href) == int(value.replace(",", "")), label


def test_agent_numbers_equal_the_tickets_they_link_to(web: TestClient) -> None:
    html = get(web, "/ui/agents?range=all")
    rows = re.findall(r'<td><a href="([^"]+)">(acme-agt-\d+)</a></td>\s*<td class="num" data-sort="[^"]*">'
                      r'<a href="[^"]+">([\d,]+)</a></td>', html)
    assert rows
    for href, _agent, assigned in rows[:3]:
        assert listed(web, unescape(href)) == int(assigned.replace(",", ""))
    value, href = card(html, "Resolved")
    assert listed(web, href) == int(value.replace(",", ""))


def test_sla_rows_link_to_their_slice(web: TestClient) -> None:
    html = get(web, "/ui/?range=all")
    m = re.search(r'<td>urgent</td>\s*<td class="num" data-sort="[^"]*"><a href="([^"]+)">([\d,]+)</a>', html)
    assert m
    href = unescape(m.group(1))
    assert parse_qs(urlsplit(href).query)["priority"] == ["urgent"]
    assert listed(web, href) == int(m.group(2).replace(",", ""))


def test_filters_live_in_the_url(web: TestClient) -> None:
    html = get(web, "/ui/agents?range=7d")
    assert re.search(r'data-range="7d" aria-current="true"', html)
    html = get(web, "/ui/?range=90d&group=Billing")
    assert '<option value="Billing" selected>' in html
    # drill-down links carry the filter on to the ticket list
    assert all("group=Billing" in h for h in links(html) if "created_from" in h and "status" not in h)
    page = get(web, "/ui/tickets?status=open&status=pending&priority=high")
    assert "status: open" in page and "status: pending" in page and "priority: high" in page
    assert 'value="open" checked' in page


def test_invalid_filters_answer_an_html_error(web: TestClient) -> None:
    for path in ("/ui/agents?range=1y", "/ui/tickets?status=bogus", "/ui/?from=yesterday",
                 "/ui/tickets?created_hour=25", "/ui/forecast?sl_target=3"):
        resp = web.get(path, headers=bearer())
        assert resp.status_code == 422, path
        assert resp.headers["content-type"].startswith("text/html")
        assert 'data-testid="error-message"' in resp.text


def test_tickets_list_pages_with_a_cursor(web: TestClient) -> None:
    html = get(web, "/ui/tickets")
    m = re.search(r'href="(/ui/tickets\?[^"]*cursor=[^"]+)" rel="next"', html)
    assert m
    first = set(re.findall(r'href="/ui/tickets/(ACME-\d+)"', html))
    second = set(re.findall(r'href="/ui/tickets/(ACME-\d+)"', get(web, unescape(m.group(1)))))
    assert len(first) == 50 and second and not first & second


def test_dashboard_only_filters_weekday_hour_and_due_before(web: TestClient, web_store: object) -> None:
    total = listed(web, "/ui/tickets")
    by_day = sum(listed(web, f"/ui/tickets?created_weekday={d}") for d in range(1, 8))
    assert by_day == total
    monday = listed(web, "/ui/tickets?created_weekday=1")
    assert sum(listed(web, f"/ui/tickets?created_weekday=1&created_hour={h}") for h in range(24)) == monday


def test_ticket_detail_shows_events_sla_and_metrics(web: TestClient) -> None:
    html = get(web, "/ui/tickets")
    ticket_id = re.findall(r'href="/ui/tickets/(ACME-\d+)"', html)[0]
    page = get(web, f"/ui/tickets/{ticket_id}")
    for heading in ("<h2>Ticket</h2>", "<h2>Metrics</h2>", "<h2>SLA instances</h2>", "<h2>Events</h2>"):
        assert heading in page
    assert "first response" in page
    assert web.get("/ui/tickets/ACME-999999", headers=bearer()).status_code == 404


CSV_PAGES = ["tickets?status=open", "sla_priority", "sla_group", "backlog", "queue", "agents?range=7d",
             "bottlenecks", "forecast", "forecast_weeks", "backtest", "staffing"]


@pytest.mark.parametrize("name", CSV_PAGES)
def test_every_table_exports_csv(web: TestClient, name: str) -> None:
    resp = web.get(f"/ui/csv/{name}", headers=bearer())
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert rows, name
    assert not any(m in resp.text for m in BETA_MARKERS)


def test_tickets_csv_matches_the_list(web: TestClient) -> None:
    url = "/ui/tickets?status=open&status=pending"
    rows = list(csv.DictReader(io.StringIO(web.get(url.replace("/ui/tickets", "/ui/csv/tickets"),
                                                   headers=bearer()).text)))
    assert len(rows) == listed(web, url)
    assert {r["status"] for r in rows} <= {"open", "pending"}
    assert all(r["created_at"].endswith("Z") for r in rows)


def test_ticket_csvs(web: TestClient) -> None:
    ticket_id = re.findall(r'href="/ui/tickets/(ACME-\d+)"', get(web, "/ui/tickets"))[0]
    for name, column in (("ticket_events", "event_at"), ("ticket_sla", "metric")):
        resp = web.get(f"/ui/csv/{name}?ticket_id={ticket_id}", headers=bearer())
        assert resp.status_code == 200
        assert column in resp.text.splitlines()[0]
    assert web.get("/ui/csv/nothing", headers=bearer()).status_code == 404


def test_pages_carry_security_headers(web: TestClient) -> None:
    resp = web.get("/ui/", headers=bearer())
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"
    assert "<script>" not in resp.text  # no inline script: charts travel as JSON blocks


def test_the_agents_page_refreshes_itself(web: TestClient) -> None:
    assert 'data-refresh="30"' in get(web, "/ui/agents")
    assert 'data-refresh="5"' in get(web, "/ui/agents?refresh=5")
    html = get(web, "/ui/agents?refresh=0")
    assert "data-refresh=" not in html and "Auto-refresh off" in html
