# Works from any directory: `make -C /path/to/repo test`.
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install chromium demo test lint typecheck unit unit-insync bench bench-alphalens mutation clean

install: $(STAMP)

$(STAMP): $(ROOT)/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e "$(ROOT)[dev]"
	touch $(STAMP)

demo: install
	cd $(ROOT) && $(PY) run_data_sync.py --source sample --dataset sp500-2010
	cd $(ROOT) && $(PY) run_data_sync.py --list
	cd $(ROOT) && $(PY) run_factor_computation.py
	cd $(ROOT) && $(PY) run_backtest.py

lint: install
	cd $(ROOT) && $(VENV)/bin/ruff check .
	cd $(ROOT) && $(VENV)/bin/ruff format --check .

typecheck: install
	cd $(ROOT) && $(VENV)/bin/mypy

# Debian's Chromium for tests/browser (playwright drives /usr/bin/chromium; never
# `playwright install`, which downloads a browser this network cannot reach). Needs root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	test -x /usr/bin/chromium || { $(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

# TEST_WORKERS pytest processes (pytest-xdist): on this 2-core machine two took the suite from
# about 60 minutes to ~30 (measured, with loadfile); TEST_WORKERS=0 runs it in one process. loadfile: a test
# file's tests run on one worker, in file order, as some modules need (the browser modules share
# one cockpit and build on each other: split between workers, "the page was not loaded"), and
# its module fixtures are built once, not once per worker. loadgroup would keep a group of files
# together, but pytest-xdist 3.8.0 marks its tests through Item._nodeid, which pytest 9 no
# longer reads: the groups split (measured).
TEST_WORKERS ?= 2
# More pytest options from the environment, e.g. PYTEST_ARGS=--junitxml=/tmp/junit.xml for
# every test's time (`make test` reads it; CI sets nothing).
PYTEST_ARGS ?=
# One BLAS thread: the construction optimisers factorise 500 x 500 matrices, and OpenBLAS
# threads fighting pytest for two cores made one factorisation 80 times slower (measured).
unit: install chromium
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile \
		--durations=30 $(PYTEST_ARGS)

# The IB suite again under ib_insync, in its own venv: the two libraries cannot share one.
INSYNC := $(ROOT)/.venv-insync
IB_TESTS := tests/unit/test_fake_tws_protocol.py tests/unit/test_ib_errors.py \
	tests/unit/test_ib_mapping.py tests/integration/test_fake_tws.py \
	tests/integration/test_ib_broker.py tests/integration/test_worker_ib.py \
	tests/integration/test_ib_history.py tests/integration/test_ib_refresh.py \
	tests/integration/test_worker_refresh.py tests/integration/test_ib_order_notices.py \
	tests/integration/test_ib_late_commission.py tests/integration/test_ib_fractional_holding.py \
	tests/integration/test_ib_reconnect_drop.py tests/integration/test_ib_exec_correction.py \
	tests/integration/test_ib_other_instruments.py tests/integration/test_ib_history_resync.py \
	tests/integration/test_crash_safety.py::test_the_ib_worker_killed_at_any_step_ends_as_if_uninterrupted

$(INSYNC)/.installed: $(ROOT)/pyproject.toml $(ROOT)/.ci/insync_requirements.py
	test -x $(INSYNC)/bin/python || python3 -m venv $(INSYNC)
	$(INSYNC)/bin/python -m pip install --quiet --upgrade pip
	python3 $(ROOT)/.ci/insync_requirements.py > $(INSYNC)/requirements.txt
	$(INSYNC)/bin/python -m pip install --quiet -r $(INSYNC)/requirements.txt
	$(INSYNC)/bin/python -m pip install --quiet --no-deps -e "$(ROOT)"
	touch $@

unit-insync: $(INSYNC)/.installed
	cd $(ROOT) && $(INSYNC)/bin/python -c "import ib_insync, importlib.util as u; \
		assert u.find_spec('ib_async') is None, 'ib_async must not be in the ib_insync venv'"
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(INSYNC)/bin/python -m pytest -q -p no:cacheprovider \
		-n $(TEST_WORKERS) --durations=10 \
		$(IB_TESTS)

test: lint typecheck unit unit-insync

bench: install chromium
	cd $(ROOT) && $(PY) -m pip install --quiet -e "$(ROOT)[bench]"
	cd $(ROOT) && $(PY) benchmarks/warehouse.py
	cd $(ROOT) && $(PY) benchmarks/backtest.py
	cd $(ROOT) && $(PY) benchmarks/construction.py --threads 1
	cd $(ROOT) && $(PY) benchmarks/construction_backtest.py --threads 1
	cd $(ROOT) && $(PY) benchmarks/risk_report.py
	cd $(ROOT) && $(PY) -m benchmarks.cockpit
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/research_fit.py
	cd $(ROOT) && $(PY) -m benchmarks.refresh_pacing
	cd $(ROOT) && $(PY) -m benchmarks.scanners
	cd $(ROOT) && $(PY) -m benchmarks.book
	cd $(ROOT) && $(PY) benchmarks/optuna_driver.py
	cd $(ROOT) && $(PY) -m benchmarks.soak_worker
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(PY) -m benchmarks.sweep
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(PY) -m benchmarks.remote
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/factor_memo.py
	cd $(ROOT) && OPENBLAS_NUM_THREADS=1 $(PY) benchmarks/scale.py

# Our IC and quantile returns against alphalens-reloaded, in a venv of its own: it pulls in
# Bottleneck, which changes the last bits of pandas' means in the test environment.
ALPHALENS := $(ROOT)/.venv-alphalens
bench-alphalens:
	test -x $(ALPHALENS)/bin/python || python3 -m venv $(ALPHALENS)
	$(ALPHALENS)/bin/python -m pip install --quiet -e "$(ROOT)[alphalens]"
	cd $(ROOT) && $(ALPHALENS)/bin/python benchmarks/alphalens_compare.py

# Mutation testing (slow; not part of `make test`): mutmut 3 mutates each module of
# [tool.mutmut] only_mutate in a copy of the tree (mutants/, git-ignored), one module at a
# time, each mutant against the selected tests that run its function; then the kill rate per
# module (.ci/mutation_report.py exits 1 below 90%; tests/MUTATION.md lists the survivors).
MUTATION_JOBS ?= 2
MUTATION_MODULES := quant_core.portfolio.ledger quant_core.portfolio.sizing \
	quant_core.backtest.metrics quant_core.live.files quant_core.live.inbox quant_core.data.schema

mutation: install
	cd $(ROOT) && rm -rf mutants && mkdir mutants
	cd $(ROOT) && $(PY) -m pip install --quiet -e "$(ROOT)[dev,mutation]"
	cd $(ROOT) && for m in $(MUTATION_MODULES); do \
		echo "mutmut: $$m"; \
		$(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) "$$m.*" > mutants/$$m.log 2>&1 \
			|| { tail -n 40 mutants/$$m.log; exit 1; }; \
	done
	cd $(ROOT) && $(PY) .ci/mutation_report.py

clean:
	rm -rf $(VENV) $(INSYNC) $(ROOT)/.mypy_cache $(ROOT)/.ruff_cache $(ROOT)/.pytest_cache
