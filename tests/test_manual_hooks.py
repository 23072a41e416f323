"""certbot --manual with our auth and cleanup hooks: one wait per run, nothing left."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certbot_dns_cloudflare_ext._internal import cli
from certbot_dns_cloudflare_ext._internal.errors import StateError
from certbot_dns_cloudflare_ext._internal.manual_state import run_key, state_directory

TOKEN = "manualToken-SECRET-0123456789abcdefghijk"
CLI = Path(sys.executable).with_name("certbot-dns-cloudflare-ext")


@pytest.fixture
def runtime_dir(tmp_path):
    directory = tmp_path / "runtime"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def hook_environment(cloudflare_api, nameserver, runtime_dir):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    return {
        "CF_API_TOKEN": TOKEN,
        "CLOUDFLARE_BASE_URL": cloudflare_api.base_url,
        "DNS_CLOUDFLARE_EXT_NAMESERVERS": f"127.0.0.1:{nameserver.port}",
        "DNS_CLOUDFLARE_EXT_PROPAGATION_INTERVAL": "0.2",
        "XDG_RUNTIME_DIR": str(runtime_dir),
    }


@pytest.mark.e2e
def test_three_names_are_issued_after_a_single_wait(
    certbot, cloudflare_api, hook_environment, runtime_dir
):
    names = ["*.example.test", "example.test", "www.example.test"]

    result = certbot.run(
        "certonly",
        "--manual",
        "--preferred-challenges",
        "dns",
        "--manual-auth-hook",
        f"{CLI} -v auth",
        "--manual-cleanup-hook",
        f"{CLI} cleanup",
        "--cert-name",
        "example.test",
        *[arg for name in names for arg in ("-d", name)],
        env=hook_environment,
    )

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("example.test") == names
    log = certbot.log_text()
    assert len(re.findall(r"more challenges? to come", log)) == 2
    assert (
        len(re.findall(r"Waiting for the 3 TXT records of this certbot run", log)) == 1
    )
    assert len(re.findall(r"All TXT records are served after", log)) == 1
    assert cloudflare_api.records(type="TXT") == []
    assert list((runtime_dir / "certbot-dns-cloudflare-ext").iterdir()) == []
    assert TOKEN not in log + result.stdout + result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    "signum, group",
    [(signal.SIGINT, True), (signal.SIGTERM, True), (signal.SIGTERM, False)],
    ids=["SIGINT-to-the-group", "SIGTERM-to-the-group", "SIGTERM-to-certbot-alone"],
)
def test_signal_during_the_last_wait_removes_every_record_and_the_state(
    certbot, cloudflare_api, hook_environment, runtime_dir, signum, group
):
    cloudflare_api.configure(propagation_delay=3600)
    command = certbot.command(
        "certonly",
        "--manual",
        "--preferred-challenges",
        "dns",
        "--manual-auth-hook",
        f"{CLI} auth",
        "--manual-cleanup-hook",
        f"{CLI} cleanup",
        "-d",
        "example.test",
        "-d",
        "www.example.test",
    )
    for directory in (certbot.config_dir, certbot.work_dir, certbot.logs_dir):
        directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command,
        env=certbot.environment(hook_environment),
        cwd=certbot.root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(cloudflare_api.records(type="TXT")) < 2:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)

    # A terminal's Ctrl-C and systemd's stop reach the whole process group;
    # kill(1) reaches certbot alone, and the waiting hook must notice.
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    process.communicate(timeout=30)
    deadline = time.monotonic() + 5
    state = runtime_dir / "certbot-dns-cloudflare-ext"
    while cloudflare_api.records(type="TXT") or list(state.iterdir()):
        assert time.monotonic() < deadline, cloudflare_api.records(type="TXT")
        time.sleep(0.1)

    assert process.returncode != 0


def test_state_of_a_killed_run_is_removed_by_the_next_run(
    hook_environment, runtime_dir, monkeypatch, capsys
):
    directory = state_directory({"XDG_RUNTIME_DIR": str(runtime_dir)})
    # No process has pid 4194304 or more (the kernel's limit), so this run is gone.
    killed = directory / "run-4194304-123456.json"
    killed.write_text("[]")
    for key, value in hook_environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CERTBOT_DOMAIN", "example.test")
    monkeypatch.setenv("CERTBOT_VALIDATION", "validation-1")
    monkeypatch.setenv("CERTBOT_REMAINING_CHALLENGES", "1")

    assert cli.main(["auth"]) == 0

    assert [path.name for path in directory.iterdir()] == [f"run-{run_key()}.json"]


def test_cleanup_without_auth_output_finds_the_record_by_its_marker(
    hook_environment, cloudflare_api, monkeypatch, capsys
):
    for key, value in hook_environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CERTBOT_DOMAIN", "example.test")
    monkeypatch.setenv("CERTBOT_VALIDATION", "validation-1")
    monkeypatch.setenv("CERTBOT_REMAINING_CHALLENGES", "1")
    assert cli.main(["auth"]) == 0
    printed = capsys.readouterr().out
    assert re.fullmatch(r"zones/[0-9a-f]{32}/dns_records/[0-9a-f]{32}\n", printed)

    monkeypatch.setenv("CERTBOT_AUTH_OUTPUT", "")
    monkeypatch.setenv("CERTBOT_REMAINING_CHALLENGES", "0")
    assert cli.main(["cleanup"]) == 0

    assert cloudflare_api.records(type="TXT") == []
    assert list(state_directory().iterdir()) == []


def test_auth_outside_certbot_names_the_missing_variable(monkeypatch, capsys):
    monkeypatch.delenv("CERTBOT_DOMAIN", raising=False)

    assert cli.main(["auth"]) == 1

    assert capsys.readouterr().err == (
        "certbot-dns-cloudflare-ext: error: environment variable CERTBOT_DOMAIN='' "
        "is not usable; run this as certbot's --manual-auth-hook or "
        "--manual-cleanup-hook\n"
    )


def test_hooks_started_through_a_shell_share_the_run_key():
    program = (
        "from certbot_dns_cloudflare_ext._internal.manual_state import run_key; "
        "print(run_key())"
    )
    command = f"{sys.executable} -c '{program}'; true"

    keys = {
        subprocess.run(
            command, shell=True, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }

    assert len(keys) == 1
    assert keys.pop().startswith(f"{os.getpid()}-")
    assert not run_key().startswith(f"{os.getpid()}-")


def test_a_state_directory_others_can_read_is_refused(runtime_dir):
    directory = runtime_dir / "certbot-dns-cloudflare-ext"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)

    with pytest.raises(StateError, match=rf"^{directory}: can be read by other users"):
        state_directory({"XDG_RUNTIME_DIR": str(runtime_dir)})
