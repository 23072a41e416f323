# Build, test and demo targets for certbot-dns-cloudflare-ext.

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
INSTALL_STAMP := $(VENV)/.install-stamp
SYSTEM_PROGRAMS := pebble dehydrated
# Debian's certbot and the tools to build our .deb, for tests/test_debian_certbot.py.
# python3-cloudflare (2.11, too old for us) is on machines with Debian's plugin.
DEBIAN_PACKAGES := certbot python3-lexicon python3-dnspython python3-cloudflare \
	dpkg-dev debhelper dh-python python3-all python3-setuptools
# The oldest/newest version matrix (noxfile.py) keeps its virtualenvs here.
NOX := $(VENV)/bin/nox --envdir .nox --reuse-venv=yes

# Run apt-get directly as root, through sudo otherwise (when there is one).
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && echo sudo)
# With neither, the *-deps targets name what to install and the tests needing it
# skip, instead of apt-get failing on its lock and stopping `make test`.
CAN_APT := $(shell { [ "$$(id -u)" -eq 0 ] || [ -n "$(SUDO)" ]; } && echo yes)
# What setuptools writes into the tree when pip installs it. Where the build module
# is missing, a stale build/ turns `python -m build` into the puzzling "'build' is
# a package and cannot be directly executed".
IN_TREE_OUTPUT := build *.egg-info

.PHONY: venv system-deps debian-deps test test-suite test-packaging test-matrix \
	demo lint clean distclean

venv: $(INSTALL_STAMP)

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade pip

# Reinstall only when the packaging metadata changes.
$(INSTALL_STAMP): $(VENV_PYTHON) pyproject.toml $(wildcard setup.py setup.cfg)
	$(VENV_PYTHON) -m pip install --quiet -e '.[test,lexicon]'
	rm -rf $(IN_TREE_OUTPUT)
	touch $@

system-deps:
	@missing=""; \
	for program in $(SYSTEM_PROGRAMS); do \
		command -v $$program >/dev/null 2>&1 || missing="$$missing $$program"; \
	done; \
	if [ -n "$$missing" ] && [ -z "$(CAN_APT)" ]; then \
		echo "system-deps: run as root or install: apt-get install$$missing" \
			"(their tests are skipped until then)"; \
	elif [ -n "$$missing" ]; then \
		echo "installing missing system programs:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(SYSTEM_PROGRAMS); \
	fi

debian-deps:
	@command -v apt-get >/dev/null 2>&1 || exit 0; \
	missing=""; \
	for package in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${db:Status-Status}' $$package 2>/dev/null | grep -qx installed \
			|| missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ] && [ -z "$(CAN_APT)" ]; then \
		echo "debian-deps: run as root or install: apt-get install$$missing" \
			"(their tests are skipped until then)"; \
	elif [ -n "$$missing" ]; then \
		echo "installing missing Debian packages:$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends $$missing; \
	fi

# Three lanes at once, as the suite mostly waits on certbot, pebble and DNS: the
# suite, the packaging checks (sdist offline, Debian's certbot) and the matrix.
test: venv system-deps debian-deps
	@$(MAKE) --no-print-directory -j3 --output-sync=target \
		test-suite test-packaging test-matrix

# Three workers: the end-to-end tests mostly wait on certbot, pebble and DNS.
test-suite: venv system-deps
	$(VENV_PYTHON) -m pytest -q -n 3 -m "not packaging"

test-packaging: venv system-deps debian-deps
	$(VENV_PYTHON) -m pytest -q -rs -m packaging

# pip builds the project in the tree for each session: start clean, end clean.
test-matrix: venv system-deps
	rm -rf $(IN_TREE_OUTPUT)
	$(NOX); status=$$?; rm -rf $(IN_TREE_OUTPUT); exit $$status

demo: venv system-deps
	$(VENV_PYTHON) -m tests.harness.demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf build dist *.egg-info demo-output .pytest_cache .ruff_cache $(INSTALL_STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .nox
