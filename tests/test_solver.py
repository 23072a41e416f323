"""The solver against the stand-in: which records a run writes, adopts and removes."""

from __future__ import annotations

import pytest

from certbot_dns_cloudflare_ext._internal.backends import create_backend
from certbot_dns_cloudflare_ext._internal.credentials import Account, Credentials
from certbot_dns_cloudflare_ext._internal.records import COMMENT
from certbot_dns_cloudflare_ext._internal.settings import Settings
from certbot_dns_cloudflare_ext._internal.solver import Challenge, Solver

TOKEN = "solverToken-SECRET-0123456789abcdefghij"
NAME = "_acme-challenge.example.test"
VALUE = "the-same-validation-value"


@pytest.fixture
def solver(cloudflare_api, nameserver, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    return Solver(
        Credentials("the test", Account(api_token=TOKEN)),
        Settings(nameservers=(nameserver.address,), propagation_interval=0.05),
        progress=lambda message: None,
        backend_factory=create_backend,
    )


def test_identical_record_made_by_hand_is_used_and_left_in_place(
    cloudflare_api, solver
):
    cloudflare_api.add_record("example.test", "TXT", NAME, VALUE, "made by hand")

    solver.perform([Challenge(NAME, VALUE)])
    solver.cleanup()

    left = cloudflare_api.records(type="TXT")
    assert [(r["name"], r["content"], r["comment"]) for r in left] == [
        (NAME, VALUE, "made by hand")
    ]


def test_identical_record_left_by_an_earlier_run_is_adopted_and_removed(
    cloudflare_api, solver
):
    cloudflare_api.add_record("example.test", "TXT", NAME, VALUE, COMMENT)
    unrelated = cloudflare_api.add_record("example.test", "TXT", NAME, "other", COMMENT)

    solver.perform([Challenge(NAME, VALUE)])
    solver.cleanup()

    assert [r["id"] for r in cloudflare_api.records(type="TXT")] == [unrelated["id"]]
