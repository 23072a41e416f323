"""Cloudflare's error codes, as the real SDK receives them, become one-line hints."""

from __future__ import annotations

import re

import pytest

from certbot_dns_cloudflare_ext._internal.credentials import Account
from certbot_dns_cloudflare_ext._internal.errors import CloudflareError
from certbot_dns_cloudflare_ext._internal.records import Zone
from certbot_dns_cloudflare_ext._internal.sdk import SdkBackend

TOKEN = "errorsToken-SECRET-0123456789abcdefghij"
KEY = "0123456789abcdef0123456789abcdef01234"


@pytest.fixture(autouse=True)
def base_url(cloudflare_api, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)


def backend(**account):
    return SdkBackend(Account(**account), "/etc/cf.ini", retries=0)


@pytest.mark.parametrize(
    "account, code, hint",
    [
        (
            {"api_token": "unknown" + TOKEN},
            9109,
            r"the API token in /etc/cf\.ini is not valid",
        ),
        (
            {"email": "admin@example.test", "api_key": "f" * 37},
            9103,
            r"the email or Global API Key in /etc/cf\.ini is wrong",
        ),
        (
            {"email": "admin@example.test", "api_key": "not-hex-" + TOKEN},
            6003,
            r"the credentials are malformed: a token is probably in the API key slot",
        ),
    ],
    ids=["invalid-token", "bad-global-key", "token-in-key-header"],
)
def test_authentication_failures_carry_their_hint(cloudflare_api, account, code, hint):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)

    with pytest.raises(CloudflareError) as caught:
        backend(**account).list_zones()

    line = str(caught.value)
    assert caught.value.code == code
    assert re.match(
        rf"^Cloudflare API failed to list the zones for '/etc/cf\.ini' "
        rf"\(error {code}: ",
        line,
    )
    assert re.search(hint, line)
    assert TOKEN not in line and "\n" not in line


def test_missing_dns_edit_names_the_permission(cloudflare_api):
    zone = cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN, permissions=["zone:read", "dns:read"])

    with pytest.raises(CloudflareError) as caught:
        backend(api_token=TOKEN).create_txt(
            Zone(zone.id, zone.name), "_acme-challenge.example.test", "v", 120
        )

    assert caught.value.code == 10000
    assert "give the token Zone:DNS:Edit" in str(caught.value)


def test_invalid_zone_id_is_explained(cloudflare_api):
    cloudflare_api.add_token(TOKEN)

    with pytest.raises(CloudflareError) as caught:
        backend(api_token=TOKEN).create_txt(
            Zone("0" * 32, "example.test"), "_acme-challenge.example.test", "v", 120
        )

    assert caught.value.code == 7003
    assert "the zone id is wrong; check the zone ids in /etc/cf.ini" in str(
        caught.value
    )


def test_cname_at_the_challenge_name_is_explained(cloudflare_api):
    zone = cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_record(
        "example.test", "CNAME", "_acme-challenge.example.test", "elsewhere.example.org"
    )

    with pytest.raises(CloudflareError) as caught:
        backend(api_token=TOKEN).create_txt(
            Zone(zone.id, zone.name), "_acme-challenge.example.test", "v", 120
        )

    assert caught.value.code == 81053
    assert "a CNAME, A or AAAA record already exists at this name" in str(caught.value)


def test_identical_record_is_success_not_failure(cloudflare_api):
    zone = cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    client = backend(api_token=TOKEN)
    target = Zone(zone.id, zone.name)

    first = client.create_txt(target, "_acme-challenge.example.test", "v", 120)
    second = client.create_txt(target, "_acme-challenge.example.test", "v", 120)

    assert first is not None and first.id
    assert second is None
    assert len(cloudflare_api.records(type="TXT")) == 1


def test_html_error_page_is_not_dumped(cloudflare_api):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.inject_fault("zone_list", "html", times=-1)

    with pytest.raises(CloudflareError) as caught:
        backend(api_token=TOKEN).list_zones()

    line = str(caught.value)
    assert "HTTP 502" in line and "not a Cloudflare API response" in line
    assert "<html" not in line.lower()
