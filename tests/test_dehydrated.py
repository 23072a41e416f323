"""Debian's dehydrated issues and renews through our hook, against pebble."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

from certbot_dns_cloudflare_ext._internal import hook
from tests.harness.certbot import certificate_dns_names

TOKEN = "dehydratedToken-SECRET-0123456789abcdefgh"
EMAIL = "admin@example.test"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"
HOOK = Path(sys.executable).with_name("certbot-dns-cloudflare-ext-hook")
DEHYDRATED = shutil.which("dehydrated")

#: Variables of the developer's shell that would change what the hook reads.
_OURS = re.compile(r"(CF|CLOUDFLARE|DNS_CLOUDFLARE_EXT)_")


class Dehydrated:
    """One dehydrated installation with its config and state under ``root``.

    Every installation shares one ACME account, registered once per module:
    dehydrated's registration makes an RSA key and takes seconds.
    """

    def __init__(self, root: Path, accounts: Path, pebble) -> None:
        self.root = root
        self.accounts = accounts
        self.config = root / "config"
        self.directory_url = pebble.directory_url
        self.environment = {
            key: value for key, value in os.environ.items() if not _OURS.match(key)
        }
        self.environment["CURL_CA_BUNDLE"] = str(pebble.ca_bundle)

    def configure(self, hook_chain: bool = True) -> None:
        """Write the config file that ``-f`` names."""
        self.config.write_text(
            f'CA="{self.directory_url}"\n'
            f'BASEDIR="{self.root}"\n'
            f'ACCOUNTDIR="{self.accounts}"\n'
            'CHALLENGETYPE="dns-01"\n'
            f'HOOK="{HOOK}"\n'
            f'HOOK_CHAIN="{"yes" if hook_chain else "no"}"\n'
            'KEYSIZE="2048"\n'
            'KEY_ALGO="prime256v1"\n'
            f'CONTACT_EMAIL="{EMAIL}"\n'
        )

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        """Run dehydrated with our config; return its result, exit code and all."""
        return subprocess.run(
            [DEHYDRATED, "-f", str(self.config), *args],
            env=self.environment | extra,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def certificate(self, name: str) -> x509.Certificate:
        """Return the current certificate of ``name``."""
        pem = (self.root / "certs" / name / "cert.pem").read_bytes()
        return x509.load_pem_x509_certificate(pem)


@pytest.fixture(scope="module")
def accounts(pebble, tmp_path_factory):
    if DEHYDRATED is None:
        pytest.skip("dehydrated is not installed (apt-get install dehydrated)")
    root = tmp_path_factory.mktemp("dehydrated-account")
    registrar = Dehydrated(root, root / "accounts", pebble)
    registrar.configure()
    registered = registrar.run("--register", "--accept-terms")
    assert registered.returncode == 0, registered.stdout + registered.stderr
    return registrar.accounts


@pytest.fixture
def dehydrated(tmp_path, accounts, pebble, cloudflare_api, nameserver):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_global_key(EMAIL, GLOBAL_KEY)
    runner = Dehydrated(tmp_path, accounts, pebble)
    runner.environment |= {
        "CLOUDFLARE_BASE_URL": cloudflare_api.base_url,
        "DNS_CLOUDFLARE_EXT_NAMESERVERS": f"127.0.0.1:{nameserver.port}",
        "DNS_CLOUDFLARE_EXT_PROPAGATION_INTERVAL": "0.2",
    }
    return runner


def issue(dehydrated, credentials, *names):
    """Run the founding workflow's command line, verbatim but for the names."""
    domains = [arg for name in names for arg in ("-d", name)]
    return dehydrated.run(
        "-c", *domains, "-t", "dns-01", "-k", str(HOOK), **credentials
    )


def assert_issued(dehydrated, result, names):
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert certificate_dns_names(dehydrated.certificate("example.test")) == names
    fullchain = dehydrated.root / "certs" / "example.test" / "fullchain.pem"
    assert re.search(
        rf"^ +ssl_certificate +{re.escape(str(fullchain))};$", output, re.M
    )
    assert re.search(r"^ +ssl_certificate_key +\S+/privkey\.pem;$", output, re.M)
    assert TOKEN not in output and GLOBAL_KEY not in output


NAMES = ["*.example.test", "example.test"]


