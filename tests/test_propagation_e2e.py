"""Certbot waits exactly as long as the nameservers need, and fails clearly past it."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

TOKEN = "propToken-SECRET-0123456789abcdefghijklmn"
NAME = "_acme-challenge.example.test"


def issue(certbot, nameserver, credentials, extra=()):
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    return certbot.run("certonly", *args, "-d", "example.test", *extra)


@pytest.fixture
def account(cloudflare_api, credentials_file):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    return credentials_file(dns_cloudflare_ext_api_token=TOKEN)


@pytest.mark.parametrize("delay", [0, 3, 15, 60])
def test_default_options_wait_out_a_propagation_delay(
    certbot, nameserver, account, cloudflare_api, delay
):
    cloudflare_api.configure(propagation_delay=delay)

    result = issue(certbot, nameserver, account)

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("example.test") == ["example.test"]
    assert cloudflare_api.records(type="TXT") == []
    waiting = "Waiting for 1 TXT record on 1 Cloudflare nameserver (0 s of 120 s)"
    assert (waiting in result.stdout) == (delay > 0), result.stdout

    # Done within one interval (2 s) of the moment the record is served.
    served = re.search(
        r"All TXT records are served after ([\d.]+) s", certbot.log_text()
    )
    assert served is not None
    assert delay - 0.5 <= float(served[1]) <= delay + 2.5


def test_delay_past_the_timeout_fails_with_each_nameserver_answer(
    certbot, nameserver, account, cloudflare_api
):
    cloudflare_api.configure(propagation_delay=30)

    result = issue(
        certbot, nameserver, account, ["--dns-cloudflare-ext-propagation-timeout", "3"]
    )

    assert result.returncode == 1
    assert re.search(
        r"^Cloudflare's nameservers did not serve the TXT records within 3 s "
        rf"\(127\.0\.0\.1:{nameserver.port}: {NAME} NXDOMAIN\); "
        r"raise --dns-cloudflare-ext-propagation-timeout$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert "Waiting for 1 TXT record on 1 Cloudflare nameserver (0 s of 3 s)" in (
        result.stdout
    )
    assert cloudflare_api.records(type="TXT") == []
    assert [call.method for call in cloudflare_api.calls].count("DELETE") == 1


def test_nameservers_without_an_address_fail_before_any_wait(
    certbot, account, cloudflare_api
):
    # No --dns-cloudflare-ext-nameservers: the zone's own NS hostnames, which
    # resolve nowhere (.test is reserved), are all there is to ask.
    result = certbot.run(
        "certonly",
        "--authenticator",
        "dns-cloudflare-ext",
        "--dns-cloudflare-ext-credentials",
        str(account),
        "-d",
        "example.test",
    )

    assert result.returncode == 1
    assert (
        "Found no address of the nameservers of zone 'example.test' "
        "(ada.ns.cloudflare.test, bob.ns.cloudflare.test); name reachable ones with "
        "--dns-cloudflare-ext-nameservers, or turn the check off with "
        "--dns-cloudflare-ext-no-propagation-check"
    ) in result.stderr.splitlines(), result.stderr
    assert "Traceback" not in result.stderr
    assert "Waiting for" not in result.stdout
    assert cloudflare_api.records(type="TXT") == []


def test_given_nameservers_without_an_address_are_named(
    certbot, account, cloudflare_api
):
    result = certbot.run(
        "certonly",
        "--authenticator",
        "dns-cloudflare-ext",
        "--dns-cloudflare-ext-credentials",
        str(account),
        "--dns-cloudflare-ext-nameservers",
        "ns.invalid",
        "-d",
        "example.test",
    )

    assert result.returncode == 1
    assert (
        "Found no address of the nameservers given (ns.invalid); give "
        "--dns-cloudflare-ext-nameservers as IP addresses or names that resolve here"
    ) in result.stderr.splitlines(), result.stderr
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.parametrize(
    ("options", "line", "checked"),
    [
        (
            ("--dns-cloudflare-ext-propagation-seconds", "1"),
            "Waiting 1 second more (--dns-cloudflare-ext-propagation-seconds)",
            True,
        ),
        (
            ("--dns-cloudflare-ext-no-propagation-check",),
            "Waiting 10 seconds for the TXT records to propagate, unchecked "
            "(--dns-cloudflare-ext-no-propagation-check)",
            False,
        ),
    ],
    ids=["extra-wait-after-the-check", "plain-sleep-without-the-check"],
)
def test_fixed_wait_is_announced_and_kept(
    certbot, nameserver, account, cloudflare_api, options, line, checked
):
    cloudflare_api.configure(propagation_delay=0.5)

    result = issue(certbot, nameserver, account, extra=options)

    assert result.returncode == 0, result.stderr
    assert line in result.stdout.splitlines(), result.stdout
    assert ("All TXT records are served" in certbot.log_text()) == checked
    assert cloudflare_api.records(type="TXT") == []
