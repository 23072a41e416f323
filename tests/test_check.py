"""``certbot-dns-cloudflare-ext check`` tells, per domain, whether issuing works."""

from __future__ import annotations

import os
import re
import socket

import pytest

from certbot_dns_cloudflare_ext._internal import cli

TOKEN = "checkToken-SECRET-0123456789abcdefghijkl"
WRONG_TOKEN = "wrongToken-SECRET-0123456789abcdefghijk"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"
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
        assert token not in captured.out + captured.err
        return code, captured.out + captured.err

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


def test_good_setup_passes_and_shows_both_permissions(run_check, cloudflare_api, zones):
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
        "yes",
        "_acme-challenge.example.test",
        "ok",
    ]
    assert cell(output, "www.delegated.test", "CHALLENGE RECORD") == (
        "www.delegated.test.validation.test (zone validation.test)"
    )
    assert cloudflare_api.records(type="TXT") == []


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
            r"Cloudflare API failed to delete the TXT record .*error 10000: "
            r"Authentication error\); the credentials in .* lack a permission",
        ),
        (
            ("zone:read", "dns:read"),
            ("--live",),
            "DNS:EDIT",
            r"Cloudflare API failed to delete the TXT record .*error 10000: "
            r"Authentication error\); the credentials in .* lack a permission",
        ),
        (
            ("dns:edit",),
            (),
            "ZONE:READ",
            r"Cloudflare API failed to look up the zone for "
            r"'_acme-challenge\.example\.test' .*; the token in .* cannot "
            r"list zones: give it Zone:Zone:Read, or pin the zone id",
        ),
    ],
    ids=["no-dns-permission", "dns-read-only", "no-zone-read"],
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


def closed_port_url() -> str:
    """Return an API URL on a loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/client/v4"


@pytest.mark.parametrize(
    "outage, answer",
    [
        (
            "connection-refused",
            r"connection to 127\.0\.0\.1 failed without an answer \(ConnectError\)",
        ),
        ("service-unavailable", r"error 10001: Service unavailable"),
    ],
    ids=["connection-refused", "service-unavailable"],
)
def test_unreachable_api_is_not_an_invalid_token(
    run_check, cloudflare_api, zones, monkeypatch, outage, answer
):
    cloudflare_api.add_token(TOKEN)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_RETRIES", "1")
    if outage == "connection-refused":
        monkeypatch.setenv("CLOUDFLARE_BASE_URL", closed_port_url())
    else:
        cloudflare_api.inject_fault("verify", "503", times=-1)

    code, output = run_check("example.test")

    assert code == 1
    assert cell(output, "example.test", "TOKEN") == "unreachable"
    assert cell(output, "example.test", "RESULT") == "FAIL"
    assert re.search(
        rf"^example\.test: FAIL: Cloudflare API failed to verify the API token for "
        rf"'{re.escape(SOURCE)}' \({answer}; gave up after 2 attempts\); Cloudflare's "
        r"API kept failing; try again later \(status: https://www\.cloudflarestatus"
        r"\.com\), or raise DNS_CLOUDFLARE_EXT_RETRIES or "
        r"DNS_CLOUDFLARE_EXT_API_TIMEOUT$",
        output,
        re.M,
    ), output
    assert "roll" not in output and "--dns-cloudflare-ext" not in output


def test_unresolvable_nameservers_fail_the_challenge_record(
    run_check, cloudflare_api, monkeypatch
):
    cloudflare_api.add_zone(
        "example.test", name_servers=("ns1.example.invalid", "ns2.example.invalid")
    )
    cloudflare_api.add_token(TOKEN)
    monkeypatch.delenv("DNS_CLOUDFLARE_EXT_NAMESERVERS")

    code, output = run_check("example.test")

    assert code == 1
    assert cell(output, "example.test", "CHALLENGE RECORD") == "nameservers unknown"
    assert cell(output, "example.test", "RESULT") == "FAIL"
    assert re.search(
        r"^example\.test: FAIL: Found no address of the nameservers of zone "
        r"'example\.test' \(ns1\.example\.invalid, ns2\.example\.invalid\); name "
        r"reachable ones with DNS_CLOUDFLARE_EXT_NAMESERVERS, or turn the check off "
        r"with DNS_CLOUDFLARE_EXT_NO_PROPAGATION_CHECK=1$",
        output,
        re.M,
    ), output


def test_cname_refused_without_following_names_the_variable_to_drop(
    run_check, cloudflare_api, zones, monkeypatch
):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_record(
        "example.test", "CNAME", "_acme-challenge.example.test", "elsewhere.test"
    )
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_NO_FOLLOW_CNAMES", "1")

    code, output = run_check("--live", "example.test")

    assert code == 1
    assert cell(output, "example.test", "DNS:EDIT") == "no"
    assert re.search(
        r"^example\.test: FAIL: Cloudflare API failed to create the TXT record for "
        r"'_acme-challenge\.example\.test' \(error 81053: [^)]*\); a CNAME, A or "
        r"AAAA record already exists at this name; remove it, or if it is a CNAME let "
        r"the plugin follow it \(drop DNS_CLOUDFLARE_EXT_NO_FOLLOW_CNAMES=1\)$",
        output,
        re.M,
    ), output


def test_global_key_given_as_token_stops_before_any_api_call(
    run_check, cloudflare_api, zones
):
    code, output = run_check("example.test", token=GLOBAL_KEY)

    assert code == 1
    assert output == (
        "certbot-dns-cloudflare-ext: error: environment (CF_API_TOKEN): CF_API_TOKEN: "
        "looks like a Global API Key (37 hex digits), not an API token; move it to "
        "CF_KEY with CF_EMAIL, or create an API token at "
        "https://dash.cloudflare.com/profile/api-tokens\n"
    )
    assert cloudflare_api.calls == []


def test_wrong_pinned_zone_id_is_blamed_on_the_zone(
    run_check, cloudflare_api, zones, monkeypatch
):
    cloudflare_api.add_token(TOKEN, permissions=["dns:edit"])
    monkeypatch.setenv("CLOUDFLARE_ZONE_ID", "example.test:" + "0" * 32)

    code, output = run_check("example.test")

    assert code == 1
    assert cell(output, "example.test", "ZONE") == "wrong zone id"
    assert cell(output, "example.test", "DNS:EDIT") == "-"
    assert re.search(r"^example\.test: FAIL: .*error 7003", output, re.M)
