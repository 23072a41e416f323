"""CNAME delegation: the record goes where the challenge name points, or nowhere."""

from __future__ import annotations

import re

import pytest

from certbot_dns_cloudflare_ext._internal import lookup
from certbot_dns_cloudflare_ext._internal.delegation import (
    MAX_HOPS,
    follow_cnames,
    unreachable_target,
)
from certbot_dns_cloudflare_ext._internal.lookup import Answer

TOKEN = "delegToken-SECRET-0123456789abcdefghijklm"
CHALLENGE = "_acme-challenge.example.test"
TARGET = "_acme-challenge.example.test.validation.test"
REPOINT = "point the last CNAME into a zone these credentials can edit"


def fix(change: str = REPOINT) -> str:
    delete = f"delete the CNAME at {CHALLENGE} to have the record written there"
    return f"; {change}, or {delete}"


def issue(certbot, nameserver, credentials, *names, extra=()):
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    for name in names:
        args += ["-d", name]
    return certbot.run("certonly", *args, *extra)


def error_line(pattern: str, stderr: str) -> bool:
    """Tell whether one whole line of certbot's stderr matches ``pattern``."""
    return re.search(rf"^{pattern}$", stderr, re.MULTILINE) is not None


def txt_posts(cloudflare_api) -> list[str]:
    """Return the zone ids that TXT records were created in, in order."""
    return [
        call.path.split("/")[2]
        for call in cloudflare_api.calls
        if call.method == "POST" and call.path.endswith("/dns_records")
    ]


@pytest.fixture
def zones(cloudflare_api):
    names = ("example.test", "validation.test", "middle.test")
    return {name: cloudflare_api.add_zone(name) for name in names}


@pytest.fixture
def credentials(cloudflare_api, credentials_file):
    cloudflare_api.add_token(TOKEN)
    return credentials_file(dns_cloudflare_ext_api_token=TOKEN)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "links",
    [
        pytest.param([(CHALLENGE, TARGET)], id="one-cname"),
        pytest.param(
            [(CHALLENGE, "acme.middle.test"), ("acme.middle.test", TARGET)],
            id="chain-of-two",
        ),
    ],
)
def test_delegated_challenge_is_written_in_the_target_zone(
    certbot, nameserver, cloudflare_api, zones, credentials, links
):
    for owner, target in links:
        cloudflare_api.add_record(owner.split(".", 1)[1], "CNAME", owner, target)
    cloudflare_api.reset_calls()

    result = issue(certbot, nameserver, credentials, "example.test")

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("example.test") == ["example.test"]
    assert txt_posts(cloudflare_api) == [zones["validation.test"].id]
    assert cloudflare_api.records(type="TXT") == []
    assert f"{CHALLENGE} is delegated by CNAME to {TARGET}" in certbot.log_text()


@pytest.mark.e2e
def test_token_for_the_validation_zone_only_is_enough(
    certbot, nameserver, cloudflare_api, zones, credentials_file
):
    # The reason to delegate: the main zone stays out of the token's reach.
    cloudflare_api.add_record("example.test", "CNAME", CHALLENGE, TARGET)
    cloudflare_api.add_token(TOKEN, zones=["validation.test"])
    credentials = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    result = issue(certbot, nameserver, credentials, "example.test", "*.example.test")

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("example.test") == [
        "*.example.test",
        "example.test",
    ]
    assert txt_posts(cloudflare_api) == [zones["validation.test"].id] * 2
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.e2e
def test_dns_edit_token_with_the_target_zone_pinned_is_enough(
    certbot, nameserver, cloudflare_api, zones, credentials_file
):
    # No Zone:Read at all: every zone lookup is refused, so only the pin finds
    # the target zone, and the challenge name's own zone stays unknown.
    cloudflare_api.add_record("example.test", "CNAME", CHALLENGE, TARGET)
    cloudflare_api.add_token(TOKEN, zones=["validation.test"], permissions=["dns:edit"])
    credentials = credentials_file(
        dns_cloudflare_ext_api_token=TOKEN,
        dns_cloudflare_ext_zone_id=f"validation.test:{zones['validation.test'].id}",
    )
    cloudflare_api.reset_calls()

    result = issue(certbot, nameserver, credentials, "example.test")

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("example.test") == ["example.test"]
    assert txt_posts(cloudflare_api) == [zones["validation.test"].id]
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.e2e
def test_wildcard_cname_does_not_send_the_challenge_away(
    certbot, nameserver, cloudflare_api, zones, credentials
):
    cloudflare_api.add_zone("elsewhere.test", account="acct-2")
    cloudflare_api.add_record(
        "example.test", "CNAME", "*.example.test", "elsewhere.test"
    )
    cloudflare_api.reset_calls()

    result = issue(certbot, nameserver, credentials, "www.example.test")

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("www.example.test") == ["www.example.test"]
    assert txt_posts(cloudflare_api) == [zones["example.test"].id]
    assert cloudflare_api.records(type="TXT") == []
    assert (
        "_acme-challenge.www.example.test is only covered by a wildcard CNAME"
        in certbot.log_text()
    )


