# Two commands set everything up on a fresh machine with Python 3.11:
#   make review   - the main job: the design review, written to figures/
#   make test     - the test suite (what CI runs), the browser suite included
#   make browser  - the browser suite alone (the reference client in headless Chromium)
# The set-up installs Debian packages when missing: espeak-ng (real speech), chromium and
# chromium-driver (the browser suite).
# Both create or reuse .venv and install what they need into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: review test browser demo figures bench clean

$(STAMP): pyproject.toml
	@# Debian packages: espeak-ng (real speech), Chromium and its driver (the browser suite)
	@missing=""; for pkg in espeak-ng:espeak-ng chromium:chromium chromedriver:chromium-driver; do \
	  command -v $${pkg%%:*} >/dev/null || missing="$$missing $${pkg##*:}"; done; \
	  if [ -n "$$missing" ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; fi
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

browser: $(STAMP)
	$(BIN)/python -m pytest tests/test_browser.py

figures: $(STAMP)
	$(BIN)/vadlock diagrams
	$(BIN)/vadlock review

bench: $(STAMP)
	$(BIN)/vadlock bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
