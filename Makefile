# Build, test and demo targets for certbot-dns-cloudflare-ext.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALL_STAMP := $(VENV)/.install-stamp
SYSTEM_PROGRAMS := pebble dehydrated

# Run apt-get directly as root, through sudo otherwise (when there is one).
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)

.PHONY: venv system-deps test demo lint clean distclean

venv: $(INSTALL_STAMP)

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip

# Reinstall only when the packaging metadata changes.
$(INSTALL_STAMP): $(VENV_PYTHON) pyproject.toml $(wildcard setup.py setup.cfg)
	$(VENV_PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@missing=""; \
	for program in $(SYSTEM_PROGRAMS); do \
		command -v $$program >/dev/null 2>&1 || missing="$$missing $$program"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing missing system programs:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(SYSTEM_PROGRAMS); \
	fi

test: venv system-deps
	$(VENV_PYTHON) -m pytest -q

demo: venv system-deps
	$(VENV_PYTHON) -m tests.harness.demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf build dist *.egg-info demo-output .pytest_cache .ruff_cache $(INSTALL_STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
