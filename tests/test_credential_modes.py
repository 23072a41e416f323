"""Each way of holding Cloudflare credentials issues a certificate through certbot."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dns.resolver
import pytest

from certbot_dns_cloudflare_ext._internal.backends import create_backend
from certbot_dns_cloudflare_ext._internal.credentials import Account, load_file
from certbot_dns_cloudflare_ext._internal.errors import CloudflareError
from certbot_dns_cloudflare_ext._internal.sdk import SdkBackend
from certbot_dns_cloudflare_ext._internal.settings import Settings
from certbot_dns_cloudflare_ext._internal.solver import Solver
from certbot_dns_cloudflare_ext._internal.zones import ZoneFinder
from tests.harness.cloudflare_store import label_for

pytestmark = pytest.mark.e2e

TOKEN = "modeToken-SECRET-0123456789abcdefghijklm"
ZONE_TOKEN = "zoneToken-SECRET-0123456789abcdefghijklm"
EDIT_TOKEN = "editToken-SECRET-0123456789abcdefghijklm"
OTHER_TOKEN = "otherToken-SECRET-0123456789abcdefghijkl"
EMAIL = "admin@example.test"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"
SECRETS = (TOKEN, ZONE_TOKEN, EDIT_TOKEN, OTHER_TOKEN, GLOBAL_KEY)


def write_private(path: Path, text: str) -> Path:
    """Write a secret file that is private from the start, as certbot wants."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    return path


def issue(certbot, nameserver, *names, credentials=None, env=None):
    args = ["--authenticator", "dns-cloudflare-ext"]
    if credentials is not None:
        args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    for name in names:
        args += ["-d", name]
    return certbot.run("certonly", *args, env=env)


def assert_issued(certbot, cloudflare_api, result, names):
    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names(names[0]) == sorted(names)
    assert cloudflare_api.records(type="TXT") == []
    shown = certbot.log_text() + result.stdout + result.stderr
    assert not [secret for secret in SECRETS if secret in shown]


def test_zone_scoped_token_issues_for_a_name_deep_in_its_zone(
    certbot, nameserver, cloudflare_api, credentials_file
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_zone("other.test")
    cloudflare_api.add_token(TOKEN, zones=["example.test"])
    creds = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    result = issue(certbot, nameserver, "a.b.example.test", credentials=creds)

    assert_issued(certbot, cloudflare_api, result, ["a.b.example.test"])


def test_zone_scoped_token_skips_refused_guesses(cloudflare_api, monkeypatch):
    # More zones than the finder lists at once make it ask for each guess.
    zones = ["example.test"] + [f"zone{n}.test" for n in range(250)]
    for zone in zones:
        cloudflare_api.add_zone(zone)
    cloudflare_api.add_token(TOKEN, zones=zones)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    finder = ZoneFinder(SdkBackend(Account(api_token=TOKEN), "test.ini", retries=0))

    zone = finder.find("_acme-challenge.a.b.example.test")

    assert zone.name == "example.test"
    guesses = [
        (call.query.get("name"), call.status)
        for call in cloudflare_api.calls
        if call.step == "zone_list"
    ]
    assert guesses == [
        *[(None, 200)] * 5,
        ("a.b.example.test", 403),
        ("b.example.test", 403),
        ("example.test", 200),
    ]


@pytest.fixture
def dns_edit_only(cloudflare_api):
    """Hold example.test and a token that may edit its records but not read it."""
    zone = cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN, zones=["example.test"], permissions=["dns:edit"])
    return zone


def test_pinned_zone_id_lets_a_dns_edit_only_token_issue(
    certbot, nameserver, cloudflare_api, credentials_file, dns_edit_only
):
    creds = credentials_file(
        dns_cloudflare_ext_api_token=TOKEN,
        dns_cloudflare_ext_zone_id=f"example.test:{dns_edit_only.id}",
    )

    result = issue(
        certbot, nameserver, "example.test", "*.example.test", credentials=creds
    )

    assert_issued(certbot, cloudflare_api, result, ["example.test", "*.example.test"])
    assert not [call for call in cloudflare_api.calls if call.step == "zone_list"]


def test_pin_with_another_zones_id_is_named_and_leaves_nothing(
    certbot, nameserver, cloudflare_api, credentials_file, dns_edit_only
):
    cloudflare_api.add_zone("example.net")
    cloudflare_api.add_token(OTHER_TOKEN, zones=["example.test", "example.net"])
    creds = credentials_file(
        dns_cloudflare_ext_api_token=OTHER_TOKEN,
        dns_cloudflare_ext_zone_id=f"example.net:{dns_edit_only.id}",
    )

    result = issue(certbot, nameserver, "www.example.net", credentials=creds)

    assert result.returncode == 1
    assert (
        "Cloudflare wrote the TXT record for '_acme-challenge.www.example.net' as "
        "'_acme-challenge.www.example.net.example.test', so zone id "
        f"{dns_edit_only.id} is not the id of 'example.net'; correct "
        "dns_cloudflare_ext_zone_id with the id on the zone's Overview page"
    ) in result.stderr.splitlines(), result.stderr
    assert cloudflare_api.records(type="TXT") == []


