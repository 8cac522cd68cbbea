# aioweb's commands. Each target makes the local venv it needs (.venv).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.run-deps
STAMP_DEV := $(VENV)/.dev-deps

.PHONY: run test lint typecheck pytest coverage bench-core bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml $(STAMP_RUN)
	$(PY) -m pip install -q -e '.[dev,bench]'
	touch $@

## make run: the sample server on uvloop, port 8888
run: $(STAMP_RUN)
	$(PY) sample_server.py --uvloop

## make test: pylint, mypy --strict, then pytest
test: lint typecheck pytest

lint: $(STAMP_DEV)
	$(VENV)/bin/pylint aioweb sample_server.py tests $(wildcard bench)

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy --strict aioweb sample_server.py $(wildcard bench)

pytest: $(STAMP_DEV)
	$(VENV)/bin/pytest -q

coverage: $(STAMP_DEV)
	$(VENV)/bin/coverage run --source=aioweb -m pytest -q
	$(VENV)/bin/coverage report -m

## make bench-core: sample server vs the control server, uvicorn and granian, with wrk
bench-core: $(STAMP_DEV)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/bench_core.py --rounds 3 --duration 5 --markdown

bench-quick: $(STAMP_DEV)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/bench_core.py --rounds 1 --duration 2

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .coverage htmlcov
