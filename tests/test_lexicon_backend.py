"""Both backends, SDK and dns-lexicon, behave alike against the stand-in API."""

from __future__ import annotations

import re

import pytest

from certbot_dns_cloudflare_ext._internal import lexicon_backend
from certbot_dns_cloudflare_ext._internal.credentials import Account
from certbot_dns_cloudflare_ext._internal.errors import CloudflareError
from certbot_dns_cloudflare_ext._internal.lexicon_backend import LexiconBackend
from certbot_dns_cloudflare_ext._internal.records import Zone
from certbot_dns_cloudflare_ext._internal.sdk import SdkBackend

TOKEN = "lexiconToken-SECRET-0123456789abcdefgh"
ZONE_TOKEN = "zoneToken-SECRET-0123456789abcdefghijk"
EMAIL = "admin@example.test"
KEY = "0123456789abcdef0123456789abcdef01234"
SOURCE = "/etc/cf.ini"
NAME = "_acme-challenge.example.test"


@pytest.fixture(params=["sdk", "lexicon"])
def backend(request, cloudflare_api, monkeypatch):
    """Return a factory for the backend under test, aimed at the stand-in."""
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    kind = SdkBackend if request.param == "sdk" else LexiconBackend
    pauses = []

    def make(retries=0, timeout=30.0, **account):
        created = kind(
            Account(**(account or {"api_token": TOKEN})),
            SOURCE,
            retries=retries,
            timeout=timeout,
            sleep=pauses.append,
        )
        created.pauses = pauses
        return created

    return make


@pytest.fixture
def zone(cloudflare_api):
    found = cloudflare_api.add_zone("example.test")
    return Zone(found.id, found.name)


ERRORS = {
    "invalid-token": (
        {"api_token": "unknown" + TOKEN},
        "list_zones",
        r"list the zones for '/etc/cf\.ini' \(error 9109: Invalid access token\); "
        r"the API token in /etc/cf\.ini is not valid",
    ),
    "bad-global-key": (
        {"email": EMAIL, "api_key": "f" * 37},
        "list_zones",
        r"list the zones for '/etc/cf\.ini' \(error 9103: .*\); "
        r"the email or Global API Key in /etc/cf\.ini is wrong",
    ),
    "no-dns-edit": (
        {"api_token": "readonly" + TOKEN},
        "create_txt",
        rf"create the TXT record for '{NAME}' \(error 10000: Authentication error\); "
        r"the credentials in /etc/cf\.ini lack a permission: give the token "
        r"Zone:DNS:Edit on this zone$",
    ),
    "cname-conflict": (
        {"api_token": TOKEN},
        "create_cname_conflict",
        rf"create the TXT record for '{NAME}' \(error 81053: .*\); "
        r"a CNAME, A or AAAA record already exists at this name",
    ),
    "wrong-zone-id": (
        {"api_token": TOKEN},
        "create_in_unknown_zone",
        rf"create the TXT record for '{NAME}' \(error 7003: .*\); "
        r"the zone id is wrong; check the zone ids in /etc/cf\.ini against the "
        r"zone's Overview page$",
    ),
}


@pytest.mark.parametrize("account, call, line", ERRORS.values(), ids=ERRORS)
def test_errors_read_the_same_on_both_backends(
    backend, cloudflare_api, zone, account, call, line
):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_token("readonly" + TOKEN, permissions=["zone:read", "dns:read"])
    cloudflare_api.add_global_key(EMAIL, KEY)
    cloudflare_api.add_record("example.test", "CNAME", NAME, "elsewhere.example.org")
    client = backend(**account)
    target = Zone("0" * 32, zone.name) if call == "create_in_unknown_zone" else zone

    with pytest.raises(CloudflareError) as caught:
        if call == "list_zones":
            client.list_zones()
        else:
            client.create_txt(target, NAME, "v", 120)

    assert re.match(rf"^Cloudflare API failed to {line}", str(caught.value))
    assert TOKEN not in str(caught.value) and KEY not in str(caught.value)


def test_cleanup_by_id_removes_ours_and_keeps_a_neighbour(
    backend, cloudflare_api, zone
):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_record("example.test", "TXT", NAME, "someone-else")
    client = backend()

    ours = client.create_txt(zone, NAME, "ours", 120)
    client.delete_record(zone, ours.id)
    client.delete_record(zone, ours.id)

    assert [r["content"] for r in cloudflare_api.records(type="TXT")] == [
        "someone-else"
    ]