@pytest.mark.e2e
def test_global_key_issues_apex_and_wildcard_one_challenge_at_a_time(
    dehydrated, cloudflare_api
):
    dehydrated.configure(hook_chain=False)

    result = issue(
        dehydrated,
        {"CF_EMAIL": EMAIL, "CF_KEY": GLOBAL_KEY},
        "example.test",
        "*.example.test",
    )

    assert_issued(dehydrated, result, NAMES)
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.e2e
def test_token_with_hook_chain_issues_then_forced_cron_run_renews(
    dehydrated, cloudflare_api
):
    dehydrated.configure(hook_chain=True)
    first = issue(dehydrated, {"CF_API_TOKEN": TOKEN}, "example.test", "*.example.test")
    assert_issued(dehydrated, first, NAMES)
    serial = dehydrated.certificate("example.test").serial_number
    cloudflare_api.reset_calls()

    renewed = dehydrated.run(
        "--cron",
        "--force",
        "-d",
        "example.test",
        "-d",
        "*.example.test",
        **{"CF_API_TOKEN": TOKEN},
    )

    assert_issued(dehydrated, renewed, NAMES)
    assert dehydrated.certificate("example.test").serial_number != serial
    assert [c.step for c in cloudflare_api.calls].count("create") == 2
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.e2e
def test_clean_challenge_in_a_new_process_removes_only_our_record(
    dehydrated, cloudflare_api, capsys, monkeypatch
):
    # Records by hand: one with a value of ours, but without our marker.
    name = "_acme-challenge.example.test"
    cloudflare_api.add_record("example.test", "TXT", name, "value-1", "by hand")
    cloudflare_api.add_record("example.test", "TXT", name, "other", "by hand")
    for key, value in dehydrated.environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CF_API_TOKEN", TOKEN)
    triplets = [
        "example.test",
        "token-1",
        "value-1",
        "example.test",
        "token-2",
        "value-2",
    ]

    assert hook.main(["deploy_challenge", *triplets]) == 0
    assert len(cloudflare_api.records(type="TXT")) == 3
    assert hook.main(["clean_challenge", *triplets]) == 0

    left = cloudflare_api.records(type="TXT")
    assert sorted(r["content"] for r in left) == ["other", "value-1"]
    assert " + Removing 1 TXT record of ours\n" in capsys.readouterr().out


@pytest.mark.e2e
def test_clean_challenge_on_lexicon_removes_records_without_a_marker(
    dehydrated, cloudflare_api, capsys, monkeypatch
):
    # dns-lexicon cannot write our comment, so name and value alone identify ours.
    cloudflare_api.add_record(
        "example.test", "TXT", "_acme-challenge.example.test", "other", "by hand"
    )
    for key, value in dehydrated.environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CF_API_TOKEN", TOKEN)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_BACKEND", "lexicon")
    triplets = ["example.test", "token-1", "value-1", "example.test", "t-2", "value-2"]

    assert hook.main(["deploy_challenge", *triplets]) == 0
    assert hook.main(["clean_challenge", *triplets]) == 0

    left = cloudflare_api.records(type="TXT")
    assert [r["content"] for r in left] == ["other"]
    assert " + Removing 2 TXT records of ours\n" in capsys.readouterr().out


