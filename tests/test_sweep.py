"""``certbot-dns-cloudflare-ext sweep`` removes only our stale challenge records."""

from __future__ import annotations

import datetime
import os
import re
import socket

import pytest

from certbot_dns_cloudflare_ext._internal import cli
from certbot_dns_cloudflare_ext._internal.records import COMMENT

TOKEN = "sweepToken-SECRET-0123456789abcdefghijkl"


def hours_ago(hours: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc)
    moment -= datetime.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def records(cloudflare_api):
    """Seed our records, old and fresh, beside records others made."""
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_zone("other.test")
    seed = [
        ("example.test", "_acme-challenge.example.test", "ours-old", COMMENT, 3),
        ("other.test", "_acme-challenge.www.other.test", "ours-older", COMMENT, 50),
        ("example.test", "_acme-challenge.example.test", "ours-fresh", COMMENT, 0),
        ("example.test", "_acme-challenge.example.test", "by-hand", None, 3),
        ("other.test", "_acme-challenge.other.test", "theirs", "acme.sh", 3),
    ]
    for zone, name, content, comment, age in seed:
        cloudflare_api.add_record(
            zone, "TXT", name, content, comment, created_on=hours_ago(age)
        )


@pytest.fixture
def sweep(cloudflare_api, monkeypatch, capsys):
    """Run the sweep command in this process; return its exit code and output."""
    for key in os.environ:
        if re.match(r"(CF|CLOUDFLARE|DNS_CLOUDFLARE_EXT)_", key):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    monkeypatch.setenv("CF_API_TOKEN", TOKEN)

    def run(*args: str) -> tuple[int, str, str]:
        code = cli.main(["sweep", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def contents(cloudflare_api) -> list[str]:
    return sorted(record["content"] for record in cloudflare_api.records(type="TXT"))


ALL = ["by-hand", "ours-fresh", "ours-old", "ours-older", "theirs"]


def test_dry_run_lists_our_stale_records_and_removes_nothing(
    sweep, cloudflare_api, records
):
    cloudflare_api.add_token(TOKEN)

    code, out, _ = sweep()

    assert code == 0
    lines = out.splitlines()
    assert re.split(r"  +", lines[0]) == ["ZONE", "RECORD", "AGE", "ID"]
    assert [re.split(r"  +", line)[:3] for line in lines[1:3]] == [
        ["example.test", "_acme-challenge.example.test", "3 h 0 min"],
        ["other.test", "_acme-challenge.www.other.test", "2 d 2 h"],
    ]
    assert lines[3:] == [
        "Dry run: 2 challenge records would be removed; run again with --delete."
    ]
    assert contents(cloudflare_api) == ALL


@pytest.mark.parametrize(
    ("args", "left"),
    [
        (["--delete"], ["by-hand", "ours-fresh", "theirs"]),
        (["--delete", "other.test"], ["by-hand", "ours-fresh", "ours-old", "theirs"]),
        (
            ["--delete", "--older-than", "1d"],
            ["by-hand", "ours-fresh", "ours-old", "theirs"],
        ),
        (["--delete", "--older-than", "0"], ["by-hand", "theirs"]),
    ],
    ids=["all-zones", "one-zone", "older-than-a-day", "any-age"],
)
def test_delete_removes_only_marked_records_past_the_age(
    sweep, cloudflare_api, records, args, left
):
    cloudflare_api.add_token(TOKEN)

    code, out, _ = sweep(*args)

    assert code == 0
    assert re.search(r"^Removed (\d) of \1 challenge records?\.$", out, re.M)
    assert contents(cloudflare_api) == left


def test_nothing_stale_says_so(sweep, cloudflare_api, records):
    cloudflare_api.add_token(TOKEN)

    code, out, _ = sweep("--older-than", "3d", "--delete")

    assert code == 0
    assert out == "Found no challenge records of ours 3 d 0 h old or older.\n"
    assert contents(cloudflare_api) == ALL


def test_every_page_of_a_large_account_is_swept(sweep, cloudflare_api):
    names = [f"zone{i:03}.test" for i in range(120)]
    for name in names:
        cloudflare_api.add_zone(name)
    for name in (names[0], names[-1]):
        cloudflare_api.add_record(
            name,
            "TXT",
            f"_acme-challenge.{name}",
            name,
            COMMENT,
            created_on=hours_ago(2),
        )
    cloudflare_api.add_token(TOKEN)

    code, out, _ = sweep("--delete")

    assert code == 0
    assert out.splitlines()[-1] == "Removed 2 of 2 challenge records."
    assert contents(cloudflare_api) == []
    pages = [
        call.query.get("page")
        for call in cloudflare_api.calls
        if call.path.endswith("/zones")
    ]
    assert pages == ["1", "2", "3"]


def test_token_that_cannot_list_zones_asks_for_zone_names(
    sweep, cloudflare_api, records
):
    cloudflare_api.add_token(TOKEN, permissions=["dns:edit"])

    code, out, err = sweep()

    assert code == 1
    assert out == ""
    assert err == (
        "certbot-dns-cloudflare-ext: error: The credentials in environment "
        "(CF_API_TOKEN) may not list zones (no Zone:Read); name the zones to sweep, "
        "e.g. certbot-dns-cloudflare-ext sweep example.com\n"
    )
    assert contents(cloudflare_api) == ALL


def test_unreachable_api_names_the_variables_to_raise(sweep, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/client/v4"
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", closed)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_RETRIES", "0")

    code, out, err = sweep()

    assert (code, out) == (1, "")
    assert err == (
        "certbot-dns-cloudflare-ext: error: Cloudflare API failed to list the zones "
        "for 'environment (CF_API_TOKEN)' (connection to 127.0.0.1 failed without an "
        "answer (ConnectError)); Cloudflare's API kept failing; try again later "
        "(status: "
        "https://www.cloudflarestatus.com), or raise DNS_CLOUDFLARE_EXT_RETRIES or "
        "DNS_CLOUDFLARE_EXT_API_TIMEOUT\n"
    )


def test_zone_whose_records_may_not_be_read_fails_the_sweep(
    sweep, cloudflare_api, records
):
    cloudflare_api.add_token(TOKEN, permissions=["zone:read"])

    code, out, err = sweep("--older-than", "0", "example.test")

    assert code == 1
    assert out == "Found no challenge records of ours in the zones it could read.\n"
    assert err == (
        "certbot-dns-cloudflare-ext: Could not sweep zone example.test: these "
        "credentials may not list its records (give them Zone:DNS:Edit there, or "
        "name only other zones)\n"
    )
    assert contents(cloudflare_api) == ALL


def test_lexicon_backend_cannot_tell_our_records_and_says_so(
    sweep, cloudflare_api, records, monkeypatch
):
    cloudflare_api.add_token(TOKEN)
    monkeypatch.setenv("DNS_CLOUDFLARE_EXT_BACKEND", "lexicon")

    code, out, err = sweep("--delete", "example.test")

    assert (code, out) == (1, "")
    assert err == (
        "certbot-dns-cloudflare-ext: error: sweep tells this plugin's records apart "
        "by their comment, which dns-lexicon cannot read; run it from a virtualenv "
        "with the cloudflare SDK 4 or later (see Installation in the README), or "
        "remove leftover _acme-challenge records in the Cloudflare dashboard\n"
    )
    assert contents(cloudflare_api) == ALL


def test_pinned_zones_are_swept_by_credentials_that_may_not_list_zones(
    sweep, cloudflare_api, records, monkeypatch
):
    cloudflare_api.add_token(TOKEN, permissions=["dns:edit"])
    zone = cloudflare_api.zone_for("_acme-challenge.example.test")
    monkeypatch.setenv("CLOUDFLARE_ZONE_ID", f"example.test:{zone.id}")

    code, out, _ = sweep("--delete")

    assert code == 0
    assert out.splitlines()[-1] == "Removed 1 of 1 challenge record."
    assert "ours-old" not in contents(cloudflare_api)
