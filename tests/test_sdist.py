"""``python -m build`` makes a wheel and an sdist whose tests pass offline.

Packagers build from the sdist and run its tests without network, often without
pebble. The offline run happens in a network namespace of its own (``unshare``)
with only loopback, and with pebble hidden, so every test that needs it skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.harness.packaging import ROOT, build, missing_build_tool, unpack
from tests.harness.pebble import find_pebble

pytestmark = pytest.mark.packaging

#: What packagers need besides the package and its tests.
EXTRAS = ("README.rst", "LICENSE", "CHANGELOG.rst", "noxfile.py", "debian/rules")
PEBBLE_SKIP = "pebble is not installed (apt-get install pebble)"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """Build the sdist and, from it, the wheel, as ``python -m build`` does."""
    reason = missing_build_tool()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("dist")
    build(out)
    return out


def _sdist_names(dist: Path) -> set[str]:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        return {name.partition("/")[2] for name in archive.getnames()}


def test_sdist_carries_every_test_file_and_the_packaging_files(dist):
    names = _sdist_names(dist)
    tests = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("*")
        if path.is_file() and not {"__pycache__", ".pytest_cache"} & set(path.parts)
    }

    assert tests and tests <= names, sorted(tests - names)
    assert set(EXTRAS) <= names
    assert not [name for name in names if "__pycache__" in name or ".venv" in name]


def test_wheel_carries_the_plugin_and_no_tests(dist):
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()

    assert "certbot_dns_cloudflare_ext/_internal/lexicon_backend.py" in names
    assert not [name for name in names if name.startswith("tests/")]
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Requires-Dist: dns-lexicon>=3.11; extra == " in text.replace('"', "'")


def test_unpacked_sdist_tests_pass_offline_and_skip_without_pebble(dist, tmp_path):
    missing = [
        program for program in ("unshare", "ip") if shutil.which(program) is None
    ]
    if missing:
        pytest.skip(
            f"{missing[0]} is not installed (apt-get install util-linux iproute2)"
        )
    if os.geteuid() != 0:
        pytest.skip(
            "unshare needs root to isolate the network (run as root, e.g. in CI)"
        )
    (sdist,) = dist.glob("*.tar.gz")
    unpack(sdist, tmp_path)
    (source,) = tmp_path.iterdir()

    # Loopback only, and pebble hidden behind /dev/null, in namespaces of our own.
    steps = ["ip link set lo up"]
    pebble = find_pebble()
    if pebble is not None:
        steps.append(f"mount --bind /dev/null {pebble}")
    pytest_command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rs",
        "-p",
        "no:cacheprovider",
    ]
    pytest_command += ["--ignore", "tests/test_sdist.py", "tests"]
    steps.append("exec " + " ".join(pytest_command))
    result = subprocess.run(
        ["unshare", "--net", "--mount", "sh", "-c", " && ".join(steps)],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert re.search(r"^\d+ passed, \d+ skipped", output.splitlines()[-1])
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert any(line.endswith(PEBBLE_SKIP) for line in skipped), skipped
    named = re.compile(r"^SKIPPED \[\d+\] \S+: \S+ is not installed \(.+\)$")
    assert all(named.match(line) for line in skipped), skipped
