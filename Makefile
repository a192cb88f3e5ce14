PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARCH   ?= x86_64

.PHONY: test demo venv clean package

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/provision-alarms demo

# The collector Lambda's zip: dist/queue-metrics-lambda-$(ARCH).zip (ARCH=x86_64 or arm64).
package: $(STAMP)
	$(BIN)/python deploy/package.py --arch $(ARCH)

clean:
	rm -rf $(VENV) build dist *.egg-info