def test_dns_edit_only_token_without_pin_names_the_missing_permission(
    certbot, nameserver, cloudflare_api, credentials_file, dns_edit_only
):
    creds = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    result = issue(certbot, nameserver, "www.example.test", credentials=creds)

    assert result.returncode != 0
    line = (
        r"Cloudflare API failed to look up the zone for "
        r"'_acme-challenge\.www\.example\.test' "
        r"\(error 0: Actor 'com\.cloudflare\.api\.token\.\w+' requires permission "
        r"'com\.cloudflare\.api\.account\.zone\.list' to list zones\); the token in "
        + re.escape(str(creds))
        + r" cannot list zones: give it Zone:Zone:Read, or pin the zone id with "
        r"dns_cloudflare_ext_zone_id"
    )
    assert re.search(f"^{line}$", result.stderr, re.MULTILINE), result.stderr
    assert cloudflare_api.records(type="TXT") == []


def test_split_tokens_each_make_only_their_own_kind_of_call(
    certbot, nameserver, cloudflare_api, credentials_file
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(ZONE_TOKEN, permissions=["zone:read"])
    cloudflare_api.add_token(EDIT_TOKEN, permissions=["dns:edit"])
    creds = credentials_file(
        dns_cloudflare_ext_zone_api_token=ZONE_TOKEN,
        dns_cloudflare_ext_api_token=EDIT_TOKEN,
    )

    result = issue(certbot, nameserver, "example.test", credentials=creds)

    assert_issued(certbot, cloudflare_api, result, ["example.test"])
    used = {(call.step, call.credential) for call in cloudflare_api.calls}
    assert used == {
        ("zone_list", label_for(ZONE_TOKEN, "token")),
        ("create", label_for(EDIT_TOKEN, "token")),
        ("delete", label_for(EDIT_TOKEN, "token")),
    }


@pytest.mark.parametrize(
    ("variables", "source"),
    [
        ({"CLOUDFLARE_API_TOKEN": TOKEN}, "CLOUDFLARE_API_TOKEN"),
        (
            {"CLOUDFLARE_EMAIL": EMAIL, "CLOUDFLARE_API_KEY_FILE": GLOBAL_KEY},
            "CLOUDFLARE_EMAIL, CLOUDFLARE_API_KEY_FILE",
        ),
        (
            {"CLOUDFLARE_API_TOKEN_FILE": TOKEN, "CLOUDFLARE_EMAIL": EMAIL},
            "CLOUDFLARE_API_TOKEN_FILE",
        ),
    ],
    ids=["token-variable", "global-key-secret-file", "token-file-beats-email"],
)
def test_environment_alone_issues(
    certbot, nameserver, cloudflare_api, tmp_path, variables, source
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_global_key(EMAIL, GLOBAL_KEY)
    env = dict(variables)
    for variable, value in variables.items():
        if variable.endswith("_FILE"):
            env[variable] = str(
                write_private(tmp_path / variable.lower(), value + "\n")
            )

    result = issue(certbot, nameserver, "example.test", env=env)

    assert_issued(certbot, cloudflare_api, result, ["example.test"])
    assert f"Using Cloudflare credentials from the environment ({source})" in (
        certbot.log_text()
    )
    assert "certbot renew will need the same environment" in result.stdout


def test_no_credentials_at_all_says_both_ways_to_give_them(
    certbot, nameserver, cloudflare_api
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)

    result = issue(certbot, nameserver, "example.test")

    assert result.returncode != 0
    assert (
        "certbot: no Cloudflare credentials were given; pass "
        "--dns-cloudflare-ext-credentials FILE, or set CLOUDFLARE_API_TOKEN in the "
        "environment of every certbot run"
    ) in result.stderr
    assert cloudflare_api.calls == []


def test_two_accounts_on_one_certificate_use_their_own_tokens(
    certbot, nameserver, cloudflare_api, tmp_path
):
    first = cloudflare_api.add_zone("example.test", account="acct-1")
    second = cloudflare_api.add_zone("other.test", account="acct-2")
    cloudflare_api.add_token(TOKEN, account="acct-1")
    cloudflare_api.add_token(OTHER_TOKEN, account="acct-2")
    creds = write_private(
        tmp_path / "two-accounts.ini",
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        "[other.test]\n"
        f"dns_cloudflare_ext_api_token = {OTHER_TOKEN}\n",
    )

    result = issue(
        certbot, nameserver, "example.test", "www.other.test", credentials=creds
    )

    assert_issued(certbot, cloudflare_api, result, ["example.test", "www.other.test"])
    by_zone = {
        zone.id: {c.credential for c in cloudflare_api.calls if zone.id in c.path}
        for zone in (first, second)
    }
    assert by_zone == {
        first.id: {label_for(TOKEN, "token")},
        second.id: {label_for(OTHER_TOKEN, "token")},
    }
    assert {call.status for call in cloudflare_api.calls} == {200}


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "not-pinned"])
def test_zone_section_with_a_dns_edit_only_token(
    cloudflare_api, nameserver, monkeypatch, tmp_path, pinned
):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.add_zone("example.test")
    other = cloudflare_api.add_zone("other.test", account="acct-2")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_token(OTHER_TOKEN, account="acct-2", permissions=["dns:edit"])
    pin = f"dns_cloudflare_ext_zone_id = other.test:{other.id}\n" if pinned else ""
    path = write_private(
        tmp_path / "sections.ini",
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        f"[other.test]\ndns_cloudflare_ext_api_token = {OTHER_TOKEN}\n{pin}",
    )
    solver = Solver(
        load_file(str(path)),
        Settings(nameservers=(nameserver.address,)),
        progress=lambda message: None,
        backend_factory=create_backend,
    )

    if pinned:
        zone = solver.find_zone("_acme-challenge.www.other.test")
        assert (zone.name, zone.id) == ("other.test", other.id)
        assert cloudflare_api.calls == []
    else:
        with pytest.raises(CloudflareError) as caught:
            solver.find_zone("_acme-challenge.www.other.test")
        assert caught.value.hint == (
            f"the token in {path} [other.test] cannot list zones: give it "
            "Zone:Zone:Read, or pin the zone id with dns_cloudflare_ext_zone_id"
        )


