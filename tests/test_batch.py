"""Many names go as one batch: few API calls, bounded concurrency, no leftovers."""

from __future__ import annotations

import collections
import re

import pytest

from certbot_dns_cloudflare_ext._internal.backends import create_backend
from certbot_dns_cloudflare_ext._internal.credentials import Account, Credentials
from certbot_dns_cloudflare_ext._internal.settings import DEFAULT_WORKERS, Settings
from certbot_dns_cloudflare_ext._internal.solver import Challenge, Solver

TOKEN = "batchToken-SECRET-0123456789abcdefghijklm"

#: 20 names in three zones; the names of delegated.test point into validation.test.
NAMES = (
    [f"host{i}.example.test" for i in range(8)]
    + [f"host{i}.validation.test" for i in range(6)]
    + [f"host{i}.delegated.test" for i in range(6)]
)
ZONES = ("example.test", "validation.test", "delegated.test")


def issue(certbot, nameserver, credentials, names, extra=()):
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    args += ["--cert-name", "batch"]
    for name in names:
        args += ["-d", name]
    return certbot.run("certonly", *args, *extra)


@pytest.fixture
def account(cloudflare_api, credentials_file):
    for zone in ZONES:
        cloudflare_api.add_zone(zone)
    cloudflare_api.add_token(TOKEN)
    return credentials_file(dns_cloudflare_ext_api_token=TOKEN)


def delegate(cloudflare_api):
    """Point every delegated.test challenge name at a name in validation.test."""
    for name in NAMES:
        if name.endswith(".delegated.test"):
            challenge = f"_acme-challenge.{name}"
            target = f"{challenge}.validation.test"
            cloudflare_api.add_record("delegated.test", "CNAME", challenge, target)


def looked_up_zones(cloudflare_api) -> collections.Counter[str]:
    """Count zone lookups by the name asked for ("*" for a listing of all)."""
    return collections.Counter(
        call.query.get("name", "*")
        for call in cloudflare_api.calls
        if call.step in ("zone_list", "zone_get")
    )


@pytest.mark.e2e
def test_twenty_names_in_three_zones_one_delegated_are_issued_in_one_batch(
    certbot, nameserver, account, cloudflare_api
):
    delegate(cloudflare_api)
    cloudflare_api.reset_calls()

    result = issue(certbot, nameserver, account, NAMES)

    assert result.returncode == 0, result.stderr
    assert certbot.certificate_names("batch") == sorted(NAMES)
    assert cloudflare_api.records(type="TXT") == []
    assert len(cloudflare_api.records(type="CNAME")) == 6
    lookups = looked_up_zones(cloudflare_api)
    assert lookups and max(lookups.values()) == 1, lookups
    assert len(cloudflare_api.calls) <= 2 * len(NAMES) + 3


@pytest.mark.e2e
def test_one_create_failing_for_good_fails_the_run_and_removes_every_record(
    certbot, nameserver, account, cloudflare_api
):
    # A leftover CNAME that is no longer followed: Cloudflare refuses a TXT beside it.
    refused = "_acme-challenge.host5.example.test"
    cloudflare_api.add_record("example.test", "CNAME", refused, "gone.example.test")
    cloudflare_api.reset_calls()

    result = issue(
        certbot,
        nameserver,
        account,
        NAMES,
        extra=["--dns-cloudflare-ext-no-follow-cnames"],
    )

    assert result.returncode != 0
    assert re.search(
        rf"^Cloudflare API failed to create the TXT record for '{re.escape(refused)}' "
        r"\(error 81053: [^)]*\); a CNAME, A or AAAA record already exists at this "
        r"name; remove it, or if it is a CNAME let the plugin follow it \(drop "
        r"--dns-cloudflare-ext-no-follow-cnames\)$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert cloudflare_api.records(type="TXT") == []
    assert [r["name"] for r in cloudflare_api.records(type="CNAME")] == [refused]
    steps = collections.Counter(call.step for call in cloudflare_api.calls)
    assert steps["delete"] == len(NAMES) - 1
    assert steps["records_list"] == 0


@pytest.mark.parametrize("workers", [DEFAULT_WORKERS, 16])
def test_hundred_names_stay_within_the_workers_and_the_rate_limit(
    cloudflare_api, nameserver, monkeypatch, workers
):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.configure(latency=0.15, rate_limit=[1200, 300])
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    names = [f"_acme-challenge.host{i}.example.test" for i in range(100)]
    solver = Solver(
        Credentials(source="the test", default=Account(api_token=TOKEN)),
        Settings(
            workers=workers,
            nameservers=(nameserver.address,),
            propagation_interval=0.2,
        ),
        progress=lambda message: None,
        backend_factory=create_backend,
    )

    solver.perform([Challenge(name, f"token-{name}") for name in names])
    served = {r["name"] for r in cloudflare_api.records(type="TXT")}
    solver.cleanup()

    assert served == set(names)
    assert cloudflare_api.records(type="TXT") == []
    assert 1 < cloudflare_api.peak_concurrency <= workers
    assert cloudflare_api.rate_limited_count == 0
    assert len(cloudflare_api.calls) == 2 * len(names) + 1
