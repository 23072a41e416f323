"""The real certbot binary issues and renews through the plugin, against pebble."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.e2e

TOKEN = "e2eToken-SECRET-0123456789abcdefghijklmn"
WRONG_TOKEN = "wrongToken-SECRET-0123456789abcdefghijk"

#: --dns-cloudflare-ext-backend values, and the library the log then names.
BACKENDS = {"sdk": "the cloudflare SDK", "lexicon": "dns-lexicon"}
on_both_backends = pytest.mark.parametrize("certbot", BACKENDS, indirect=True)


@pytest.fixture
def certbot(certbot, request):
    """Let a test choose the backend; unparametrized tests leave it to auto."""
    certbot.backend = getattr(request, "param", None)
    return certbot


def issue(certbot, nameserver, credentials, *names, extra=()):
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    if certbot.backend:
        args += ["--dns-cloudflare-ext-backend", certbot.backend]
    for name in names:
        args += ["-d", name]
    return certbot.run("certonly", *args, *extra)


@pytest.fixture
def account(cloudflare_api, credentials_file):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    return credentials_file(dns_cloudflare_ext_api_token=TOKEN)


@on_both_backends
def test_apex_and_wildcard_certificate_is_issued(
    certbot, nameserver, account, cloudflare_api
):
    result = issue(certbot, nameserver, account, "example.test", "*.example.test")

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("example.test") == [
        "*.example.test",
        "example.test",
    ]
    assert cloudflare_api.records(type="TXT") == []
    assert TOKEN not in certbot.log_text() + result.stdout + result.stderr
    assert f"through {BACKENDS[certbot.backend]}" in certbot.log_text()


@on_both_backends
def test_renewal_reuses_the_saved_options(certbot, nameserver, account, cloudflare_api):
    first = issue(certbot, nameserver, account, "example.test")
    assert first.returncode == 0, first.stderr
    serial = certbot.certificate("example.test").serial_number
    conf = certbot.renewal_conf("example.test")
    assert "authenticator = dns-cloudflare-ext" in conf
    assert f"dns_cloudflare_ext_credentials = {account}" in conf
    assert TOKEN not in conf
    assert f"dns_cloudflare_ext_backend = {certbot.backend}" in conf
    cloudflare_api.reset_calls()

    renewed = certbot.run("renew", "--force-renewal")

    assert renewed.returncode == 0, renewed.stderr
    assert certbot.certificate("example.test").serial_number != serial
    assert any(call.method == "POST" for call in cloudflare_api.calls)
    assert cloudflare_api.records(type="TXT") == []


@on_both_backends
def test_relative_credentials_path_is_saved_absolute_for_renewal(
    certbot, nameserver, account, cloudflare_api
):
    relative = os.path.relpath(account, certbot.root)

    result = issue(certbot, nameserver, relative, "example.test")

    assert result.returncode == 0, result.stderr
    conf = certbot.renewal_conf("example.test").splitlines()
    assert f"dns_cloudflare_ext_credentials = {account}" in conf


def test_wrong_token_fails_with_the_hint_and_leaves_nothing(
    certbot, nameserver, cloudflare_api, credentials_file
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    wrong = credentials_file(dns_cloudflare_ext_api_token=WRONG_TOKEN)

    result = issue(certbot, nameserver, wrong, "example.test")

    assert result.returncode != 0
    assert (
        f"the API token in {wrong} is not valid; copy it whole, or roll a new one"
        in result.stderr
    )
    assert "error 9109" in result.stderr
    assert "Traceback" not in result.stderr
    assert cloudflare_api.records(type="TXT") == []
    assert WRONG_TOKEN not in certbot.log_text() + result.stdout + result.stderr


@on_both_backends
def test_token_for_another_zone_names_the_zones_tried(
    certbot, nameserver, cloudflare_api, credentials_file
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_zone("other.test")
    cloudflare_api.add_token(TOKEN, zones=["other.test"])
    creds = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    result = issue(certbot, nameserver, creds, "www.example.test")

    assert result.returncode != 0
    assert (
        "No Cloudflare zone for '_acme-challenge.www.example.test' is visible to the "
        f"credentials in {creds} (tried www.example.test, example.test, test)"
    ) in result.stderr
    assert cloudflare_api.records(type="TXT") == []


@on_both_backends
def test_failed_validation_still_removes_the_records(
    certbot, nameserver, account, cloudflare_api
):
    # The CA asks the nameserver, which refuses: validation fails, and with the
    # check off the plugin cannot have seen that coming.
    nameserver.inject_fault("refused", times=-1)

    result = issue(
        certbot,
        nameserver,
        account,
        "example.test",
        extra=[
            "--dns-cloudflare-ext-no-propagation-check",
            "--dns-cloudflare-ext-propagation-seconds",
            "0",
        ],
    )

    assert result.returncode != 0
    assert (
        "The Certificate Authority could not see the TXT records this plugin wrote, "
        "and the propagation check was off: turn it back on (drop "
        "--dns-cloudflare-ext-no-propagation-check), or raise "
        "--dns-cloudflare-ext-propagation-seconds."
    ) in " ".join(result.stdout.split() + result.stderr.split())
    assert cloudflare_api.records(type="TXT") == []
    assert any(call.method == "DELETE" for call in cloudflare_api.calls)
