"""Prove the supported range: the oldest and newest certbot, SDK, lexicon and Python.

Each session installs from PyPI into a fresh virtualenv, then runs the unit suite
and the end-to-end issuance on both backends. ``make test`` runs both sessions;
``nox -s oldest -- tests/test_end_to_end.py`` runs chosen tests only.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import nox

nox.options.sessions = ["oldest", "newest"]

#: The lower bounds pyproject.toml declares, and what they need to run today.
OLDEST = (
    "certbot==2.1.0",
    "acme==2.1.0",
    "cloudflare==4.0.0",
    "dns-lexicon==3.11.0",
    "dnspython==2.3.0",
    # certbot 2.1 predates josepy 2 and pyOpenSSL 24, as Debian bookworm does.
    "josepy==1.13.0",
    "pyOpenSSL==23.0.0",
    "cryptography==38.0.4",
    # certbot 2.1 finds its plugins with pkg_resources, which setuptools 81 drops.
    "setuptools<81",
)
NEWEST = ("certbot", "acme", "cloudflare", "dns-lexicon", "dnspython")

#: The unit suite, then the issuance scenarios, which run on both backends.
SUITES = (("-m", "not e2e and not packaging", "tests"), ("tests/test_end_to_end.py",))


def _python(version: str) -> str:
    """Return an interpreter for ``version``: on PATH, else pyenv's, else ours."""
    found = shutil.which(f"python{version}")
    if found and subprocess.run([found, "-V"], capture_output=True).returncode == 0:
        return found
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    pyenv = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    if pyenv:
        return pyenv[-1]
    print(f"nox: no Python {version} here; this session runs on {sys.version}")
    return sys.executable


@nox.session(python=_python("3.10"))
def oldest(session: nox.Session) -> None:
    """Run the suites on the oldest versions the package metadata allows."""
    session.install(".[lexicon]", "pytest", *OLDEST)
    _run_suites(session)


@nox.session(python=_python("3.13"))
def newest(session: nox.Session) -> None:
    """Run the suites on the newest release of everything."""
    session.install("--upgrade", ".[lexicon]", "pytest", *NEWEST)
    _run_suites(session)


def _run_suites(session: nox.Session) -> None:
    session.run("python", "-VV")
    session.run("python", "-m", "pip", "freeze", "--all")
    pytest = ("python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    for suite in [session.posargs] if session.posargs else SUITES:
        session.run(*pytest, *suite)
