# The two commands a newcomer needs: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PIP := $(BIN)/pip install -q --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: run test lint worker beat bench bench-ledger bench-checks bench-fees bench-pages bench-exports chaos install install-dev messages screenshots clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.installed-run: requirements.txt | $(BIN)/python
	$(PIP) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP) -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

## make run: embedded demo on SQLite, tasks inline, the scheduled jobs every DEMO_BEAT_EVERY s in the server process, http://127.0.0.1:$(PORT)
run: $(VENV)/.installed-run
	$(BIN)/python manage.py migrate --noinput
	PORT=$(PORT) $(BIN)/python manage.py seed_demo
	PORT=$(PORT) $(BIN)/python manage.py seed_custody_demo
	PORT=$(PORT) $(BIN)/python manage.py seed_merchants_demo
	DEBUG=true ADMIN_OTP_REQUIRED=$${ADMIN_OTP_REQUIRED:-false} $(BIN)/python manage.py runserver_demo 127.0.0.1:$(PORT) --noreload

## make test: lint, import contracts, migrations check, the whole suite (DATABASE_URL selects the database)
test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache
	SECRET_KEY=$${SECRET_KEY:-test-only-not-secret} $(BIN)/python manage.py makemigrations --check --dry-run
	SECRET_KEY=$${SECRET_KEY:-test-only-not-secret} $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

## make worker / beat: Celery against CELERY_BROKER_URL
worker: $(VENV)/.installed-run
	$(BIN)/celery -A backoffice worker --loglevel=INFO

beat: $(VENV)/.installed-run
	$(BIN)/celery -A backoffice beat --loglevel=INFO

## make bench: every benchmark as ONE table, each figure beside its anchor and goal (bench/all.py;
## long: the 1 M export and the 10 M checks; BENCH_QUICK=1 shows their stored figures instead)
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/all.py

## make bench-ledger: ledger throughput against the raw-SQL anchor (needs PostgreSQL and pgbench)
bench-ledger: $(VENV)/.installed-dev
	$(BIN)/python bench/ledger.py

## make bench-checks: ledger_check (incremental and --full) and end of day on a 10 M-entry ledger,
## built once in bench_big and kept (bench/README.md)
bench-checks: $(VENV)/.installed-dev
	$(BIN)/python bench/checks.py

## make bench-fees: the month-end custody fee run (accrual, invoices, collection) for BENCH_PLATFORMS
## platforms (1000) on PostgreSQL, beside its anchors (bench/README.md)
bench-fees: $(VENV)/.installed-dev
	$(BIN)/python bench/custody_fees.py

## make bench-pages: the partner API's first and last list page (cursor and ?page=) on an account with
## BENCH_PAGE_ENTRIES (250,000) entries on PostgreSQL (bench/README.md)
bench-pages: $(VENV)/.installed-dev
	$(BIN)/python bench/pages.py

## make bench-exports: a BENCH_EXPORT_ENTRIES-entry statement (1,000,000) exported as CSV and XLSX
## on PostgreSQL: time and peak memory beside the goal (< 200 MiB; bench/README.md)
bench-exports: $(VENV)/.installed-dev
	$(BIN)/python bench/exports.py

## make chaos: the chaos bank, long: gunicorn, a Celery worker and beat, HTTP channel simulators,
## 16 signed clients, processes killed every few seconds (needs PostgreSQL and Redis; make test on
## PostgreSQL with a broker runs a short one)
CHAOS_DB ?= postgres://postgres@127.0.0.1:5432/chaos
CHAOS_BROKER ?= redis://127.0.0.1:6379/13
chaos: $(VENV)/.installed-dev
	createdb -h 127.0.0.1 -U postgres chaos 2>/dev/null || true
	CHAOS_OPERATIONS=$${CHAOS_OPERATIONS:-2000} DATABASE_URL=$${DATABASE_URL:-$(CHAOS_DB)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(CHAOS_BROKER)} CELERY_RESULT_BACKEND=$${CELERY_RESULT_BACKEND:-$(CHAOS_BROKER)} \
	SECRET_KEY=$${SECRET_KEY:-test-only-not-secret} $(BIN)/pytest tests/test_chaos_bank.py -q -s -p no:randomly

## make screenshots: a screenshot tour of the console (1366x900) and the portals (390x844) in zh-hans and en,
## on a throw-away SQLite demo database, into screenshots/<lang>/ with screenshots/index.html (needs /usr/bin/chromium)
screenshots: $(VENV)/.installed-dev
	$(BIN)/python tools/screenshots.py

messages: $(VENV)/.installed-dev
	$(BIN)/python manage.py makemessages -l zh_Hans -l en --ignore=.venv --no-wrap
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles
