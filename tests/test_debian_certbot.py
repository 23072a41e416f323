"""Debian's own certbot (bookworm: 2.1) issues certificates with our .deb installed.

``make debian-deps`` installs what this needs with apt: certbot, python3-lexicon,
python3-dnspython, python3-cloudflare (2.11, too old for the SDK backend, as users
of Debian's certbot-dns-cloudflare have it) and the packaging tools. The test then
does what a distribution does: it builds the .deb from a fresh sdist with
dpkg-buildpackage (dh-python, pybuild) and installs it with apt, then runs
``/usr/bin/certbot`` against pebble and the stand-in API.

The test never replaces a copy of the package that is already installed, and an
exclusive lock keeps two runs on one machine from installing it at the same time.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.harness.certbot import Certbot
from tests.harness.packaging import build, missing_build_tool, unpack

pytestmark = [pytest.mark.e2e, pytest.mark.packaging]

SYSTEM_CERTBOT = Path("/usr/bin/certbot")
DEB_NAME = "python3-certbot-dns-cloudflare-ext"
TOKEN = "debianToken-SECRET-0123456789abcdefghij"
#: Debian packages the test needs, each with a program that shows it is there.
NEEDED = {
    "certbot": str(SYSTEM_CERTBOT),
    "dpkg-dev": "dpkg-buildpackage",
    "debhelper": "dh",
    "dh-python": "dh_python3",
    "apt": "apt-get",
}
NEEDED_MODULES = {"python3-lexicon": "lexicon", "python3-dnspython": "dns"}
#: Only the system's programs: pybuild must not find a virtualenv's python3.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
#: Held from install to removal, so concurrent runs take turns with the package.
LOCK_DIR = Path("/run/lock") if Path("/run/lock").is_dir() else Path("/tmp")
LOCK_FILE = LOCK_DIR / "certbot-dns-cloudflare-ext-debian-test.lock"
#: dpkg states in which the package's files are not on the machine.
ABSENT = {"", "not-installed", "config-files"}


def _missing() -> str | None:
    """Name the first missing program or module, with the command that adds it."""
    for package, program in NEEDED.items():
        if shutil.which(program) is None:
            fix = f"make debian-deps, or apt-get install {package}"
            return f"{program} is not installed ({fix})"
    for package, module in NEEDED_MODULES.items():
        probe = subprocess.run(
            ["/usr/bin/python3", "-c", f"import {module}"],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            return f"python3 cannot import {module} (apt-get install {package})"
    if os.geteuid() != 0:
        return "installing a .deb needs root (run the tests as root, e.g. in CI)"
    return None


def _system(command: list[str], cwd: Path) -> str:
    """Run a packaging command with the system's programs only; return its output."""
    env = {
        "PATH": SYSTEM_PATH,
        "HOME": os.environ.get("HOME", "/root"),
        "LC_ALL": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
    }
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    )
    return result.stdout


def _installed_status() -> str:
    """Return dpkg's status of our package, empty when dpkg has never seen it."""
    query = ["dpkg-query", "-W", "-f=${db:Status-Status}", DEB_NAME]
    result = subprocess.run(query, capture_output=True, text=True, check=False)
    return result.stdout.strip()


@contextmanager
def _exclusive_package_lock() -> Iterator[None]:
    """Wait until no other test run on this machine has our package installed."""
    with LOCK_FILE.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def debian_package(pebble, tmp_path_factory) -> Iterator[Path]:
    """Build our .deb from a fresh sdist and install it into the system Python."""
    reason = _missing() or missing_build_tool()
    if reason:
        pytest.skip(reason)
    with _exclusive_package_lock():
        # A user's own copy serves their renewals: replacing it would break them.
        if _installed_status() not in ABSENT:
            pytest.skip(
                f"{DEB_NAME} is installed on this machine; the test will not replace it"
            )
        yield from _installed_debian_package(tmp_path_factory.mktemp("debian"))


def _installed_debian_package(workdir: Path) -> Iterator[Path]:
    """Build the .deb in ``workdir``, install it, and remove it when done."""
    # Packagers start from the sdist, so the .deb is built from one, not the tree.
    build(workdir, sdist_only=True)
    (sdist,) = workdir.glob("*.tar.gz")
    version = re.sub(r"\.tar\.gz$", "", sdist.name).rpartition("-")[2]
    orig = sdist.rename(workdir / f"certbot-dns-cloudflare-ext_{version}.orig.tar.gz")
    unpack(orig, workdir)
    (source,) = (path for path in workdir.iterdir() if path.is_dir())

    _system(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=source)
    (deb,) = workdir.glob(f"{DEB_NAME}_*_all.deb")
    assert deb.name.startswith(f"{DEB_NAME}_{version}-"), "update debian/changelog"

    lock = ["-o", "DPkg::Lock::Timeout=300"]
    _system(["apt-get", "install", "-y", "--reinstall", *lock, str(deb)], cwd=workdir)
    try:
        yield deb
    finally:
        _system(["apt-get", "remove", "-y", *lock, DEB_NAME], cwd=workdir)


@pytest.fixture
def system_certbot(
    debian_package, tmp_path, pebble, cloudflare_api, nameserver, monkeypatch
):
    """Return a runner for /usr/bin/certbot that sees no virtualenv."""
    for variable in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("PATH", SYSTEM_PATH)
    return Certbot(
        root=tmp_path,
        pebble=pebble,
        cloudflare_base_url=cloudflare_api.base_url,
        executable=SYSTEM_CERTBOT,
    )


@pytest.mark.parametrize(
    "backend, choice",
    [
        ("lexicon", r"lexicon"),
        (None, r"auto: the cloudflare SDK \S+ (is too old|is not installed)"),
    ],
    ids=["lexicon", "auto"],
)
def test_debians_certbot_issues_a_wildcard_certificate(
    system_certbot, nameserver, cloudflare_api, credentials_file, backend, choice
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    credentials = credentials_file(dns_cloudflare_ext_api_token=TOKEN)
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    if backend:
        args += ["--dns-cloudflare-ext-backend", backend]

    result = system_certbot.run(
        "certonly", *args, "-d", "example.test", "-d", "*.example.test"
    )

    assert result.returncode == 0, result.stderr
    log = system_certbot.log_text()
    assert re.search(r"certbot version: 2\.", log)
    assert re.search(
        rf"Talking to Cloudflare through dns-lexicon \({choice}\)$", log, re.M
    )
    assert system_certbot.certificate_names("example.test") == [
        "*.example.test",
        "example.test",
    ]
    assert cloudflare_api.records(type="TXT") == []
    assert TOKEN not in log + result.stdout + result.stderr


def test_package_installs_where_debian_keeps_python_modules(debian_package):
    listed = subprocess.run(
        ["dpkg", "-L", DEB_NAME], capture_output=True, text=True, check=True
    ).stdout.split()

    assert (
        "/usr/lib/python3/dist-packages/certbot_dns_cloudflare_ext/_internal/"
        "lexicon_backend.py"
    ) in listed
    requires = next(path for path in listed if path.endswith(".egg-info/requires.txt"))
    assert not re.search(r"^cloudflare", Path(requires).read_text(), re.M)
