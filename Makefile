# Two entry points: `make run` (the main job) and `make test`. Each creates .venv and installs the
# project with its test extras when missing, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= changning

.PHONY: run test report bench lint clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/lifecircle run $(PROFILE)

report: $(STAMP)
	$(BIN)/lifecircle report $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m ruff check lifecircle tests benchmarks
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_access.py

lint: $(STAMP)
	$(BIN)/python -m ruff check lifecircle tests benchmarks

clean:
	rm -rf data/processed/* maps/*.html maps/*.png
