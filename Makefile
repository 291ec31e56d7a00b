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

# The main job: the full analysis of PROFILE (run outputs, indicator report, gap maps).
# --allow-sample: offline with nothing cached, a newcomer still gets a complete run of the
# bundled sample (labelled SAMPLE, in its own folder) instead of an error.
run: $(STAMP)
	$(BIN)/lifecircle report $(PROFILE) --allow-sample

report: $(STAMP)
	$(BIN)/lifecircle report $(PROFILE)

# Headless Chromium for the browser tests (tests/test_browser.py) and a CJK font for Chinese labels
# in PNG maps and screenshots: installed with apt only when running as root with apt-get
# available; otherwise the browser tests skip (they fail under CI=true) and PNGs use English.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
browser:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		missing=""; \
		for p in $(BROWSER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "installing$$missing (apt)"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
				|| echo "could not install$$missing: browser tests will skip"; \
		fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m ruff check lifecircle tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

# The references of the benchmark are the 'bench' extra; one that cannot be installed here is
# skipped (the benchmark says so) rather than failing the whole run.
BENCH_PEERS := igraph pandana cityseer pyinstrument
bench: $(STAMP)
	@$(BIN)/python -m pip install --quiet -e ".[bench]" 2>/dev/null || \
		for p in $(BENCH_PEERS); do \
			$(BIN)/python -m pip install --quiet "$$p" || echo "bench: could not install $$p: it is skipped"; \
		done
	$(BIN)/python benchmarks/bench.py

lint: $(STAMP)
	$(BIN)/python -m ruff check lifecircle tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf data/processed/* data/processed/.*.versions maps/*.html maps/*.png