def test_pinned_zone_is_checked_on_the_nameservers_its_ns_records_name(
    cloudflare_api, nameserver, monkeypatch, tmp_path
):
    # A pin skips the zone lookup, so the API never says which nameservers
    # serve the zone: the system resolver's NS and A answers must.
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    zone = cloudflare_api.add_zone("example.test")
    cloudflare_api.add_zone("cloudflare.test")
    for host, address in [("ada", "192.0.2.1"), ("bob", "192.0.2.2")]:
        cloudflare_api.add_record(
            "cloudflare.test", "A", f"{host}.ns.cloudflare.test", address
        )
    cloudflare_api.add_token(TOKEN, permissions=["dns:edit"])
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [nameserver.address[0]]
    resolver.port = nameserver.address[1]
    monkeypatch.setattr(dns.resolver, "default_resolver", resolver)
    path = write_private(
        tmp_path / "pinned.ini",
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        f"dns_cloudflare_ext_zone_id = example.test:{zone.id}\n",
    )
    solver = Solver(
        load_file(str(path)),
        Settings(),
        progress=lambda message: None,
        backend_factory=create_backend,
    )

    found = solver.find_zone("_acme-challenge.example.test")

    assert found.name_servers == ()
    assert solver.nameservers(found) == [("192.0.2.1", 53), ("192.0.2.2", 53)]
    assert cloudflare_api.calls == []


def test_reconfigure_moves_an_official_plugin_lineage_to_this_plugin(
    certbot, nameserver, cloudflare_api, credentials_file
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    official = credentials_file(dns_cloudflare_api_token=TOKEN)
    first = certbot.run(
        "certonly",
        "--authenticator",
        "dns-cloudflare",
        "--dns-cloudflare-credentials",
        str(official),
        "--dns-cloudflare-propagation-seconds",
        "1",
        "-d",
        "example.test",
    )
    assert first.returncode == 0, first.stderr
    serial = certbot.certificate("example.test").serial_number

    switched = certbot.run(
        "reconfigure",
        "--cert-name",
        "example.test",
        "--authenticator",
        "dns-cloudflare-ext",
        "--dns-cloudflare-ext-credentials",
        str(official),
        "--dns-cloudflare-ext-nameservers",
        f"127.0.0.1:{nameserver.port}",
    )
    assert switched.returncode == 0, switched.stderr
    assert certbot.certificate("example.test").serial_number == serial
    conf = certbot.renewal_conf("example.test")
    assert "authenticator = dns-cloudflare-ext" in conf.splitlines()
    assert f"dns_cloudflare_ext_credentials = {official}" in conf.splitlines()
    cloudflare_api.reset_calls()

    renewed = certbot.run("renew", "--force-renewal")

    assert renewed.returncode == 0, renewed.stderr
    assert certbot.certificate("example.test").serial_number != serial
    assert "Created TXT record _acme-challenge.example.test" in certbot.log_text()
    lookups = [call.query for call in cloudflare_api.calls if call.step == "zone_list"]
    # The official plugin asks for each name; this one lists the zones once.
    assert lookups == [{"page": "1", "per_page": "50"}]
    assert cloudflare_api.records(type="TXT") == []
    # Reconfigure leaves the official plugin's options behind; renewal drops them.
    renewed_conf = certbot.renewal_conf("example.test")
    assert not re.search(r"^dns_cloudflare_(?!ext_)", renewed_conf, re.MULTILINE)
    assert "authenticator = dns-cloudflare-ext" in renewed_conf.splitlines()
