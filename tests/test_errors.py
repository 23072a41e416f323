"""Cloudflare's error codes, as both backends receive them, become one-line hints."""

from __future__ import annotations

import re

import pytest

from certbot_dns_cloudflare_ext._internal.credentials import Account
from certbot_dns_cloudflare_ext._internal.errors import (
    CREATE_RECORD,
    LOOK_UP_ZONE,
    CloudflareError,
    cloudflare_error,
    read_api_error,
)
from certbot_dns_cloudflare_ext._internal.lexicon_backend import LexiconBackend
from certbot_dns_cloudflare_ext._internal.records import Record, Zone
from certbot_dns_cloudflare_ext._internal.sdk import SdkBackend

TOKEN = "errorsToken-SECRET-0123456789abcdefghij"
ZONE_TOKEN = "zoneToken-SECRET-0123456789abcdefghijk"
EMAIL = "admin@example.test"
KEY = "0123456789abcdef0123456789abcdef01234"
NAME = "_acme-challenge.example.test"
NAME_RE = re.escape(NAME)
FAILED = r"^Cloudflare API failed to "
NOT_VALID = (
    r"is not valid; copy it whole, or roll a new one at "
    r"https://dash\.cloudflare\.com/profile/api-tokens$"
)
MALFORMED = (
    r"the credentials are malformed: a token is probably in the API key slot, or "
    r"the value has stray quotes or whitespace; copy it again into /etc/cf\.ini$"
)
CANNOT_LIST = (
    r"cannot list zones: give it Zone:Zone:Read, or pin the zone id with "
    r"dns_cloudflare_ext_zone_id$"
)


@pytest.fixture(params=["sdk", "lexicon"])
def backend(request, cloudflare_api, monkeypatch):
    """Return a factory for the backend under test, aimed at the stand-in."""
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    kind = SdkBackend if request.param == "sdk" else LexiconBackend

    def make(**account):
        return kind(Account(**account), "/etc/cf.ini", retries=0)

    return make


@pytest.fixture
def zone(cloudflare_api):
    found = cloudflare_api.add_zone("example.test")
    return Zone(found.id, found.name)


def failure(call, *args) -> str:
    """Return the one line a failed call shows, checked free of secrets."""
    with pytest.raises(CloudflareError) as caught:
        call(*args)
    line = str(caught.value)
    assert "\n" not in line
    assert not any(secret in line for secret in (TOKEN, ZONE_TOKEN, KEY))
    return line


AUTHENTICATION = {
    "invalid-token": (
        {"api_token": "unknown" + TOKEN},
        r"\(error 9109: Invalid access token\); the API token in /etc/cf\.ini "
        + NOT_VALID,
    ),
    "bad-global-key": (
        {"email": EMAIL, "api_key": "f" * 37},
        r"\(error 9103: Unknown X-Auth-Key or X-Auth-Email\); the email or Global "
        r"API Key in /etc/cf\.ini is wrong; check both, or switch to an API token$",
    ),
    "token-in-key-slot": (
        {"email": EMAIL, "api_key": "not-hex-" + TOKEN},
        r"\(error 6103: Invalid format for X-Auth-Key header\); " + MALFORMED,
    ),
    "quoted-token": (
        {"api_token": f'"{TOKEN}"'},
        r"\(error 6111: Invalid format for Authorization header\); " + MALFORMED,
    ),
    "malformed-email": (
        {"email": "admin.example.test", "api_key": KEY},
        r"\(error 6102: Invalid format for X-Auth-Email header\); the email in "
        r"/etc/cf\.ini is not one Cloudflare accepts; use the address you log in "
        r"to Cloudflare with$",
    ),
}


@pytest.mark.parametrize("account, line", AUTHENTICATION.values(), ids=AUTHENTICATION)
def test_refused_credentials_carry_their_hint(backend, cloudflare_api, account, line):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_global_key(EMAIL, KEY)

    shown = failure(backend(**account).list_zones)

    assert re.match(FAILED + r"list the zones for '/etc/cf\.ini' " + line, shown)


@pytest.mark.parametrize(
    "body, line",
    [
        (
            {"errors": [{"code": 6003, "message": "Invalid request headers"}]},
            r"\(error 6003: Invalid request headers\); Cloudflare cannot read the "
            r"credentials in /etc/cf\.ini; copy them again from the Cloudflare "
            r"dashboard$",
        ),
        (
            {
                "errors": [
                    {
                        "code": 6003,
                        "message": "Invalid request headers",
                        "error_chain": [{"code": 6100, "message": "Missing header"}],
                    }
                ]
            },
            r"\(error 6003: Invalid request headers\); Cloudflare cannot read the "
            r"credentials in /etc/cf\.ini; copy them again from the Cloudflare "
            r"dashboard$",
        ),
    ],
    ids=["no-chain", "unknown-header"],
)
def test_header_error_without_a_known_header_gets_the_generic_hint(body, line):
    code, message = read_api_error(body)

    error = cloudflare_error(
        LOOK_UP_ZONE, "example.test", code=code, message=message, source="/etc/cf.ini"
    )

    assert re.match(
        FAILED + r"look up the zone for 'example\.test' " + line, str(error)
    )


