PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARCH   ?= x86_64

# The job frameworks the presets are tested against (tests/test_frameworks.py): Python ones in their
# own virtualenvs (their redis-py needs clash with each other and with the project's), BullMQ from npm
# into a project-local folder, Sidekiq from Debian (apt-get, as root; the tests skip it, saying why,
# when it cannot be installed). Rebuilt only when the pins change.
FW       := .frameworks
FW_STAMP := $(FW)/.installed
FW_PINS  := tests/frameworks/requirements.txt tests/frameworks/requirements-arq.txt tests/frameworks/node/package.json tests/frameworks/node/package-lock.json

.PHONY: test demo venv clean package frameworks

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
	ruby -e 'require "sidekiq"' 2>/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -q ruby-sidekiq >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q ruby-sidekiq >/dev/null)); } \
		|| echo "ruby-sidekiq could not be installed (needs root and apt-get): the Sidekiq preset tests will be skipped"
	touch $(FW_STAMP)

test: $(STAMP) $(FW_STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/provision-alarms demo

# The collector Lambda's zip: dist/queue-metrics-lambda-$(ARCH).zip (ARCH=x86_64 or arm64).
package: $(STAMP)
	$(BIN)/python deploy/package.py --arch $(ARCH)

clean:
	rm -rf $(VENV) $(FW) build dist *.egg-info
