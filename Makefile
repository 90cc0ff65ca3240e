# Works from any directory: `make -C /path/to/repo test`.
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install chromium demo test lint typecheck unit unit-insync bench clean

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

unit: install chromium
	cd $(ROOT) && $(PY) -m pytest -q

# The IB suite again under ib_insync, in its own venv: the two libraries cannot share one.
INSYNC := $(ROOT)/.venv-insync
IB_TESTS := tests/unit/test_fake_tws_protocol.py tests/integration/test_fake_tws.py \
	tests/integration/test_ib_broker.py tests/integration/test_worker_ib.py \
	tests/integration/test_ib_history.py

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
	cd $(ROOT) && $(INSYNC)/bin/python -m pytest -q -p no:cacheprovider $(IB_TESTS)

test: lint typecheck unit unit-insync

bench: install chromium
	cd $(ROOT) && $(PY) -m pip install --quiet -e "$(ROOT)[bench]"
	cd $(ROOT) && $(PY) benchmarks/warehouse.py
	cd $(ROOT) && $(PY) benchmarks/backtest.py
	cd $(ROOT) && $(PY) -m benchmarks.cockpit

clean:
	rm -rf $(VENV) $(INSYNC) $(ROOT)/.mypy_cache $(ROOT)/.ruff_cache $(ROOT)/.pytest_cache
