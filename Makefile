# deskpulse — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEMO   := demo
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench serve clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,spark,spark-connect]'
	touch $(STAMP)

## demo: install, generate realistic sample data, import and build on DuckDB, print a summary
DP := $(VENV)/bin/deskpulse --db $(DEMO)/deskpulse.duckdb --config examples/demo/deskpulse.yaml
demo: $(STAMP)
	rm -rf $(DEMO)/deskpulse.duckdb $(DEMO)/out
	$(VENV)/bin/deskpulse generate --tickets 20000 --seed 7 --out $(DEMO)/data
	$(DP) import $(DEMO)/data/tickets.csv $(DEMO)/data/events.csv --rejects $(DEMO)/rejects.csv
	$(DP) build
	$(DP) --tenant helpdesk sync --simulate 2000 --notify-wait 3  # issue 7: helpdesk simulator -> sync -> build
	$(DP) export ticket_sla --format csv --out $(DEMO)/out/ticket_sla.csv
	$(DP) export ticket_metrics --format xlsx --out $(DEMO)/out/ticket_metrics.xlsx
	$(DP) report dashboard --days 30 --out $(DEMO)/out/dashboard.html
	$(DP) report sla --days 30 --format xlsx --out $(DEMO)/out/sla.xlsx
	@test -s $(DEMO)/.jwt_secret || $(PY) -c "import secrets; print(secrets.token_urlsafe(32))" > $(DEMO)/.jwt_secret
	@echo
	$(DP) resolution --days 30 --by priority
	$(DP) bottlenecks --days 30 --limit 5
	@echo
	@echo "demo store:   $(DEMO)/deskpulse.duckdb   (try: $(VENV)/bin/deskpulse --db $(DEMO)/deskpulse.duckdb tickets list)"
	@echo "report:       $(DEMO)/out/dashboard.html (+ CSVs), $(DEMO)/out/sla.xlsx"
	@echo "exports:      $(DEMO)/out/ticket_sla.csv, $(DEMO)/out/ticket_metrics.xlsx"
	@echo "dashboard:    make serve, then open http://127.0.0.1:8000/ui and paste this token:"
	@DESKPULSE_JWT_SECRET=$$(cat $(DEMO)/.jwt_secret) $(VENV)/bin/deskpulse token create --tenant default --role admin

## system-deps: Debian packages the reports (pango, poppler) and the browser tests (chromium) need
system-deps: $(STAMP)
	SKIP_PIP=1 bash scripts/install_report_deps.sh
	bash scripts/install_browser.sh

## test: install what the tests need, lint, then run the suite (CI=true also runs PostgreSQL,
## browser and report tests, which fail rather than skip when something is missing)
test: $(STAMP) system-deps lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

## bench: benchmarks (slow; prints figures and ratios against naive baselines)
bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

## serve: the API and dashboard on the demo store (run `make demo` first)
serve: $(STAMP)
	DESKPULSE_JWT_SECRET=$$(cat $(DEMO)/.jwt_secret) $(DP) serve

clean:
	rm -rf $(VENV) $(DEMO) build .pytest_cache .mypy_cache .ruff_cache
