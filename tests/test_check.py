"""``certbot-dns-cloudflare-ext check`` tells, per domain, whether issuing works."""

from __future__ import annotations

import os
import re

import pytest

from certbot_dns_cloudflare_ext._internal import cli

TOKEN = "checkToken-SECRET-0123456789abcdefghijkl"
WRONG_TOKEN = "wrongToken-SECRET-0123456789abcdefghijk"
SOURCE = "environment (CF_API_TOKEN)"


@pytest.fixture
def run_check(cloudflare_api, nameserver, monkeypatch, capsys):
    """Run the check command in this process with the given token; return its output."""
    for key in os.environ:
        if re.match(r"(CF|CLOUDFLARE|DNS_CLOUDFLARE_EXT)_", key):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_NAMESERVERS", f"127.0.0.1:{nameserver.port}")
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_PROPAGATION_INTERVAL", "0.2")

    def run(*args: str, token: str = TOKEN) -> tuple[int, str]:
        monkeypatch.setenv("CF_API_TOKEN", token)
        code = cli.main(["check", *args])
        captured = capsys.readouterr()
        assert TOKEN not in captured.out + captured.err
        return code, captured.out

    return run


def row(output: str, domain: str) -> list[str]:
    """Return the cells of the table row for ``domain``, split at column gaps."""
    line = next(line for line in output.splitlines() if line.startswith(domain + " "))
    return re.split(r"  +", line)


def header(output: str) -> list[str]:
    return re.split(r"  +", output.splitlines()[0])


def cell(output: str, domain: str, column: str) -> str:
    return dict(zip(header(output), row(output, domain), strict=True))[column]


@pytest.fixture
def zones(cloudflare_api):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_zone("delegated.test")
    cloudflare_api.add_zone("validation.test")
    cloudflare_api.add_record(
        "delegated.test",
        "CNAME",
        "_acme-challenge.www.delegated.test",
        "www.delegated.test.validation.test",
    )


def test_good_setup_passes_but_says_dns_edit_is_not_proven(
    run_check, cloudflare_api, zones
):
    cloudflare_api.add_token(TOKEN)

    code, output = run_check("example.test", "www.delegated.test")

    assert code == 0
    assert header(output) == [
        "DOMAIN",
        "CREDENTIALS",
        "TOKEN",
        "ZONE",
        "ZONE:READ",
        "DNS:EDIT",
        "CHALLENGE RECORD",
        "RESULT",
    ]
    assert row(output, "example.test") == [
        "example.test",
        f"API token from {SOURCE}",
        "active",
        "example.test (active)",
        "yes",
        "not proven",
        "_acme-challenge.example.test",
        "ok",
    ]
    assert cell(output, "www.delegated.test", "CHALLENGE RECORD") == (
        "www.delegated.test.validation.test (zone validation.test)"
    )
    assert re.search(
        r"^DNS:EDIT 'not proven': .* --live writes and deletes", output, re.M
    )


def test_live_check_writes_times_and_removes_a_record(run_check, cloudflare_api, zones):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.configure(propagation_delay=0.6)

    code, output = run_check("--live", "example.test", "*.delegated.test")

    assert code == 0
    for domain in ("example.test", "*.delegated.test"):
        assert cell(output, domain, "DNS:EDIT") == "yes"
        served = cell(output, domain, "SERVED AFTER")
        assert re.fullmatch(r"\d+\.\d s", served)
        assert 0.6 <= float(served.split()[0]) < 5
    assert cloudflare_api.records(type="TXT") == []


def test_wrong_token_fails_with_the_hint(run_check, cloudflare_api, zones):
    cloudflare_api.add_token(TOKEN)

    code, output = run_check("example.test", token=WRONG_TOKEN)

    assert code == 1
    assert cell(output, "example.test", "TOKEN") == "invalid"
    assert cell(output, "example.test", "RESULT") == "FAIL"
    assert re.search(
        rf"^example\.test: FAIL: Cloudflare API failed to verify the API token .*"
        rf"the API token in {re.escape(SOURCE)} is not valid; copy it whole",
        output,
        re.M,
    )
    assert WRONG_TOKEN not in output


@pytest.mark.parametrize(
    ("permissions", "args", "column", "problem"),
    [
        (
            ("zone:read",),
            (),
            "DNS:EDIT",
            r"Cloudflare API failed to list TXT records .*error 10000: "
            r"Authentication error\); the credentials in .* lack a permission",
        ),
        (
            ("zone:read", "dns:read"),
            ("--live",),
            "DNS:EDIT",
            r"Cloudflare API failed to create the TXT record .*error 10000",
        ),
        (
            ("dns:edit",),
            (),
            "ZONE:READ",
            r"Cloudflare API failed to look up the zone .*; the token in .* cannot "
            r"list zones: give it Zone:Zone:Read, or pin the zone id",
        ),
    ],
    ids=["no-dns-permission", "dns-read-only-live", "no-zone-read"],
)
def test_missing_permission_fails_in_its_column(
    run_check, cloudflare_api, zones, permissions, args, column, problem
):
    cloudflare_api.add_token(TOKEN, permissions=permissions)

    code, output = run_check(*args, "example.test")

    assert code == 1
    assert cell(output, "example.test", column) == "no"
    assert cell(output, "example.test", "RESULT") == "FAIL"
    assert re.search(rf"^example\.test: FAIL: {problem}", output, re.M)
    assert cloudflare_api.records(type="TXT") == []


def test_pending_zone_is_a_warning_and_fails_the_exit_code(run_check, cloudflare_api):
    cloudflare_api.add_zone("example.test", status="pending")
    cloudflare_api.add_token(TOKEN)

    code, output = run_check("example.test")

    assert code == 1
    assert cell(output, "example.test", "ZONE") == "example.test (pending)"
    assert cell(output, "example.test", "RESULT") == "warning"
    assert re.search(
        r"^example\.test: warning: zone example\.test is pending: the registrar does "
        r"not list Cloudflare's nameservers yet",
        output,
        re.M,
    )


def test_one_failing_domain_does_not_hide_the_others(run_check, cloudflare_api, zones):
    cloudflare_api.add_token(TOKEN)

    code, output = run_check("example.test", "example.invalid")

    assert code == 1
    assert cell(output, "example.test", "RESULT") == "ok"
    assert cell(output, "example.invalid", "ZONE") == "not found"
    assert re.search(
        r"^example\.invalid: FAIL: No Cloudflare zone for "
        r"'_acme-challenge\.example\.invalid' is visible",
        output,
        re.M,
    )