PERMISSIONS = {
    "create": (
        ["zone:read", "dns:read"],
        lambda client, zone, record_id: client.create_txt(zone, NAME, "v", 120),
        rf"create the TXT record for '{NAME_RE}'",
        "Zone:DNS:Edit",
    ),
    "list-records": (
        ["zone:read"],
        lambda client, zone, record_id: client.find_records(zone, "TXT", NAME),
        rf"list TXT records for '{NAME_RE}'",
        "Zone:DNS:Edit",
    ),
    "delete": (
        ["zone:read", "dns:read"],
        lambda client, zone, record_id: client.delete_record(zone, record_id),
        r"delete the TXT record for '[0-9a-f]{32}'",
        "Zone:DNS:Edit",
    ),
}


@pytest.mark.parametrize(
    "permissions, call, step, needed", PERMISSIONS.values(), ids=PERMISSIONS
)
def test_missing_permission_is_named_for_the_step_that_failed(
    backend, cloudflare_api, zone, permissions, call, step, needed
):
    cloudflare_api.add_token(TOKEN, permissions=permissions)
    seeded = cloudflare_api.add_record("example.test", "TXT", NAME, "someone-else")

    shown = failure(call, backend(api_token=TOKEN), zone, seeded["id"])

    assert re.match(
        FAILED + step + r" \(error 10000: Authentication error\); the credentials in "
        rf"/etc/cf\.ini lack a permission: give the token {needed} on this zone$",
        shown,
    )
    assert [r["content"] for r in cloudflare_api.records(type="TXT")] == [
        "someone-else"
    ]


def test_zone_lookup_without_zone_read_asks_for_zone_read(backend, cloudflare_api):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN, permissions=["dns:read", "dns:edit"])

    shown = failure(backend(api_token=TOKEN).list_zones, "example.test")

    assert re.match(
        FAILED + r"look up the zone for 'example\.test' \(error 0: Actor "
        r"'com\.cloudflare\.api\.token\.[0-9a-f]{32}' requires permission "
        r"'com\.cloudflare\.api\.account\.zone\.list' to list zones\); the token in "
        r"/etc/cf\.ini " + CANNOT_LIST,
        shown,
    )


@pytest.mark.parametrize(
    "step, needed", [(LOOK_UP_ZONE, "Zone:Zone:Read"), (CREATE_RECORD, "Zone:DNS:Edit")]
)
def test_authentication_error_names_the_permission_of_its_step(step, needed):
    error = cloudflare_error(
        step, NAME, code=10000, message="Authentication error", source="/etc/cf.ini"
    )

    assert re.match(
        FAILED + rf"{step} for '{NAME_RE}' \(error 10000: Authentication error\); the "
        rf"credentials in /etc/cf\.ini lack a permission: give the token {needed} "
        r"on this zone$",
        str(error),
    )


SPLIT_TOKENS = {
    "zone-token-invalid": (
        ("unknown" + ZONE_TOKEN, TOKEN),
        lambda client, zone: client.list_zones("example.test"),
        r"look up the zone for 'example\.test' \(error 9109: Invalid access token\); "
        r"the API token in /etc/cf\.ini \(zone lookup token\) " + NOT_VALID,
    ),
    "zone-token-without-zone-read": (
        ("dnsonly" + ZONE_TOKEN, TOKEN),
        lambda client, zone: client.list_zones("example.test"),
        r"look up the zone for 'example\.test' \(error 0: .*\); the token in "
        r"/etc/cf\.ini \(zone lookup token\) " + CANNOT_LIST,
    ),
    "edit-token-invalid": (
        (ZONE_TOKEN, "unknown" + TOKEN),
        lambda client, zone: client.create_txt(zone, NAME, "v", 120),
        rf"create the TXT record for '{NAME_RE}' \(error 9109: Invalid access token\); "
        r"the API token in /etc/cf\.ini \(edit token\) " + NOT_VALID,
    ),
    "edit-token-unknown-to-verify": (
        (ZONE_TOKEN, "unknown" + TOKEN),
        lambda client, zone: client.verify_token(),
        r"verify the API token for '/etc/cf\.ini' \(error 1000: Invalid API Token\); "
        r"the API token in /etc/cf\.ini \(edit token\) " + NOT_VALID,
    ),
    "edit-token-without-dns-edit": (
        (ZONE_TOKEN, "readonly" + TOKEN),
        lambda client, zone: client.create_txt(zone, NAME, "v", 120),
        rf"create the TXT record for '{NAME_RE}' \(error 10000: Authentication "
        r"error\); the credentials in /etc/cf\.ini \(edit token\) lack a permission: "
        r"give the token Zone:DNS:Edit on this zone$",
    ),
}