def test_pinned_zone_id_works_without_zone_read(backend, cloudflare_api, zone):
    cloudflare_api.add_token(TOKEN, permissions=["dns:read", "dns:edit"])
    client = backend()

    created = client.create_txt(zone, NAME, "pinned", 120)
    client.delete_record(zone, created.id)

    assert created.name == NAME and created.content == "pinned"
    assert {call.step for call in cloudflare_api.calls} <= {
        "create",
        "records_list",
        "delete",
    }
    assert cloudflare_api.records(type="TXT") == []


def test_zones_come_page_by_page(backend, cloudflare_api):
    for i in range(60):
        cloudflare_api.add_zone(f"zone{i:02}.test")
    cloudflare_api.add_token(TOKEN)
    client = backend()

    first, first_is_last = client.list_zones()
    second, second_is_last = client.list_zones(page=2)

    assert (len(first), first_is_last) == (50, False)
    assert (len(second), second_is_last) == (10, True)
    listed = sorted(zone.name for zone in first + second)
    assert listed == [f"zone{i:02}.test" for i in range(60)]


def test_split_tokens_look_up_zones_with_the_zone_token(backend, cloudflare_api):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN, permissions=["dns:read", "dns:edit"])
    cloudflare_api.add_token(ZONE_TOKEN, permissions=["zone:read"])
    client = backend(api_token=TOKEN, zone_api_token=ZONE_TOKEN)

    (found,), complete = client.list_zones("example.test")
    client.create_txt(found, NAME, "split", 120)

    assert complete and found.name == "example.test"
    assert found.name_servers == ("ada.ns.cloudflare.test", "bob.ns.cloudflare.test")
    by_step = {call.step: call.credential for call in cloudflare_api.calls}
    assert by_step["zone_list"] == "token:zone"
    assert by_step["create"] == "token:lexi"


def test_global_api_key_creates_records(backend, cloudflare_api, zone):
    cloudflare_api.add_global_key(EMAIL, KEY)

    created = backend(email=EMAIL, api_key=KEY).create_txt(zone, NAME, "key", 120)

    assert created is not None and created.content == "key"
    assert {call.credential for call in cloudflare_api.calls} == {f"key:{EMAIL}"}


def test_rate_limit_is_retried_after_the_time_cloudflare_asks(
    backend, cloudflare_api, zone
):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.inject_fault("create", "429")
    client = backend(retries=2)

    created = client.create_txt(zone, NAME, "patient", 120)

    assert created is not None and created.content == "patient"
    assert len(client.pauses) == 1 and 1.0 <= client.pauses[0] <= 1.25
    assert len(cloudflare_api.records(type="TXT")) == 1


def test_create_whose_answer_was_lost_leaves_one_record(backend, cloudflare_api, zone):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.inject_fault("create", "drop_after")
    client = backend(retries=2)

    client.create_txt(zone, NAME, "once", 120)

    assert [r["content"] for r in cloudflare_api.records(type="TXT")] == ["once"]


def test_unanswered_call_gives_up_after_the_api_timeout(backend, cloudflare_api):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.configure(slow_seconds=1.0)
    cloudflare_api.inject_fault("zone_list", "slow")

    with pytest.raises(CloudflareError) as caught:
        backend(timeout=0.3).list_zones()

    assert re.match(
        r"^Cloudflare API failed to list the zones for '/etc/cf\.ini' "
        r"\(no answer within 0\.3 s\); Cloudflare's API kept failing; try again later",
        str(caught.value),
    )


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({}, "https://api.cloudflare.com/client/v4"),
        (
            {"CLOUDFLARE_BASE_URL": "http://127.0.0.1:8080/client/v4/"},
            "http://127.0.0.1:8080/client/v4",
        ),
    ],
    ids=["cloudflare", "from-environment"],
)
def test_lexicon_talks_to_the_url_the_sdk_would(monkeypatch, environment, expected):
    monkeypatch.delenv("CLOUDFLARE_BASE_URL", raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)

    url = lexicon_backend.base_url()

    assert url == expected
