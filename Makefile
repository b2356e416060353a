# genmatch: `make demo` and `make test` each work on a fresh machine.
# torch==2.13.0 is installed first (the CPU build), then the package with torch pinned to it, so
# that no dependency (torchcfm pulls torchvision) resolves another torch.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.genmatch-installed

.PHONY: install demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,plots,bench,examples,tensorboard]" torch==2.13.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m genmatch demo

# The tests run in a random order (pytest-randomly); the seed is printed first, and
# `make test SEED=N` reruns that order.
ifndef SEED
SEED := $(shell $(PYTHON) -c "import random; print(random.randrange(1 << 32))")
endif

test: $(STAMP)
	@echo "test order: --randomly-seed=$(SEED) (rerun it with: make test SEED=$(SEED))"
	$(PY) -m pytest -n 2 -p no:cacheprovider --randomly-seed=$(SEED)

lint: $(STAMP)
	$(PY) -m ruff check genmatch tests bench examples

typecheck: $(STAMP)
	$(PY) -m mypy genmatch

bench: $(STAMP)
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) outputs .pytest_cache .mypy_cache .ruff_cache
