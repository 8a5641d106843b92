# Thin targets; everything they run is a documented command of its own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEVSTAMP := $(VENV)/.installed-dev-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test lint bench fmt clean messages fuzz mutate

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e . -e ./clients/python
	touch $(STAMP)

# Test and lint tools, only for those who run the suite.
$(DEVSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEVSTAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lumbung serve --demo --host $(HOST) --port $(PORT)

# The sync SDK is generated from the async one; --check fails when it is stale.
# lint-imports checks that the domains import one way ([tool.importlinter]).
lint: $(DEVSTAMP)
	$(BIN)/python scripts/unasync.py --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy registry clients/python/lumbung_client tests
	$(BIN)/lint-imports

# The whole suite on SQLite, then again on PostgreSQL when LUMBUNG_TEST_DATABASE_URL is set.
test: lint
	env -u LUMBUNG_TEST_DATABASE_URL $(BIN)/pytest
	@if [ -n "$$LUMBUNG_TEST_DATABASE_URL" ]; then \
		echo "--- again on $$LUMBUNG_TEST_DATABASE_URL"; \
		$(BIN)/pytest; \
	fi

# Schemathesis as in `make test` (tests/fuzz), with many more examples per operation
# and then linked sequences (tests/fuzz/stateful.py),
# on SQLite and then on PostgreSQL when LUMBUNG_TEST_DATABASE_URL is set.
FUZZ_EXAMPLES ?= 200
fuzz: $(DEVSTAMP)
	env -u LUMBUNG_TEST_DATABASE_URL LUMBUNG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz tests/fuzz/stateful.py
	@if [ -n "$$LUMBUNG_TEST_DATABASE_URL" ]; then \
		echo "--- again on $$LUMBUNG_TEST_DATABASE_URL"; \
		LUMBUNG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz tests/fuzz/stateful.py; \
	fi

# Mutation testing of the security-critical modules ([tool.mutmut] in pyproject.toml
# says which, and which tests). Slow: it runs at the lowest priority, stops after
# MUTATE_SECONDS, keeps finished results in mutants/ for the next run, and lists the
# mutants no test killed. Not part of `make test`.
MUTATE_SECONDS ?= 5400
MUTATE_CHILDREN ?= 1
mutate: $(DEVSTAMP)
	-env -u LUMBUNG_TEST_DATABASE_URL nice -n 19 timeout $(MUTATE_SECONDS) \
		$(BIN)/mutmut run --max-children $(MUTATE_CHILDREN)
	$(BIN)/mutmut results

# Each script prints its medians and writes them to bench-results/.
bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python "$$script" || exit 1; done

fmt: $(DEVSTAMP)
	$(BIN)/python scripts/unasync.py
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Re-extract the catalog pages' texts and merge them into each language's .po file;
# translate the new entries there (the node compiles the .po files when it starts).
# Lines are wrapped at 100 columns, as the files are kept.
messages: $(DEVSTAMP)
	$(BIN)/pybabel extract -F registry/web/babel.cfg -o registry/web/locale/messages.pot \
		--no-location --sort-output --width=100 --project=lumbung \
		--version=$$($(BIN)/python -c 'import registry; print(registry.__version__)') .
	$(BIN)/pybabel update -i registry/web/locale/messages.pot -d registry/web/locale \
		--ignore-obsolete --width=100
