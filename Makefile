# Two commands set everything up on a fresh machine with Python 3.11:
#   make review   - the main job: the design review, written to figures/
#   make test     - the test suite (what CI runs)
# The set-up installs espeak-ng (Debian; real speech for the recording tests) if missing.
# Both create or reuse .venv and install what they need into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: review test demo figures bench clean

$(STAMP): pyproject.toml
	@command -v espeak-ng >/dev/null || { apt-get update -qq && apt-get install -y -qq espeak-ng; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

review: $(STAMP)
	$(BIN)/vadlock review

demo: $(STAMP)
	$(BIN)/vadlock simulate --preset field-report

test: $(STAMP)
	$(BIN)/python -m pytest

figures: $(STAMP)
	$(BIN)/vadlock diagrams
	$(BIN)/vadlock review

bench: $(STAMP)
	$(BIN)/vadlock bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
