# aioweb's commands. Each target installs what it needs first: the local venv
# (.venv) with the project and its Python tools, and, through apt-get when the
# machine lacks them, the system tools (go for client.go's checks and tests,
# wrk and nginx for the tests with real peers and the benchmarks). On a fresh machine, `make run` and `make test` are
# all there is to type.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.run-deps
STAMP_DEV := $(VENV)/.dev-deps
# The compiled copy (scripts/build_compiled.py, docs/compiled.md), rebuilt when the source changes.
COMPILED := build/compiled
STAMP_COMPILED := $(COMPILED)/.built
# apt-get as root, or through sudo when there is one.
APT := $(if $(filter 0,$(shell id -u)),,$(shell command -v sudo)) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: run run-compiled install test tools lint typecheck gocheck pytest pytest-compiled compiled \
	coverage fuzz load bench bench-core bench-cost bench-quick clean

# The venv. Debian's python3 ships without the venv module (python3-venv):
# install it when creating the venv fails.
$(PY):
	$(PYTHON) -m venv $(VENV) || { $(APT) update -qq && $(APT) install -y -qq python3-venv \
		&& rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
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

## make compiled: the same package with its hot path compiled by mypyc, in build/compiled
## (a C compiler and Python's headers, from apt-get when missing; docs/compiled.md)
compiled: $(STAMP_COMPILED)

$(STAMP_COMPILED): $(STAMP_DEV) scripts/build_compiled.py $(shell find aioweb -name '*.py')
	@command -v cc >/dev/null || { $(APT) update -qq && $(APT) install -y -qq gcc; }
	@$(PY) -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
		|| { $(APT) update -qq && $(APT) install -y -qq python3-dev; }
	$(PY) scripts/build_compiled.py
	touch $@

## make run-compiled: the sample server as `make run` starts it, running the compiled copy
run-compiled: $(STAMP_COMPILED)
	PYTHONSAFEPATH=1 PYTHONPATH=$(COMPILED):. $(PY) sample_server.py --uvloop

## make install: the venv with the project and every tool the tests and benchmarks use
install: $(STAMP_DEV)

## make tools: go (client.go is vetted, tested and run by the tests), curl, and the peers
## tests/test_peers.py runs aioweb with (nginx in front, wrk as load), from apt-get when
## missing; without the peers (a package that would not install) their tests are skipped
tools:
	@command -v go >/dev/null && command -v curl >/dev/null || { $(APT) update -qq \
		&& $(APT) install -y -qq golang-go curl; }
	@command -v wrk >/dev/null && { command -v nginx >/dev/null || test -x /usr/sbin/nginx; } \
		|| { $(APT) update -qq && $(APT) install -y -qq wrk nginx; } \
		|| echo "wrk or nginx could not be installed: tests/test_peers.py will skip them"

## make test: installs what is missing, then pylint, mypy --strict, go vet and go test
## (client.go), then pytest, on the package and again on its compiled copy
test: tools lint typecheck gocheck pytest pytest-compiled

lint: $(STAMP_DEV)
	$(VENV)/bin/pylint aioweb sample_server.py client.py tests $(wildcard bench examples scripts)

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy --strict aioweb sample_server.py client.py $(wildcard bench examples scripts)

gocheck: tools
	go vet ./... && go test ./...

pytest: $(STAMP_DEV)
	$(VENV)/bin/pytest -q

# Every test again, against build/compiled (tests/conftest.py puts it first on sys.path,
# and on PYTHONPATH for the servers the tests start).
pytest-compiled: $(STAMP_COMPILED)
	AIOWEB_COMPILED=1 $(VENV)/bin/pytest -q

coverage: $(STAMP_DEV)
	$(VENV)/bin/coverage run --source=aioweb -m pytest -q
	$(VENV)/bin/coverage report -m

## make fuzz: mutated requests against a live server for 120 s (make test runs a short form)
fuzz: $(STAMP_DEV)
	$(PY) scripts/fuzz_live.py --seconds 120

## make load: every load and fault scenario at full size (10,000 idle connections, floods,
## slow readers, resets, SIGTERM under load; a few minutes); make test runs small forms
load: $(STAMP_DEV)
	$(PY) scripts/load_faults.py all

# wrk when apt can install it; without it the drivers build client.go instead.
WRK_OR_NOT := command -v wrk >/dev/null || ($(APT) update -qq && $(APT) install -y -qq wrk) \
	|| echo "wrk could not be installed: the load generator will be client.go"

## make bench: every server at 1, 16, 50, 256 connections, 3 rounds (about 11 min when the
## machine is quiet, longer when it is not: noisy runs are measured again);
## prints the tables, draws docs/img/*.png, rewrites the results section of docs/benchmarks.md
bench: $(STAMP_DEV) $(STAMP_COMPILED)
	@$(WRK_OR_NOT)
	$(PY) -m bench.bench --rounds 3 --duration 4 --connections 1,16,50,256 \
		--json bench/results/bench.json

## make bench-core: the same servers at 50 and 256 connections, markdown tables only
bench-core: $(STAMP_DEV) $(STAMP_COMPILED)
	@$(WRK_OR_NOT)
	$(PY) bench/bench_core.py --rounds 3 --duration 5 --markdown

## make bench-cost: instructions per request on the wire (perf stat on the server's CPU),
## each server at 50 and 256 connections; steady where req/s move with the neighbours
bench-cost: $(STAMP_DEV)
	@$(WRK_OR_NOT)
	@command -v perf >/dev/null || ($(APT) update -qq && $(APT) install -y -qq linux-perf) \
		|| echo "perf could not be installed (apt-get install linux-perf)"
	$(PY) -m bench.wire_cost --connections 50
	$(PY) -m bench.wire_cost --connections 256

## make bench-quick: one round of 2 s runs at 16 and 256 connections, no re-runs (under a
## minute); a smoke test: plots go to bench/results/quick/, the docs are left alone
bench-quick: $(STAMP_DEV) $(STAMP_COMPILED)
	@$(WRK_OR_NOT)
	$(PY) -m bench.bench --rounds 1 --duration 2 --connections 16,256 --noisy-retries 0 \
		--img-dir bench/results/quick --no-doc

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .coverage htmlcov
