# Two entry points: `make demo` (install everything, run the main job) and `make test` (install
# everything, lint, type-check, run the whole suite; what CI runs). `make test-fast` is the edit loop.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench bench-compat browser-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build, so sentence-transformers does not pull a CUDA one
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/lowdim demo

# ruff (lint + format) and mypy, configured in pyproject.toml: zero findings
lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

# Debian's chromium for the /ui browser tests (Playwright cannot download browsers here; CI runs as root)
browser-deps: install
	test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium fonts-liberation)

# the whole suite, slow real-data tests included (under 10 minutes on 2 cores)
test: lint browser-deps
	$(PY) -m pytest -q

# the edit loop: everything but the tests marked slow (real data, long runs)
test-fast: install
	$(PY) -m pytest -q -m "not slow"

bench: install
	$(PY) benchmarks/bench_codecs.py

# the query-map benchmark fits on WordNet lemma lists from Debian's wordnet-base (without it: gloss words only)
bench-compat: install
	dpkg -s wordnet-base >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wordnet-base)
	$(PY) benchmarks/bench_compat.py
