"""Zone lookup against the stand-in API: longest suffix, few calls, clear failures."""

from __future__ import annotations

import re

import pytest

from certbot_dns_cloudflare_ext._internal.credentials import Account
from certbot_dns_cloudflare_ext._internal.errors import CloudflareError, ZoneNotFound
from certbot_dns_cloudflare_ext._internal.sdk import SdkBackend
from certbot_dns_cloudflare_ext._internal.zones import ZoneFinder

TOKEN = "zonesToken-SECRET-0123456789abcdefghijk"


@pytest.fixture
def backend(cloudflare_api, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    return SdkBackend(Account(api_token=TOKEN), "cloudflare.ini", retries=0)


def zone_calls(api):
    return [call for call in api.calls if call.path.endswith("/zones")]


@pytest.mark.parametrize(
    "name",
    [
        "_acme-challenge.www.example.co.uk",
        "_ACME-Challenge.WWW.Example.CO.UK.",
        "_acme-challenge.a.b.c.d.example.co.uk",
    ],
)
def test_name_finds_its_zone_case_and_dot_insensitive(cloudflare_api, backend, name):
    zone = cloudflare_api.add_zone("example.co.uk")
    cloudflare_api.add_token(TOKEN)

    found = ZoneFinder(backend).find(name)

    assert (found.id, found.name) == (zone.id, "example.co.uk")


def test_longest_zone_wins_for_a_delegated_sub_zone(cloudflare_api, backend):
    cloudflare_api.add_zone("example.test")
    sub = cloudflare_api.add_zone("dev.example.test")
    cloudflare_api.add_token(TOKEN)

    found = ZoneFinder(backend).find("_acme-challenge.api.dev.example.test")

    assert found.id == sub.id


def test_unicode_zone_reported_by_the_api_still_matches(cloudflare_api, backend):
    zone = cloudflare_api.add_zone("bücher.test", unicode_names=True)
    cloudflare_api.add_token(TOKEN)

    found = ZoneFinder(backend).find("_acme-challenge.xn--bcher-kva.test")

    assert (found.id, found.name) == (zone.id, "xn--bcher-kva.test")


def test_many_names_cost_one_listing(cloudflare_api, backend):
    for name in ("example.test", "example.org.test", "other.test"):
        cloudflare_api.add_zone(name)
    cloudflare_api.add_token(TOKEN)
    finder = ZoneFinder(backend)

    for i in range(30):
        finder.find(f"_acme-challenge.host{i}.example.test")
    finder.find("_acme-challenge.other.test")

    assert len(zone_calls(cloudflare_api)) == 1


def test_account_of_a_few_pages_is_listed_once_for_all_names(cloudflare_api, backend):
    for i in range(120):
        cloudflare_api.add_zone(f"zone{i:03}.test")
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    finder = ZoneFinder(backend)

    found = {
        finder.find(f"_acme-challenge.host{i}.example.test").name for i in range(20)
    }

    assert found == {"example.test"}
    assert [call.query.get("page") for call in zone_calls(cloudflare_api)] == [
        "1",
        "2",
        "3",
    ]


def test_account_past_the_listing_limit_is_asked_name_by_name(cloudflare_api, backend):
    for i in range(260):
        cloudflare_api.add_zone(f"zone{i:03}.test")
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)

    found = ZoneFinder(backend).find("_acme-challenge.www.example.test")

    assert found.name == "example.test"
    names = [call.query.get("name") for call in zone_calls(cloudflare_api)]
    assert names == [None] * 5 + ["www.example.test", "example.test"]


def test_scoped_token_falls_back_to_guesses_past_refusals(cloudflare_api, backend):
    cloudflare_api.add_zone("example.test")
    zone = cloudflare_api.add_zone("b.example.test")
    cloudflare_api.add_token(TOKEN, zones=["b.example.test"], permissions=["dns:edit"])
    cloudflare_api.add_token("other" + TOKEN, zones=None)

    # Without Zone:Read the listing is refused; per-name guesses are refused
    # too, so the error names the missing permission.
    with pytest.raises(CloudflareError) as caught:
        ZoneFinder(backend).find("_acme-challenge.a.b.example.test")

    assert caught.value.code == 0
    assert re.search(
        r"cannot list zones: give it Zone:Zone:Read, or pin", str(caught.value)
    )
    assert zone.id not in str(caught.value)


def test_pinned_zone_needs_no_call(cloudflare_api, backend):
    zone = cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN, permissions=["dns:edit"])

    found = ZoneFinder(backend, {"example.test": zone.id}).find(
        "_acme-challenge.example.test"
    )

    assert found.id == zone.id
    assert cloudflare_api.calls == []


def test_zone_outside_the_account_lists_the_guesses(cloudflare_api, backend):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)

    with pytest.raises(ZoneNotFound) as caught:
        ZoneFinder(backend).find("_acme-challenge.www.example.org")

    assert str(caught.value) == (
        "No Cloudflare zone for '_acme-challenge.www.example.org' is visible to the "
        "credentials in cloudflare.ini (tried www.example.org, example.org, org); "
        "add the domain to this Cloudflare account, or give the token access to "
        "its zone"
    )


@pytest.mark.parametrize(
    "permissions, fault, answer",
    [
        (["zone:read", "dns:edit"], "503", r"error 10001: Service unavailable"),
        (["dns:edit"], None, r"error 0: .*\); the token in cloudflare\.ini cannot"),
    ],
    ids=["listing-fails", "guesses-refused"],
)
def test_lookup_failure_names_the_name_asked_about(
    cloudflare_api, monkeypatch, caplog, permissions, fault, answer
):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN, permissions=permissions)
    if fault:
        cloudflare_api.inject_fault("zone_list", fault, times=-1)
    backend = SdkBackend(
        Account(api_token=TOKEN), "cloudflare.ini", retries=1, sleep=lambda _: None
    )

    with caplog.at_level("INFO"), pytest.raises(CloudflareError) as caught:
        ZoneFinder(backend).find("_acme-challenge.www.example.test")

    assert re.match(
        rf"^Cloudflare API failed to look up the zone for "
        rf"'_acme-challenge\.www\.example\.test' \({answer}",
        str(caught.value),
    ), caught.value
    assert "all zones" not in caplog.text
    if fault:
        assert any(
            re.match(
                r"^Cloudflare API failed to list the zones for 'cloudflare\.ini' "
                r"\(error 10001: Service unavailable\); retry 1 of 1",
                message,
            )
            for message in caplog.messages
        ), caplog.messages