@pytest.mark.parametrize("tokens, call, line", SPLIT_TOKENS.values(), ids=SPLIT_TOKENS)
def test_split_tokens_name_the_token_that_failed(
    backend, cloudflare_api, zone, tokens, call, line
):
    cloudflare_api.add_token(ZONE_TOKEN, permissions=["zone:read"])
    cloudflare_api.add_token("dnsonly" + ZONE_TOKEN, permissions=["dns:edit"])
    cloudflare_api.add_token(TOKEN, permissions=["dns:read", "dns:edit"])
    cloudflare_api.add_token("readonly" + TOKEN, permissions=["dns:read"])
    zone_token, edit_token = tokens
    client = backend(api_token=edit_token, zone_api_token=zone_token)

    shown = failure(call, client, zone)

    assert re.match(FAILED + line, shown)
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.parametrize("tld", ["tk", "ml", "cf", "ga", "gq"])
def test_zone_under_a_refused_tld_is_explained(backend, cloudflare_api, tld):
    found = cloudflare_api.add_zone(f"example.{tld}")
    cloudflare_api.add_token(TOKEN)
    name = f"_acme-challenge.example.{tld}"

    shown = failure(
        backend(api_token=TOKEN).create_txt, Zone(found.id, found.name), name, "v", 120
    )

    assert re.match(
        FAILED + rf"create the TXT record for '{re.escape(name)}' \(error 1038: You "
        r"cannot use this API for domains with a \.cf, \.ga, \.gq, \.ml, or \.tk TLD "
        r"\(top-level domain\)\. To configure the DNS settings for this domain, use "
        r"the Cloudflare Dashboard\.\); Cloudflare's API refuses DNS changes under "
        r"\.cf, \.ga, \.gq, \.ml and \.tk; point _acme-challenge by CNAME \(made in "
        r"the dashboard\) into a zone under another TLD, and the plugin follows it$",
        shown,
    )
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.parametrize(
    "zone_id", ["0" * 32, "example.test"], ids=["unknown-id", "name-as-id"]
)
def test_wrong_zone_id_is_explained(backend, cloudflare_api, zone, zone_id):
    cloudflare_api.add_token(TOKEN)

    shown = failure(
        backend(api_token=TOKEN).create_txt, Zone(zone_id, zone.name), NAME, "v", 120
    )

    assert re.match(
        FAILED
        + rf"create the TXT record for '{NAME_RE}' \(error 7003: Could not route "
        rf"to /client/v4/zones/{re.escape(zone_id)}/dns_records, perhaps your object "
        r"identifier is invalid\?\); the zone id is wrong; check the zone ids in "
        r"/etc/cf\.ini against the zone's Overview page$",
        shown,
    )
    assert cloudflare_api.records(type="TXT") == []


def test_api_address_that_names_no_endpoint_is_explained(
    backend, cloudflare_api, monkeypatch
):
    cloudflare_api.add_token(TOKEN)
    # The API path given twice, as when a proxy's address already includes it.
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url + "/client/v4")

    shown = failure(backend(api_token=TOKEN).list_zones)

    assert re.match(
        FAILED + r"list the zones for '/etc/cf\.ini' \(error 7000: No route for that "
        r"URI\); no Cloudflare API endpoint has this address; check "
        r"CLOUDFLARE_BASE_URL, or unset it to use https://api\.cloudflare\.com/"
        r"client/v4$",
        shown,
    )


def test_cname_at_the_challenge_name_is_explained(backend, cloudflare_api, zone):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_record("example.test", "CNAME", NAME, "elsewhere.example.org")

    shown = failure(backend(api_token=TOKEN).create_txt, zone, NAME, "v", 120)

    assert re.match(
        FAILED + rf"create the TXT record for '{NAME_RE}' \(error 81053: A CNAME, A or "
        r"AAAA record with that host already exists\.\); a CNAME, A or AAAA record "
        r"already exists at this name; remove it, or if it is a CNAME let the plugin "
        r"follow it \(drop --dns-cloudflare-ext-no-follow-cnames\)$",
        shown,
    )
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.parametrize("code", [81057, 81058])
def test_record_that_already_exists_is_success(backend, cloudflare_api, zone, code):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.duplicate_code = code
    seeded = cloudflare_api.add_record("example.test", "TXT", NAME, "v")
    client = backend(api_token=TOKEN)

    created = client.create_txt(zone, NAME, "v", 120)

    # "Already there" is None, and the solver then adopts the record if it is
    # ours; newer dns-lexicon swallows 81058 itself (3.11 reports it), and
    # its backend then finds the record. Either way nothing fails or doubles.
    existing = Record(seeded["id"], zone.id, NAME, "TXT", "v")
    if isinstance(client, SdkBackend):
        assert created is None
    else:
        assert created in (None, existing)
    assert client.find_records(zone, "TXT", NAME, "v") == [existing]
    assert [call.status for call in cloudflare_api.calls if call.step == "create"] == [
        400
    ]
    assert [r["id"] for r in cloudflare_api.records(type="TXT")] == [seeded["id"]]


def test_html_error_page_is_not_dumped(backend, cloudflare_api):
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.inject_fault("zone_list", "html", times=-1)

    shown = failure(backend(api_token=TOKEN).list_zones)

    assert re.match(
        FAILED + r"list the zones for '/etc/cf\.ini' \(HTTP 502 Bad Gateway, not a "
        r"Cloudflare API response\); Cloudflare's API kept failing; try again later",
        shown,
    )
    assert "<html" not in shown.lower()
