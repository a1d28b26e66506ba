# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv and install gbaletter into it the first time (and after pyproject.toml changes).
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed
POSTGRES_DIR ?= .postgres

.PHONY: demo test test-postgres postgres bench lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python scripts/demo.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The same suite on PostgreSQL: a private cluster in $(POSTGRES_DIR) (scripts/postgres, left running
# for the next run), an empty database (schema) per test.
test-postgres: $(STAMP)
	url=$$(scripts/postgres start --dir $(POSTGRES_DIR) --no-fsync) && \
	  GBALETTER_TEST_DATABASE_URL=$$url $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# Start (creating on first use) the developers' PostgreSQL cluster in $(POSTGRES_DIR); prints its URL.
postgres:
	@scripts/postgres start --dir $(POSTGRES_DIR)

bench: $(STAMP)
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy
