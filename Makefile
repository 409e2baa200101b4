# Two commands set everything up on a fresh machine:
#   make run    the app on http://127.0.0.1:$(PORT)/ with demo data and logins
#   make test   the whole test suite (browser tests included)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
CHROMIUM := /usr/bin/chromium

# Every target here is a developer's: the app's settings leave DEBUG off unless
# told (clinic/settings.py), and make run's demo logins need it on. A DEBUG
# given on the command line or in the environment wins.
DEBUG ?= true
export DEBUG

.PHONY: run test lint types install install-dev browser migrate seed clean bench loadtest

$(VENV)/.installed-app: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-app requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed-app
install-dev: $(VENV)/.installed-dev

# Browser tests drive Debian's Chromium; install it when missing (root only).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: run 'sudo apt-get install -y chromium' for the browser tests" >&2; \
	  fi; \
	fi

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

# The outbox's worker (django-q2's qcluster: the daily reminder run and the
# frequent send) runs beside the server; Ctrl-C (or the server stopping) stops both.
run: seed
	@trap 'kill $$QPID 2>/dev/null; wait $$QPID 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py qcluster & QPID=$$!; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install-dev browser
	$(PY) -m pytest

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: install-dev
	$(VENV)/bin/mypy .

# Benchmarks (docs/benchmarks.md): synthetic registries in their own databases
# (bench/.data/, or clinic_bench on the PostgreSQL server DATABASE_URL names).
# The default finishes in a few minutes; SIZE=100000 is the full registry.
SIZE ?= 10000
RUNS ?= 20
bench: install-dev
	$(PY) -m bench --size $(SIZE) --runs $(RUNS)

# gunicorn in front of PostgreSQL (database clinic_load), simulated staff.
USERS ?= 50
DURATION ?= 60
WORKERS ?= 4
loadtest: install-dev
	$(PY) -m bench.loadtest --users $(USERS) --seconds $(DURATION) --workers $(WORKERS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache .mypy_cache
