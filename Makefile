# `make demo` and `make test` work on a fresh machine with Python 3.11+ and nothing else:
# they create .venv, install the project into it, and run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mailer demo

test: $(STAMP)
	$(BIN)/ruff check mailer worker tests bench docs
	$(BIN)/mypy mailer worker bench docs/generate.py
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# `make bench DATABASE_URL=postgresql://user@host/db` runs the database benchmarks on
# that PostgreSQL server too (each in a scratch database of its own, dropped after).
bench: $(STAMP)
	deploy/debian-packages.sh --require smtp-sink=postfix smtp-source=postfix
	$(BIN)/python bench/render.py
	$(BIN)/python bench/smtp.py
	$(BIN)/python bench/ratelimit.py
	$(BIN)/python bench/digest.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/share_load.py
	$(BIN)/python bench/alert.py
ifneq ($(DATABASE_URL),)
	$(BIN)/python bench/digest.py --database-url '$(DATABASE_URL)'
	$(BIN)/python bench/plan.py --database-url '$(DATABASE_URL)'
	$(BIN)/python bench/share_load.py --database-url '$(DATABASE_URL)'
	$(BIN)/python bench/alert.py --database-url '$(DATABASE_URL)'
endif

clean:
	rm -rf $(VENV) var .pytest_cache
