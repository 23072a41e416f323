"""Polling Cloudflare's nameservers: schedule, evidence on timeout, TXT matching."""

from __future__ import annotations

import logging
import re

import pytest

from certbot_dns_cloudflare_ext._internal import lookup
from certbot_dns_cloudflare_ext._internal.errors import PropagationTimeout
from certbot_dns_cloudflare_ext._internal.lookup import Address, Answer
from certbot_dns_cloudflare_ext._internal.propagation import (
    Expectation,
    wait_for_propagation,
)

NAME = "_acme-challenge.example.test"
VALUE = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
ADA = ("192.0.2.1", 53)
BOB = ("2001:db8::2", 5353)


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeNameservers:
    """Answer TXT queries like nameservers that start serving a value at a time.

    ``serving[(address, name)]`` is ``(since, values)``; before ``since`` the
    name does not exist. ``failing[address]`` is a status that address gives
    instead of any answer, or an exception it raises.
    """

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.serving: dict[tuple[Address, str], tuple[float, set[str]]] = {}
        self.failing: dict[Address, str] = {}
        self.asked: list[tuple[float, Address, str, str]] = []

    def serve(self, address: Address, name: str, *values: str, since: float = 0):
        self.serving[(address, name)] = (since, set(values))

    def query(self, address: Address, name: str, rdtype: str) -> Answer:
        self.asked.append((self.clock.now, address, name, rdtype))
        if address in self.failing:
            return Answer(self.failing[address])
        since, values = self.serving.get((address, name), (float("inf"), set()))
        if self.clock.now < since:
            return Answer("NXDOMAIN")
        return Answer("NOERROR", frozenset(values))

    def check_times(self) -> list[float]:
        return sorted({when for when, *_ in self.asked})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def servers(clock: FakeClock) -> FakeNameservers:
    return FakeNameservers(clock)


def wait(expectations, clock, servers, *, timeout=120.0, interval=2.0, shown=None):
    return wait_for_propagation(
        expectations,
        timeout=timeout,
        interval=interval,
        progress=(shown if shown is not None else []).append,
        query=servers.query,
        clock=clock,
        sleep=clock.sleep,
    )


def expect(address: Address, name: str = NAME, *values: str) -> Expectation:
    return Expectation(address, name, frozenset(values or {VALUE}))


def test_record_served_at_once_needs_one_check_and_no_message(clock, servers):
    servers.serve(ADA, NAME, VALUE)
    shown: list[str] = []

    waited = wait([expect(ADA)], clock, servers, shown=shown)

    assert waited == 0
    assert servers.asked == [(0.0, ADA, NAME, "TXT")]
    assert shown == []


@pytest.mark.parametrize(
    ("served_after", "interval", "checks"),
    [
        (3.0, 2.0, [0, 0.5, 1.5, 3.5]),
        (7.0, 2.0, [0, 0.5, 1.5, 3.5, 5.5, 7.5]),
        (0.4, 0.25, [0, 0.25, 0.5]),
        (12.0, 5.0, [0, 0.5, 1.5, 3.5, 7.5, 12.5]),
    ],
)
def test_checks_come_fast_at_first_then_every_interval(
    clock, servers, served_after, interval, checks
):
    servers.serve(ADA, NAME, VALUE, since=served_after)

    waited = wait([expect(ADA)], clock, servers, interval=interval)

    assert servers.check_times() == checks
    assert waited == checks[-1]


def test_every_address_must_serve_and_a_served_one_is_not_asked_again(clock, servers):
    servers.serve(ADA, NAME, VALUE, since=0)
    servers.serve(BOB, NAME, VALUE, since=1)

    waited = wait([expect(ADA), expect(BOB)], clock, servers)

    assert waited == 1.5
    assert [(when, address) for when, address, *_ in servers.asked] == [
        (0, ADA),
        (0, BOB),
        (0.5, BOB),
        (1.5, BOB),
    ]


def test_every_value_at_a_name_must_be_served(clock, servers):
    # Apex and wildcard certificates put two values at the same name.
    other = "9vR0pN1bWkX4S7cU3mE2gH5jK8lQ6tY0zA1sD3fG4hJ"
    servers.serve(ADA, NAME, VALUE, since=0)

    with pytest.raises(PropagationTimeout) as raised:
        wait([expect(ADA, NAME, VALUE, other)], clock, servers, timeout=5)

    assert raised.value.answers == {"192.0.2.1:53": f"{NAME} missing 1 of 2 values"}


@pytest.mark.parametrize(
    "served",
    [
        pytest.param({VALUE.lower()}, id="other-case"),
        pytest.param({VALUE[:-1]}, id="prefix"),
        pytest.param({f" {VALUE}"}, id="leading-space"),
        pytest.param(set(), id="empty-rrset"),
    ],
)
def test_a_value_that_differs_in_any_way_does_not_count(clock, servers, served):
    servers.serve(ADA, NAME, *served)

    with pytest.raises(PropagationTimeout):
        wait([expect(ADA)], clock, servers, timeout=3)


