"""Shared pytest fixtures: stand-in Cloudflare API, nameserver, pebble, certbot."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.certbot import Certbot, default_executable
from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver
from tests.harness.pebble import Pebble, find_pebble

PEBBLE_MISSING = "pebble is not installed (apt-get install pebble)"


def pytest_configure(config: pytest.Config) -> None:
    # pyproject.toml may register it too; declaring it twice lists it twice.
    if not any(line.startswith("e2e:") for line in config.getini("markers")):
        config.addinivalue_line(
            "markers", "e2e: runs real certbot against pebble and the stand-ins"
        )


@pytest.fixture
def cloudflare_api() -> Iterator[CloudflareAPI]:
    """Serve a fresh, empty stand-in Cloudflare API for one test."""
    api = CloudflareAPI()
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(scope="session")
def _session_nameserver() -> Iterator[Nameserver]:
    # Pebble lives for the whole session and knows one nameserver address,
    # so the nameserver does too; each test swaps in its own API below.
    idle_api = CloudflareAPI()
    server = Nameserver(idle_api)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nameserver(
    _session_nameserver: Nameserver, cloudflare_api: CloudflareAPI
) -> Iterator[Nameserver]:
    """Answer DNS queries from this test's stand-in Cloudflare API."""
    idle_api = _session_nameserver.api
    _session_nameserver.api = cloudflare_api
    try:
        yield _session_nameserver
    finally:
        _session_nameserver.api = idle_api
        _session_nameserver.clear_faults()


@pytest.fixture(scope="session")
def pebble(
    _session_nameserver: Nameserver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pebble]:
    """Run one pebble ACME CA for the session, resolving via the nameserver."""
    if find_pebble() is None:
        pytest.skip(PEBBLE_MISSING)

    server = Pebble(
        dns_server=("127.0.0.1", _session_nameserver.port),
        workdir=tmp_path_factory.mktemp("pebble"),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def certbot(
    tmp_path: Path,
    pebble: Pebble,
    cloudflare_api: CloudflareAPI,
    nameserver: Nameserver,
) -> Certbot:
    """Return a certbot runner whose state lives in this test's tmp_path."""
    if not default_executable().is_file():
        pytest.skip(f"certbot is not installed (no {default_executable()})")
    return Certbot(
        root=tmp_path,
        pebble=pebble,
        cloudflare_base_url=cloudflare_api.base_url,
    )


@pytest.fixture
def credentials_file(tmp_path: Path) -> Callable[..., Path]:
    """Return a function that writes a credentials ini (mode 0600) from keys.

    Each call writes a new file, so one test can hold several credentials.
    """
    written: list[Path] = []

    def write_credentials(**keys: str) -> Path:
        path = tmp_path / f"credentials-{len(written) + 1}.ini"
        text = "".join(f"{key} = {value}\n" for key, value in keys.items())

        # Create the file private from the start, not chmod it afterwards.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)

        written.append(path)
        return path

    return write_credentials