def chain_of(length: int) -> list[tuple[str, str]]:
    hops = [CHALLENGE] + [f"hop{i}.middle.test" for i in range(1, length + 1)]
    return list(zip(hops, hops[1:], strict=False))


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("links", "problem", "change"),
    [
        pytest.param(
            [(CHALLENGE, "a.middle.test"), ("a.middle.test", CHALLENGE)],
            rf"{CHALLENGE} -> a\.middle\.test -> {CHALLENGE}: the chain loops",
            "end the chain at a name that is not a CNAME",
            id="loop",
        ),
        pytest.param(
            chain_of(MAX_HOPS + 1),
            rf"{CHALLENGE}( -> hop\d\.middle\.test){{9}}: "
            "the chain is longer than 8 CNAMEs",
            "point the first CNAME straight at the last name",
            id="longer-than-8",
        ),
        pytest.param(
            [(CHALLENGE, "_acme-challenge.gone.test")],
            rf"{CHALLENGE} -> _acme-challenge\.gone\.test: "
            r"the last target does not exist \(no zone has it\)",
            REPOINT,
            id="dangling",
        ),
        pytest.param(
            [(CHALLENGE, "_acme-challenge.example.test.foreign.test")],
            rf"{CHALLENGE} -> _acme-challenge\.example\.test\.foreign\.test: "
            "the last target is in zone 'foreign.test', outside the zones these "
            "credentials can edit",
            REPOINT,
            id="outside-the-account",
        ),
    ],
)
def test_unusable_chain_stops_with_its_own_error_and_writes_nothing(
    certbot, nameserver, cloudflare_api, zones, credentials, links, problem, change
):
    cloudflare_api.add_zone("foreign.test", account="acct-2")
    for owner, target in links:
        zone = cloudflare_api.zone_for(owner).name
        cloudflare_api.add_record(zone, "CNAME", owner, target)
    cloudflare_api.reset_calls()

    result = issue(certbot, nameserver, credentials, "example.test")

    assert result.returncode == 1
    assert error_line(
        rf"Cannot follow the CNAME chain {problem}{re.escape(fix(change))}",
        result.stderr,
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert txt_posts(cloudflare_api) == []
    assert cloudflare_api.records(type="TXT") == []


@pytest.mark.e2e
def test_no_follow_cnames_writes_at_the_challenge_name_itself(
    certbot, nameserver, cloudflare_api, zones, credentials
):
    cloudflare_api.add_record("example.test", "CNAME", CHALLENGE, TARGET)

    result = issue(
        certbot,
        nameserver,
        credentials,
        "example.test",
        extra=["--dns-cloudflare-ext-no-follow-cnames"],
    )

    assert result.returncode == 1
    assert error_line(
        r"Cloudflare API failed to create the TXT record for "
        rf"'{CHALLENGE}' \(error 81053: .*\); a CNAME, A or AAAA record already "
        "exists at this name; .*",
        result.stderr,
    ), result.stderr
    assert cloudflare_api.records(type="TXT") == []


def ask(nameserver):
    return lambda name: lookup.query(nameserver.address, name, "CNAME")


@pytest.mark.parametrize(
    ("records", "chain"),
    [
        pytest.param([], [CHALLENGE], id="no-cname"),
        pytest.param([("*.example.test", "elsewhere.test")], [CHALLENGE], id="wild"),
        pytest.param(
            [("*.example.test", "elsewhere.test"), (CHALLENGE, TARGET)],
            [CHALLENGE, TARGET],
            id="explicit-beside-wildcard",
        ),
        pytest.param(
            [("*.example.test", CHALLENGE)], [CHALLENGE], id="wildcard-loop-ignored"
        ),
    ],
)
def test_only_a_cname_set_at_the_challenge_name_is_followed_by_dns_alone(
    cloudflare_api, nameserver, records, chain
):
    # Without the zone's records at hand, DNS itself tells a wildcard apart.
    cloudflare_api.add_zone("example.test")
    for owner, target in records:
        cloudflare_api.add_record("example.test", "CNAME", owner, target)

    assert follow_cnames(CHALLENGE, ask(nameserver)) == chain


def cnames(links: dict[str, str]):
    """Answer CNAME questions from ``links`` only, as if no wildcard existed."""

    def ask(name: str) -> Answer:
        if name in links:
            return Answer("NOERROR", frozenset({links[name]}))
        return Answer("NXDOMAIN")

    return ask


@pytest.mark.parametrize("hops", [1, MAX_HOPS])
def test_chain_up_to_the_limit_is_followed_to_its_end(hops):
    links = dict(chain_of(hops))

    chain = follow_cnames(CHALLENGE, cnames(links))

    assert chain == [CHALLENGE] + [f"hop{i}.middle.test" for i in range(1, hops + 1)]


@pytest.mark.parametrize(
    ("soa", "problem"),
    [
        pytest.param(
            Answer("NXDOMAIN", zone="test"),
            "the last target does not exist (no zone has it)",
            id="only-the-tld-exists",
        ),
        pytest.param(
            Answer("REFUSED"),
            "the last target does not exist (no zone has it)",
            id="no-server-holds-it",
        ),
        pytest.param(
            Answer("NXDOMAIN", zone="foreign.test"),
            "the last target is in zone 'foreign.test', outside the zones these "
            "credentials can edit",
            id="someone-elses-zone",
        ),
        pytest.param(
            Answer("SERVFAIL"),
            "the last target could not be looked up (SERVFAIL)",
            id="lookup-failed",
        ),
    ],
)
def test_unreachable_target_says_why(soa, problem):
    error = unreachable_target([CHALLENGE, "t.foreign.test"], soa)

    assert str(error) == (
        f"Cannot follow the CNAME chain {CHALLENGE} -> t.foreign.test: {problem}"
        + fix()
    )
