# Thin targets; everything they run is a documented command of its own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test lint bench fmt clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e ./clients/python
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lumbung serve --demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy registry clients/python/lumbung_client

# The whole suite on SQLite, then again on PostgreSQL when LUMBUNG_TEST_DATABASE_URL is set.
test: lint
	env -u LUMBUNG_TEST_DATABASE_URL $(BIN)/pytest
	@if [ -n "$$LUMBUNG_TEST_DATABASE_URL" ]; then \
		echo "--- again on $$LUMBUNG_TEST_DATABASE_URL"; \
		$(BIN)/pytest; \
	fi

bench: $(STAMP)
	$(BIN)/python bench/run.py

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
