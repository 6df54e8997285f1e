# Two commands for admins: `make run` starts a node, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= ./mutual-data

.PHONY: run test check bench clean

$(BIN)/mutual: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/mutual
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/mutual
	$(BIN)/mutual --data $(DATA) serve

test: $(VENV)/.test-deps
	$(BIN)/ruff check protocol storage node tests bench
	$(BIN)/python -m pytest -q

check: $(VENV)/.test-deps
	$(BIN)/ruff check protocol storage node tests bench

bench: $(VENV)/.test-deps
	$(BIN)/python bench/inbox.py
	$(BIN)/python bench/decisions.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info
