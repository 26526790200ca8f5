# Two entry points: `make demo` (install everything, run the main job) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench

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

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/bench_codecs.py
