# The two commands of the README: `make run` (set up, ingest corpus/, serve, answer) and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint typecheck corpus-check unit bench clean

setup: $(VENV)/.installed models

$(VENV)/.installed: pyproject.toml
	bash scripts/setup.sh "$(PY)" "$(VENV)"
	touch $@

models: $(VENV)/.installed
	$(BIN)/kb models fetch --model qwen2.5-1.5b
	$(BIN)/kb models fetch --model qwen2.5-0.5b

run: setup
	bash scripts/run.sh "$(BIN)"

lint: $(VENV)/.installed
	$(BIN)/ruff check ingest service eval kb_cli tests bench scripts
	$(BIN)/ruff format --check ingest service eval kb_cli tests bench scripts

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# The sample corpus is generated: a rebuild must give the committed bytes, and the checks of its content must hold.
corpus-check: $(VENV)/.installed
	$(BIN)/python scripts/build_corpus.py --check

test: setup lint typecheck corpus-check
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