def test_timeout_lists_each_nameserver_last_answer(clock, servers):
    addresses = {
        "missing": ("192.0.2.1", 53),
        "nxdomain": ("192.0.2.2", 53),
        "refused": ("192.0.2.3", 53),
        "timeout": ("192.0.2.4", 53),
        "network": ("2001:db8::5", 53),
    }
    servers.serve(addresses["missing"], NAME, "stale-value")
    servers.failing[addresses["refused"]] = "REFUSED"
    servers.failing[addresses["timeout"]] = "timeout"
    servers.failing[addresses["network"]] = "network error (ConnectionRefusedError)"

    with pytest.raises(PropagationTimeout) as raised:
        wait([expect(a) for a in addresses.values()], clock, servers, timeout=10)

    assert re.fullmatch(
        r"Cloudflare's nameservers did not serve the TXT records within 10 s \("
        rf"192\.0\.2\.1:53: {NAME} missing 1 of 1 values; "
        rf"192\.0\.2\.2:53: {NAME} NXDOMAIN; "
        rf"192\.0\.2\.3:53: {NAME} REFUSED; "
        rf"192\.0\.2\.4:53: {NAME} timeout; "
        rf"\[2001:db8::5\]:53: {NAME} network error \(ConnectionRefusedError\)"
        r"\); 192\.0\.2\.4:53, \[2001:db8::5\]:53 never answered: let DNS through to "
        r"them, or name the nameservers to ask with --dns-cloudflare-ext-nameservers",
        str(raised.value),
    )


def test_last_check_runs_exactly_at_the_deadline(clock, servers):
    servers.serve(ADA, NAME, VALUE, since=6.0)

    waited = wait([expect(ADA)], clock, servers, timeout=6)

    assert waited == 6.0
    assert servers.check_times() == [0, 0.5, 1.5, 3.5, 5.5, 6.0]


def test_progress_names_records_servers_and_time_every_ten_seconds(clock, servers):
    two_names = [expect(a, n) for a in (ADA, BOB) for n in (NAME, f"{NAME}.x")]
    for address in (ADA, BOB):
        servers.serve(address, NAME, VALUE, since=0)
        servers.serve(address, f"{NAME}.x", VALUE, since=25)
    shown: list[str] = []

    wait(two_names, clock, servers, shown=shown)

    assert shown == [
        f"Waiting for 2 TXT records on 2 Cloudflare nameservers ({s} s of 120 s)"
        for s in (0, 12, 22)
    ]


def test_each_check_is_logged_at_debug(clock, servers, caplog):
    servers.serve(ADA, NAME, VALUE, since=1)
    caplog.set_level(logging.DEBUG, logger="certbot_dns_cloudflare_ext")

    wait([expect(ADA)], clock, servers)

    polls = [r for r in caplog.records if r.getMessage().startswith("Propagation")]
    assert [r.levelno for r in polls] == [logging.DEBUG] * 3
    assert [r.getMessage() for r in polls] == [
        f"Propagation check 1 at 0.0 s: 0 of 1 answers complete; "
        f"192.0.2.1:53: {NAME} NXDOMAIN",
        f"Propagation check 2 at 0.5 s: 0 of 1 answers complete; "
        f"192.0.2.1:53: {NAME} NXDOMAIN",
        "Propagation check 3 at 1.5 s: 1 of 1 answers complete",
    ]


@pytest.mark.parametrize(
    ("content", "served"),
    [
        pytest.param(VALUE, VALUE, id="plain"),
        pytest.param(f'"{VALUE}"', VALUE, id="quoted"),
        pytest.param(f'"{VALUE[:20]}" "{VALUE[20:]}"', VALUE, id="split-quoted"),
        pytest.param("x" * 300, "x" * 300, id="split-at-255"),
        pytest.param(f'"\\"{VALUE}\\""', f'"{VALUE}"', id="literal-quotes-kept"),
        pytest.param('"a b" "c"', "a bc", id="strings-joined-as-is"),
    ],
)
def test_real_txt_answers_are_joined_and_compared_exactly(
    cloudflare_api, nameserver, content, served
):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_record("example.test", "TXT", NAME, content)

    answer = lookup.query(nameserver.address, NAME, "TXT")

    assert answer == Answer("NOERROR", frozenset({served}))


def test_real_wait_sees_a_quoted_split_record(cloudflare_api, nameserver):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_record(
        "example.test", "TXT", NAME, f'"{VALUE[:9]}" "{VALUE[9:]}"'
    )
    cloudflare_api.add_record("example.test", "TXT", NAME, "unrelated")

    waited = wait_for_propagation(
        [Expectation(nameserver.address, NAME, frozenset({VALUE}))],
        timeout=5,
        interval=1,
        progress=pytest.fail,
    )

    assert waited < 1


@pytest.mark.parametrize(
    ("name", "status", "zone"),
    [
        pytest.param(f"missing.{NAME}", "NXDOMAIN", "example.test", id="nxdomain"),
        pytest.param("example.test", "NOERROR", "example.test", id="apex"),
        pytest.param("nowhere.invalid", "REFUSED", None, id="no-zone"),
    ],
)
def test_real_answers_name_the_zone_they_come_from(
    cloudflare_api, nameserver, name, status, zone
):
    cloudflare_api.add_zone("example.test")

    answer = lookup.query(nameserver.address, name, "SOA")

    assert (answer.status, answer.zone) == (status, zone)


def test_unreachable_server_is_a_network_error_or_timeout():
    answer = lookup.query(("127.0.0.1", 9), NAME, "TXT", timeout=0.5)

    assert answer.status in ("timeout", "network error (ConnectionRefusedError)")


def test_nameserver_named_in_the_hosts_file_is_asked(cloudflare_api, nameserver):
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_record("example.test", "TXT", NAME, VALUE)
    port = nameserver.address[1]

    servers = lookup.addresses_of([("localhost", port)])

    assert servers == [("127.0.0.1", port)]
    assert lookup.query(servers[0], NAME, "TXT").values == {VALUE}
