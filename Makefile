PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov (template scanner) lives in its own virtualenv: its pinned boto3/botocore clash with ours.
CHECKS_VENV  ?= .venv-checks
CHECKS_STAMP := $(CHECKS_VENV)/.installed
ARCH   ?= x86_64

# The job frameworks the presets are tested against (tests/test_frameworks.py): Python ones in their
# own virtualenvs (their redis-py needs clash with each other and with the project's), BullMQ from npm
# into a project-local folder, Sidekiq from Debian (apt-get, as root or with sudo; its test is skipped, saying why,
# when it cannot be installed). Rebuilt only when the pins change.
FW       := .frameworks
FW_STAMP := $(FW)/.installed
FW_PINS  := tests/frameworks/requirements.txt tests/frameworks/requirements-arq.txt tests/frameworks/node/package.json tests/frameworks/node/package-lock.json

.PHONY: test demo venv checks-venv clean package frameworks

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

frameworks: $(FW_STAMP)

$(FW_STAMP): $(FW_PINS)
	rm -rf $(FW) && mkdir -p $(FW)/node
	$(PYTHON) -m venv $(FW)/py
	$(FW)/py/bin/pip install --quiet --no-deps -r tests/frameworks/requirements.txt
	$(PYTHON) -m venv $(FW)/arq
	$(FW)/arq/bin/pip install --quiet --no-deps -r tests/frameworks/requirements-arq.txt
	cp tests/frameworks/node/package.json tests/frameworks/node/package-lock.json $(FW)/node/
	cd $(FW)/node && npm ci --no-audit --no-fund --loglevel=error
	ruby -e 'require "sidekiq"' 2>/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then as=""; elif sudo -n true 2>/dev/null; then as="sudo -n"; else as=no; fi; \
		[ "$$as" != no ] && command -v apt-get >/dev/null && \
		($$as apt-get install -y -q ruby-sidekiq >/dev/null || ($$as apt-get update -q >/dev/null && $$as apt-get install -y -q ruby-sidekiq >/dev/null)); } \
		|| echo "ruby-sidekiq could not be installed (needs root or sudo, and apt-get): the Sidekiq preset test will be skipped"
	touch $(FW_STAMP)

checks-venv: $(CHECKS_STAMP)

$(CHECKS_STAMP): deploy/requirements-checks.txt
	$(PYTHON) -m venv $(CHECKS_VENV)
	$(CHECKS_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKS_VENV)/bin/pip install --quiet -r deploy/requirements-checks.txt
	touch $(CHECKS_STAMP)

test: $(STAMP) $(CHECKS_STAMP) $(FW_STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/provision-alarms demo

# The collector Lambda's zip: dist/queue-metrics-lambda-$(ARCH).zip (ARCH=x86_64 or arm64).
package: $(STAMP)
	$(BIN)/python deploy/package.py --arch $(ARCH)

clean:
	rm -rf $(VENV) $(CHECKS_VENV) $(FW) build dist *.egg-info