@pytest.mark.e2e
def test_sigterm_while_waiting_removes_the_hooks_records(dehydrated, cloudflare_api):
    cloudflare_api.propagation_delay = 60
    hook_program = Path(sys.executable).with_name("certbot-dns-cloudflare-ext-hook")
    process = subprocess.Popen(
        [str(hook_program), "deploy_challenge", "example.test", "t-1", "value-1"],
        env=dehydrated.environment | {"CF_API_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not cloudflare_api.records(type="TXT") and time.monotonic() < deadline:
        time.sleep(0.1)

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)

    assert process.returncode == 130
    assert "certbot-dns-cloudflare-ext-hook: interrupted" in stderr
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.e2e
def test_failed_deploy_removes_its_records_and_fails_in_one_line(
    dehydrated, cloudflare_api, nameserver, capsys, monkeypatch
):
    for key, value in dehydrated.environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CF_API_TOKEN", TOKEN)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_PROPAGATION_TIMEOUT", "1")
    nameserver.inject_fault("refused", times=-1)

    assert hook.main(["deploy_challenge", "example.test", "token-1", "value-1"]) == 1

    assert re.fullmatch(
        r"certbot-dns-cloudflare-ext-hook: error: Cloudflare's nameservers did not "
        r"serve the TXT records within 1 s \(127\.0\.0\.1:\d+: "
        r"_acme-challenge\.example\.test REFUSED\); raise "
        r"DNS_CLOUDFLARE_EXT_PROPAGATION_TIMEOUT\n",
        capsys.readouterr().err,
    )
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (["some_future_operation", "x"], ""),
        (["this_hookscript_is_broken__dehydrated_is_working_fine"], ""),
        (["generate_csr", "example.test", "/certs", "alt"], ""),
        (
            ["request_failure", "400", "Bad nonce\n", "newOrder", "headers"],
            "certbot-dns-cloudflare-ext-hook: the CA answered HTTP 400 to newOrder: "
            "Bad nonce\n",
        ),
        (
            [
                "invalid_challenge",
                "example.test",
                '{"status": "invalid", "error": {"detail": "No TXT record found"}}',
            ],
            "certbot-dns-cloudflare-ext-hook: the CA rejected the DNS-01 challenge for "
            "example.test: No TXT record found; check that the zone is active at "
            "Cloudflare and no other DNS provider serves the name\n",
        ),
        (
            [
                "invalid_challenge",
                "*.example.test",
                '["status"]\t"invalid"\n["error","detail"]\t"Incorrect TXT record '
                '\\"abc\\" found"\n["error","status"]\t403',
            ],
            "certbot-dns-cloudflare-ext-hook: the CA rejected the DNS-01 challenge for "
            '*.example.test: Incorrect TXT record "abc" found; check that the zone is '
            "active at Cloudflare and no other DNS provider serves the name\n",
        ),
    ],
    ids=[
        "unknown",
        "dehydrated-probe",
        "generate-csr",
        "request-failure",
        "invalid-json",
        "invalid-jsonsh",
    ],
)
def test_other_operations_exit_0_with_at_most_one_line(args, stderr, capsys):
    assert hook.main(args) == 0

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == stderr


def test_deploy_challenge_without_triplets_is_a_usage_error(capsys):
    assert hook.main(["deploy_challenge", "example.test", "token"]) == 2

    assert re.fullmatch(
        r"certbot-dns-cloudflare-ext-hook: deploy_challenge takes DOMAIN "
        r"TOKEN_FILENAME TOKEN_VALUE, once per challenge, but got 2 arguments\n",
        capsys.readouterr().err,
    )


def test_missing_credentials_name_the_variables(capsys, monkeypatch):
    for key in os.environ:
        if _OURS.match(key):
            monkeypatch.delenv(key)

    assert hook.main(["deploy_challenge", "example.test", "t", "v"]) == 1

    assert capsys.readouterr().err == (
        "certbot-dns-cloudflare-ext-hook: error: environment: holds no Cloudflare "
        "credentials; set CF_API_TOKEN (or CF_EMAIL with CF_KEY, or "
        "CLOUDFLARE_API_TOKEN), or name a credentials ini in "
        "DNS_CLOUDFLARE_EXT_CREDENTIALS\n"
    )


def test_clean_challenge_without_cloudflare_warns_naming_the_variables(
    capsys, monkeypatch
):
    for key in os.environ:
        if _OURS.match(key):
            monkeypatch.delenv(key)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/client/v4"
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", closed)
    monkeypatch.setenv("CF_API_TOKEN", TOKEN)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_RETRIES", "0")

    assert hook.main(["clean_challenge", "example.test", "t", "v"]) == 0

    assert capsys.readouterr().err == (
        "certbot-dns-cloudflare-ext-hook: Could not look up the TXT records to remove "
        "(Cloudflare API failed to look up the zone for '_acme-challenge.example.test' "
        "(connection to 127.0.0.1 failed without an answer (ConnectError)); "
        "Cloudflare's API kept "
        "failing; try again later (status: https://www.cloudflarestatus.com), or "
        "raise DNS_CLOUDFLARE_EXT_RETRIES or DNS_CLOUDFLARE_EXT_API_TIMEOUT); remove "
        "them later with: certbot-dns-cloudflare-ext sweep --delete\n"
    )
