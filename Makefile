# Two commands a newcomer needs: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

run: $(VENV)/.run-installed
	$(BIN)/qa-bot start

lint: $(VENV)/.test-installed
	$(BIN)/ruff check bot retrieval tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.quality --variants
	$(BIN)/python -m bench.docs
	$(BIN)/python -m bench.paraphrase
	$(BIN)/python -m bench.answer_speed
	$(BIN)/python -m bench.answer_stages
	$(BIN)/python -m bench.summary --ablations --per-article
	$(BIN)/python -m bench.splitters
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.load

soak: $(VENV)/.test-installed
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
