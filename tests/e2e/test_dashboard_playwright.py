"""The dashboard in a real browser: Playwright drives Debian's chromium against `deskpulse serve`.

A DuckDB store is built from a few thousand generated tickets (``deskpulse.sample.generate`` →
``deskpulse.pipeline.import_files`` → ``deskpulse.sla.build.build`` with
``examples/demo/deskpulse.yaml``); ``deskpulse serve`` runs on it on a free loopback port.
The browser logs in with a token, loads every page (charts drawn by the bundled plotly.min.js,
no console errors), clicks a chart bar to drill down to its tickets, changes filters, sorts a
table, exports a CSV, watches the agents page refresh itself, logs in again with a username
and password (a user made with ``deskpulse.serve.users.create_user``), adds, pauses and
deletes a report schedule and an alert rule through the management pages, and saves
screenshots under ``build/screens/``.

Playwright cannot download browsers here: it launches ``/usr/bin/chromium`` (install it with
``scripts/install_browser.sh``). Without chromium or the playwright package the test skips
with the reason — except under ``CI=true``, where it fails: CI installs both.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO_ROOT / "examples" / "demo" / "deskpulse.yaml"
SCREENS = REPO_ROOT / "build" / "screens"
CHROMIUM = Path(os.environ.get("DESKPULSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SECRET = "e2e-dashboard-secret-" + "z" * 40
ADMIN_USER, ADMIN_PASSWORD = "lead@example.com", "e2e-password-123"
TENANT = "default"
LAPTOP: Any = {"width": 1366, "height": 900}  # playwright's ViewportSize
PHONE: Any = {"width": 390, "height": 844}
START_TIMEOUT = 90.0
PAGES = {"overview": "/ui/", "agents": "/ui/agents", "bottlenecks": "/ui/bottlenecks",
         "forecast": "/ui/forecast", "tickets": "/ui/tickets"}


def _browser_problem() -> str | None:
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (run scripts/install_browser.sh)")
    return "; ".join(problems) or None


@pytest.fixture(scope="module")
def browser_ready() -> None:
    problem = _browser_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Playwright dashboard test must run under CI=true: {problem}")
    pytest.skip(f"Playwright dashboard test skipped: {problem}")


# --- the server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build_store(db: Path, work: Path) -> dt.datetime:
    from deskpulse.config import load_config
    from deskpulse.pipeline import import_files
    from deskpulse.sample import generate
    from deskpulse.sla.build import build
    from deskpulse.store import open_store

    res = generate(3000, 7, work / "data", start=dt.date(2026, 1, 5), days=90)
    store = open_store(str(db))
    try:
        repo = store.tenant(TENANT)
        import_files(repo, res.tickets_path, res.events_path)
        build(repo, load_config(DEMO_CONFIG), as_of=res.window_end_at)
        from deskpulse.serve.users import create_user

        create_user(store, TENANT, ADMIN_USER, ADMIN_PASSWORD, "admin")
    finally:
        store.close()
    return res.window_end_at


@dataclass
class Server:
    base: str
    token: str
    as_of: dt.datetime
    log: Path


def _get(url: str, timeout: float = 5.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback test server
        return int(resp.status)


@pytest.fixture(scope="module")
def server(browser_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from deskpulse.serve.auth import create_token

    work = Path(tmp_path_factory.mktemp("e2e-dashboard"))
    db = work / "dashboard.duckdb"
    as_of = _build_store(db, work)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKPULSE_")}
    env.update(DESKPULSE_JWT_SECRET=SECRET, DESKPULSE_CONFIG=str(DEMO_CONFIG), DESKPULSE_LOG_LEVEL="WARNING")
    log = work / "server.log"
    cmd = [sys.executable, "-c", "from deskpulse.cli.main import run; run()", "--db", str(db), "serve",
           "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"deskpulse serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if _get(f"{base}/health") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"deskpulse serve did not answer /health in {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield Server(base, create_token(SECRET, tenant_id=TENANT, role="viewer"), as_of, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


# --- the browser ---------------------------------------------------------------------------------


@dataclass
class Browser:
    page: Any
    base: str
    errors: list[str] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_load_state("networkidle")

    def charts_drawn(self, timeout: float = 60_000) -> int:
        """Wait until every chart of the page is drawn by Plotly; return how many there are."""
        n = int(self.page.locator(".chart[data-chart]").count())
        if n:
            self.page.wait_for_function(
                "n => document.querySelectorAll('.chart[data-rendered]').length === n", arg=n, timeout=timeout)
        return n

    def shot(self, name: str, *, full: bool = True) -> Path:
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path

    def no_errors(self) -> None:
        errors, self.errors[:] = list(self.errors), []
        assert not errors, errors


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="deskpulse-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, viewport=LAPTOP,
            accept_downloads=True, timezone_id="UTC", locale="en-US")
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            page.set_default_navigation_timeout(120_000)  # a first page view fits the breach model
            b = Browser(page, server.base)
            page.on("console", lambda m: b.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: b.errors.append(f"page error: {e}"))
            yield b
        finally:
            context.close()


# --- the tests ---------------------------------------------------------------------------------


def test_login_with_a_token(browser: Browser, server: Server) -> None:
    page = browser.page
    browser.goto("/ui/agents?range=90d")
    assert "/ui/login?next=" in page.url  # pages need a login
    browser.shot("01-login", full=False)
    page.click(".token-login summary")  # the token form is the second way in
    page.fill("#token", "not-a-token")
    page.click("[data-testid=token-login] button[type=submit]")
    assert page.locator("[data-testid=login-error]").is_visible()
    assert browser.errors == ["console error: Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
    browser.errors.clear()  # that 401 was the point
    if not page.locator("#token").is_visible():
        page.click(".token-login summary")
    page.fill("#token", server.token)
    page.click("[data-testid=token-login] button[type=submit]")
    page.wait_for_url("**/ui/agents?range=90d")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["deskpulse_session"]["httpOnly"] is True
    browser.no_errors()


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_with_its_charts(browser: Browser, name: str) -> None:
    page = browser.page
    page.set_viewport_size(LAPTOP)
    browser.goto(PAGES[name])
    assert page.locator("[data-testid=timezone]").inner_text() == "Times in UTC"
    assert page.locator(".panel-error").count() == 0
    drawn = browser.charts_drawn()
    if name != "tickets":
        assert drawn >= 1
        assert page.locator(".chart .main-svg").count() >= drawn  # plotly drew SVG, offline
    browser.shot({"overview": "02-overview", "agents": "04-agents", "bottlenecks": "06-bottlenecks",
                  "forecast": "07-forecast", "tickets": "08-tickets"}[name])
    if name in ("overview", "agents"):
        page.set_viewport_size(PHONE)
        browser.goto(PAGES[name])
        browser.charts_drawn()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1  # no sideways page scroll
        browser.shot({"overview": "03-overview-phone", "agents": "05-agents-phone"}[name])
        page.set_viewport_size(LAPTOP)
    browser.no_errors()


def test_clicking_a_chart_bar_drills_down_to_its_tickets(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/?range=90d")
    browser.charts_drawn()
    bar = page.locator("#chart-sla_priority g.point path").first
    box = bar.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.wait_for_url(re.compile(r".*/ui/tickets\?.*priority=urgent.*"))
    page.wait_for_load_state("networkidle")
    assert page.locator(".chip", has_text="priority: urgent").count() == 1
    total = int(page.locator("h2", has_text="ticket").first.inner_text().split()[0].replace(",", ""))
    assert total > 0
    statuses = {t.strip() for t in page.locator("table[data-table=tickets] tbody td:nth-child(4)").all_inner_texts()}
    assert statuses == {"urgent"}
    browser.shot("09-drilldown")
    browser.no_errors()


def test_headline_numbers_drill_down(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/")
    value = page.locator("[data-card='Open tickets'] .card-value").inner_text()
    page.click("[data-card='Open tickets']")
    page.wait_for_url(re.compile(r".*/ui/tickets\?.*status=open.*"))
    assert page.locator("h2", has_text="ticket").first.inner_text().startswith(value)
    browser.no_errors()


def test_changing_filters_updates_the_url(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/agents?range=90d")
    page.click("a[data-range='7d']")
    page.wait_for_url(re.compile(r".*/ui/agents\?range=7d.*"))
    assert page.locator("a[data-range='7d'][aria-current='true']").count() == 1
    group = page.locator("select[name=group] option").nth(1).get_attribute("value")
    assert group
    page.select_option("select[name=group]", group)  # submits by itself
    page.wait_for_url(re.compile(r".*group=.*"))
    assert "range=7d" in page.url
    browser.charts_drawn()
    # the tickets list: tick a status, apply
    browser.goto("/ui/tickets")
    before = page.locator("h2", has_text="ticket").first.inner_text()
    page.check("input[name=status][value=pending]")
    page.click("form.tickets-form button[type=submit]")
    page.wait_for_url(re.compile(r".*status=pending.*"))
    after = page.locator("h2", has_text="ticket").first.inner_text()
    assert after != before
    texts = {t.strip() for t in page.locator("table[data-table=tickets] tbody td:nth-child(3)").all_inner_texts()}
    assert texts == {"pending"}
    browser.no_errors()


def test_sorting_a_table(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/agents?range=all&refresh=0")
    header = page.locator("table[data-table=agents] thead th", has_text="Resolved").first
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    col = "table[data-table=agents] tbody td:nth-child(3)"

    def values() -> list[int]:
        return [int(v.replace(",", "")) for v in page.locator(col).all_inner_texts()]

    assert values() == sorted(values(), reverse=True)
    header.locator("button").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert values() == sorted(values())
    browser.no_errors()


def test_exporting_a_csv(browser: Browser, tmp_path: Path) -> None:
    page = browser.page
    browser.goto("/ui/tickets?status=open&status=hold")
    total = int(page.locator("h2", has_text="ticket").first.inner_text().split()[0].replace(",", ""))
    with page.expect_download() as info:
        page.click("a[data-csv]")
    target = tmp_path / "tickets.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(rows) == total
    assert {r["status"] for r in rows} <= {"open", "hold"}
    # an analytics table too: the agents table of the page's range
    browser.goto("/ui/agents?range=30d&refresh=0")
    with page.expect_download() as info2:
        page.click("a[data-csv]")
    agents = list(csv.DictReader(io.StringIO(Path(info2.value.path()).read_text(encoding="utf-8"))))
    assert agents and "sla_compliance_pct" in agents[0]
    browser.no_errors()


def test_the_agents_page_refreshes_itself(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/agents?range=30d&refresh=2")
    browser.charts_drawn()
    page.wait_for_selector("#refresh-region[data-refreshed='1']", timeout=20_000)
    browser.charts_drawn()
    assert page.locator("table[data-table=agents] tbody tr").count() > 0
    browser.no_errors()


def test_ticket_detail_and_countdowns(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/")
    countdown = page.locator("td.countdown").first
    page.wait_for_function("el => /overdue|\\d+[hms d]/.test(el.textContent) && el.title.length > 0",
                           arg=countdown.element_handle())
    page.locator("table[data-table=queue] tbody td.id a").first.click()
    page.wait_for_url(re.compile(r".*/ui/tickets/[^?]+$"))
    for heading in ("Ticket", "Metrics", "SLA instances", "Events"):
        assert page.locator("h2", has_text=heading).count() >= 1
    browser.shot("10-ticket")
    browser.no_errors()


def test_login_with_a_username_and_password(browser: Browser) -> None:
    page = browser.page
    browser.goto("/ui/")
    page.click("form[action='/ui/logout'] button")
    page.wait_for_url(re.compile(r".*/ui/login.*"))
    page.fill("#username", ADMIN_USER)
    page.fill("#password", "not-the-password")
    page.click("[data-testid=password-login] button[type=submit]")
    assert page.locator("[data-testid=login-error]").inner_text() == "Invalid username or password."
    assert page.input_value("#password") == ""  # never sent back
    browser.errors.clear()  # the 401 of the failed login
    page.fill("#password", ADMIN_PASSWORD)
    page.click("[data-testid=password-login] button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/$"))
    assert page.locator(".who .pill.muted").inner_text() == "admin"
    browser.no_errors()


def test_managing_schedules_and_alert_rules(browser: Browser) -> None:
    page = browser.page
    page.on("dialog", lambda d: d.accept())  # "Delete this schedule?"
    browser.goto("/ui/schedules")
    form = page.locator("[data-testid=schedule-form]")
    form.locator("input[name=name]").fill("weekly-sla")
    form.locator("input[name=cron]").fill("0 8 * * MON")
    form.locator("input[name=timezone]").fill("Europe/Berlin")
    form.locator("select[name=report]").select_option("sla")
    form.locator("input[name=formats][value=xlsx]").check()
    form.locator("input[name=recipients]").fill("lead@example.com")
    form.locator("input[name=f_group]").fill("Billing")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/ui/schedules\?notice=.*"))
    assert "created" in page.locator("[data-testid=notice]").inner_text()
    row = page.locator("tr[data-schedule='weekly-sla']")
    assert row.count() == 1 and "active" in row.inner_text()
    browser.shot("11-schedules")
    row.locator("button[data-action=pause]").click()
    page.wait_for_url(re.compile(r".*notice=.*paused.*"))
    assert "paused" in page.locator("tr[data-schedule='weekly-sla']").inner_text()
    page.locator("tr[data-schedule='weekly-sla'] a").first.click()
    page.wait_for_url(re.compile(r".*/ui/schedules/[0-9a-f]+$"))
    assert page.locator("h2", has_text="Run history").count() == 1
    browser.goto("/ui/schedules")
    page.locator("tr[data-schedule='weekly-sla'] button[data-action=delete]").click()
    page.wait_for_url(re.compile(r".*notice=.*deleted.*"))
    assert page.locator("tr[data-schedule='weekly-sla']").count() == 0

    browser.goto("/ui/alerts")
    form = page.locator("[data-testid=alert-form]")
    form.locator("input[name=name]").fill("billing-risk")
    form.locator("select[name=metric]").select_option("at_risk_tickets")
    form.locator("select[name=op]").select_option(">")
    form.locator("input[name=threshold]").fill("10")
    form.locator("input[name=target]").fill("lead@example.com")
    form.locator("input[name=quiet_hours]").fill("22:00-07:00")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/ui/alerts\?notice=.*"))
    assert page.locator("tr[data-rule='billing-risk']").count() == 1
    browser.shot("12-alerts")
    page.set_viewport_size(PHONE)
    browser.goto("/ui/alerts")
    browser.shot("13-alerts-phone")
    page.set_viewport_size(LAPTOP)
    browser.no_errors()
