"""Interrupted and overlapping certbot runs remove what they wrote, and only that."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.test_secrets import TOKEN, certbot_leaks, error_lines

pytestmark = pytest.mark.e2e

#: Long enough that nothing propagates until a test lets it.
HELD_BACK = 3600.0


@pytest.fixture
def api(cloudflare_api):
    """Serve example.test, holding every new record back from the nameserver."""
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.configure(propagation_delay=HELD_BACK)
    return cloudflare_api


@pytest.fixture
def credentials(credentials_file):
    return credentials_file(dns_cloudflare_ext_api_token=TOKEN)


def start(certbot, nameserver, credentials, *names):
    """Start certbot certonly in the background, as a terminal would run it."""
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    args += [item for name in names for item in ("-d", name)]
    for directory in (certbot.config_dir, certbot.work_dir, certbot.logs_dir):
        directory.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        certbot.command("certonly", *args),
        env=certbot.environment(),
        cwd=certbot.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell may start tests with SIGINT ignored; a terminal's certbot has it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finish(process, timeout: float = 60) -> subprocess.CompletedProcess:
    """Wait for a background certbot and return what it printed."""
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def wait_for_records(api, count: int, process, timeout: float = 60) -> None:
    """Return once the stand-in holds ``count`` TXT records; the runs then wait."""
    deadline = time.monotonic() + timeout
    while len(api.records(type="TXT")) < count:
        assert process.poll() is None, finish(process).stderr
        assert time.monotonic() < deadline, "certbot wrote no record in time"
        time.sleep(0.05)
    # The records are written; let the run settle into polling the nameserver.
    time.sleep(0.5)


@pytest.mark.parametrize(
    "signum, returncode, lines",
    [
        (signal.SIGINT, 1, ["Exiting due to user request."]),
        (signal.SIGTERM, -signal.SIGTERM, []),
    ],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_while_waiting_ends_the_run_quickly_and_removes_the_records(
    certbot, nameserver, api, credentials, signum, returncode, lines
):
    process = start(certbot, nameserver, credentials, "example.test", "*.example.test")
    wait_for_records(api, 2, process)

    process.send_signal(signum)
    sent = time.monotonic()
    result = finish(process, timeout=30)
    took = time.monotonic() - sent

    assert took < 2.5, f"certbot took {took:.1f} s to stop"
    assert result.returncode == returncode, result.stderr
    assert error_lines(result.stderr) == lines
    assert api.records(type="TXT") == []
    assert certbot_leaks(certbot, result) == []


def test_two_overlapping_runs_both_issue_and_keep_each_others_records(
    certbot, pebble, tmp_path, nameserver, api, credentials
):
    other = type(certbot)(tmp_path / "other", pebble, api.base_url)
    wildcard = start(certbot, nameserver, credentials, "example.test", "*.example.test")
    apex = start(other, nameserver, credentials, "example.test")

    # Both runs have written before either can see a record served.
    wait_for_records(api, 3, wildcard)
    api.configure(propagation_delay=0)
    results = finish(wildcard), finish(apex)

    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    names = certbot.certificate_names("example.test")
    assert names == ["*.example.test", "example.test"]
    assert other.certificate_names("example.test") == ["example.test"]
    deletes = [call for call in api.calls if call.step == "delete"]
    assert len({call.path for call in deletes}) == len(deletes) == 3
    assert all(call.status == 200 for call in deletes)
    assert api.records(type="TXT") == []
    assert certbot_leaks(certbot, results[0]) == certbot_leaks(other, results[1]) == []


def test_record_of_a_killed_run_does_not_break_the_next_run(
    certbot, nameserver, api, credentials
):
    killed = start(certbot, nameserver, credentials, "example.test")
    wait_for_records(api, 1, killed)
    killed.kill()
    killed_result = finish(killed)
    [stale] = api.records(type="TXT")

    api.configure(propagation_delay=0)
    result = certbot.run(
        "certonly",
        "--authenticator",
        "dns-cloudflare-ext",
        "--dns-cloudflare-ext-credentials",
        str(credentials),
        "--dns-cloudflare-ext-nameservers",
        f"127.0.0.1:{nameserver.port}",
        "-d",
        "example.test",
    )

    assert result.returncode == 0, result.stderr
    assert error_lines(result.stderr) == []
    assert certbot.certificate_names("example.test") == ["example.test"]
    # Only the killed run's own record is left: nothing could remove it.
    assert api.records(type="TXT") == [stale]
    assert certbot_leaks(certbot, killed_result, result) == []
