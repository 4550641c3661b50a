# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint bench bench-peers clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("authsite needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# What `make run` serves on, recorded in the var directory for later shells (invitation
# links, bootstrap output); AUTHSITE_PUBLIC_URL in the environment or .env still wins.
VAR_DIR := $(or $(AUTHSITE_VAR_DIR),var)
SERVED_URL := $(or $(AUTHSITE_PUBLIC_URL),http://$(HOST):$(PORT))

run: install
	@mkdir -p '$(VAR_DIR)' && printf '%s\n' '$(SERVED_URL)' > '$(VAR_DIR)/public_url'
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py bootstrap
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	GUNICORN_BIND=$(HOST):$(PORT) exec $(VENV)/bin/gunicorn -c deploy/gunicorn.conf.py authsite.asgi:application

# The suite runs in TEST_WORKERS processes (pytest-xdist); a module's tests stay in one
# worker, so module-scoped servers start once. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The benchmark (README, "Benchmark"): wrk against 127.0.0.1 only, on its own database
# (authsite_bench) and Redis database 12 of the servers in DATABASE_URL / REDIS_URL.
# Extra flags: make bench BENCH_ARGS="--duration 5 --scenarios discovery,jwks".
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

bench-peers: install
	$(PY) bench/run.py --peers $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/static var/*.sqlite3* var/public_url var/scheduler-state.json
