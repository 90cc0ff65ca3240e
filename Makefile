# Works from any directory: `make -C /path/to/repo test`.
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV := $(ROOT)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench clean

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

unit: install
	cd $(ROOT) && $(PY) -m pytest -q

test: lint typecheck unit

bench: install
	cd $(ROOT) && $(PY) -m pip install --quiet -e "$(ROOT)[bench]"
	cd $(ROOT) && $(PY) benchmarks/warehouse.py
	cd $(ROOT) && $(PY) benchmarks/backtest.py

clean:
	rm -rf $(VENV) $(ROOT)/.mypy_cache $(ROOT)/.ruff_cache $(ROOT)/.pytest_cache
