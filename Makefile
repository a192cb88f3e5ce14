PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov (template scanner) lives in its own virtualenv: its pinned boto3/botocore clash with ours.
CHECKS_VENV  ?= .venv-checks
CHECKS_STAMP := $(CHECKS_VENV)/.installed
ARCH   ?= x86_64

.PHONY: test demo venv checks-venv clean package

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

checks-venv: $(CHECKS_STAMP)

$(CHECKS_STAMP): deploy/requirements-checks.txt
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKS_VENV)/bin/pip install --quiet -r deploy/requirements-checks.txt
	touch $(CHECKS_STAMP)

test: $(STAMP) $(CHECKS_STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/provision-alarms demo

# The collector Lambda's zip: dist/queue-metrics-lambda-$(ARCH).zip (ARCH=x86_64 or arm64).
package: $(STAMP)
	$(BIN)/python deploy/package.py --arch $(ARCH)

clean:
	rm -rf $(VENV) $(CHECKS_VENV) build dist *.egg-info
