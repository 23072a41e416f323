"""Cloudflare's bad days: transient faults pass, persistent ones end in one line.

Every fault kind at every API step, and every nameserver fault, runs through
certbot and pebble. The pauses between retries are checked against the solver
with a fake clock, where they can be measured exactly.
"""

from __future__ import annotations

import re
import time

import pytest

from certbot_dns_cloudflare_ext._internal.errors import CloudflareError
from tests.test_secrets import (
    CHALLENGES,
    TOKEN,
    FakeClock,
    certbot_leaks,
    error_lines,
    solver_for,
)

API_STEPS = ("zone_list", "create", "delete")
KINDS = ("429", "10100", "500", "502", "503", "504", "html", "drop", "drop_after")
KINDS += ("slow",)
RATE_LIMITS = ("429", "10100")
#: Faults with no answer from the API itself: the request may still be in flight.
NO_ANSWER = ("html", "drop", "drop_after", "slow")
#: Faults that let the request through and lose only its answer.
LANDS = ("drop_after", "slow")
#: Seconds the client waits for an answer, and the stand-in stalls a "slow" one.
#: A stalled create must land within two timeouts, when cleanup looks for it.
API_TIMEOUT, SLOW_SECONDS = 0.5, 0.75
#: API calls of a run without faults: one zone lookup, then a create and a
#: delete for each of the two challenges of example.test and *.example.test.
CALLS = {"zone_list": 1, "create": 2, "delete": 2}
#: Kinds in pairs: each run meets both at every API step, five runs meet all ten.
PAIRS = [("429", "10100"), ("500", "502"), ("503", "504"), ("html", "drop")]
PAIRS += [("drop_after", "slow")]
#: Names whose records all differ, so that each delete can meet a fault of its own.
MANY_NAMES = tuple(f"n{index}.example.test" for index in range(len(KINDS)))

NAME = CHALLENGES[0].validation_name
STEP_WORDS = {
    "zone_list": "look up the zone",
    "create": "create the TXT record",
    "delete": "delete the TXT record",
}
_UNAVAILABLE = (
    "Cloudflare's API kept failing; try again later (status: "
    "https://www.cloudflarestatus.com), or raise --dns-cloudflare-ext-retries "
    "or --dns-cloudflare-ext-api-timeout"
)
_THROTTLE = "Please wait and consider throttling your request speed"
_DROPPED = "connection to 127.0.0.1 failed without an answer (RemoteProtocolError)"
#: Fault -> what the error line says Cloudflare answered, and the hint after it.
ANSWERS = {
    "429": (
        f"error 971: {_THROTTLE}",
        "Cloudflare rate-limited this account; wait a few minutes, or lower "
        "--dns-cloudflare-ext-workers",
    ),
    "10100": (
        f"error 10100: More than 1200 requests per 300 seconds reached. {_THROTTLE}",
        "this account made more than 1200 API requests in 5 minutes; wait 5 "
        "minutes and check for other tools using the same credentials",
    ),
    **{
        status: ("error 10001: Service unavailable", _UNAVAILABLE)
        for status in ("500", "502", "503", "504")
    },
    "html": ("HTTP 502 Bad Gateway, not a Cloudflare API response", _UNAVAILABLE),
    "drop": (_DROPPED, _UNAVAILABLE),
    "drop_after": (_DROPPED, _UNAVAILABLE),
    "slow": (f"no answer within {API_TIMEOUT:g} s", _UNAVAILABLE),
}
#: A warning for a record that could not be removed, split into what it names.
WARNING = re.compile(
    r"Could not remove TXT record (?P<name>\S+) in zone example\.test; delete it "
    r"in the Cloudflare dashboard: Cloudflare API failed to delete the TXT record "
    r"for '(?P=name)' \((?P<answer>.+); gave up after 2 attempts\); (?P<hint>.+)"
)
#: The plugin's record of one propagation check: what the nameserver answered.
PROPAGATION_CHECK = re.compile(r"Propagation check \d+ at [\d.]+ s: (.+)")


def error_line(step: str, kind: str, attempts: int) -> str:
    """Return the one line that a persistent fault at `step` ends in."""
    answer, hint = ANSWERS[kind]
    return (
        f"Cloudflare API failed to {STEP_WORDS[step]} for {NAME!r} "
        f"({answer}; gave up after {attempts} attempts); {hint}"
    )


@pytest.fixture
def api(cloudflare_api, monkeypatch):
    """Serve example.test to TOKEN, with "slow" answers just over the timeout."""
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.slow_seconds = SLOW_SECONDS
    return cloudflare_api


@pytest.fixture
def credentials(credentials_file):
    return credentials_file(dns_cloudflare_ext_api_token=TOKEN)


def timeout_options(*kinds: str) -> list[str]:
    # Only runs with a fault without an answer get the short timeout, so that a
    # loaded machine never times out an ordinary answer in the other runs.
    if set(kinds) & set(NO_ANSWER):
        return [f"--dns-cloudflare-ext-api-timeout={API_TIMEOUT}"]
    return []


def settle(*kinds: str) -> None:
    """Wait out stalled requests: the stand-in counts a call once it answers."""
    if "slow" in kinds:
        time.sleep(SLOW_SECONDS)


def calls_at(api, step: str) -> list:
    return [call for call in api.calls if call.step == step]


def calls_by_step(api) -> dict[str, int]:
    return {step: len(calls_at(api, step)) for step in API_STEPS}


def issue(certbot, nameserver, credentials, *options, names=None):
    """Run certbot certonly through the plugin, for example.test and its wildcard."""
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    for name in names or ("example.test", "*.example.test"):
        args += ["-d", name]
    return certbot.run("certonly", *args, *options)


# -- Through certbot and pebble: API faults --------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("kinds", PAIRS, ids="+".join)
def test_transient_faults_at_every_api_step_are_retried_and_the_certificate_is_issued(
    certbot, nameserver, api, credentials, kinds
):
    for step in API_STEPS:
        for kind in kinds:
            api.inject_fault(step, kind)

    # The one zone lookup meets both faults in a row, so it needs both retries.
    result = issue(
        certbot,
        nameserver,
        credentials,
        "--dns-cloudflare-ext-retries=2",
        *timeout_options(*kinds),
    )

    assert result.returncode == 0, result.stderr[-3000:]
    names = certbot.certificate_names("example.test")
    assert names == ["*.example.test", "example.test"]
    assert error_lines(result.stderr) == []
    settle(*kinds)
    assert calls_by_step(api) == {step: n + len(kinds) for step, n in CALLS.items()}
    retries = re.findall(r"; retry [12] of 2 in ", certbot.log_text())
    assert len(retries) == len(API_STEPS) * len(kinds)
    assert api.records(type="TXT") == []
    assert certbot_leaks(certbot, result) == []


@pytest.mark.e2e
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", ("zone_list", "create"))
def test_persistent_api_fault_ends_certbot_with_one_line_and_leaves_nothing(
    certbot, nameserver, api, credentials, step, kind
):
    api.inject_fault(step, kind, times=-1)

    result = issue(
        certbot,
        nameserver,
        credentials,
        "--dns-cloudflare-ext-retries=1",
        *timeout_options(kind),
    )

    assert result.returncode == 1
    assert error_lines(result.stderr) == [error_line(step, kind, attempts=2)]
    shown = result.stdout + result.stderr
    assert "Traceback" not in shown and "<html" not in shown.lower()
    settle(kind)
    assert len(calls_at(api, step)) == 2 * CALLS[step]
    assert api.records(type="TXT") == []
    assert certbot_leaks(certbot, result) == []


@pytest.mark.e2e
def test_persistent_delete_faults_warn_once_per_record_and_the_certificate_is_issued(
    certbot, nameserver, api, credentials
):
    # One worker deletes the records one after another, so each delete spends
    # both its attempts on a kind of its own: ten records meet all ten kinds.
    for kind in KINDS:
        api.inject_fault("delete", kind, times=2)

    result = issue(
        certbot,
        nameserver,
        credentials,
        "--dns-cloudflare-ext-retries=1",
        "--dns-cloudflare-ext-workers=1",
        *timeout_options(*KINDS),
        names=MANY_NAMES,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert certbot.certificate_names(MANY_NAMES[0]) == sorted(MANY_NAMES)
    warnings = [WARNING.fullmatch(line) for line in error_lines(result.stderr)]
    assert len(warnings) == len(KINDS) and all(warnings), result.stderr
    said = sorted((warning["answer"], warning["hint"]) for warning in warnings)
    assert said == sorted(ANSWERS[kind] for kind in KINDS)
    named = sorted(warning["name"] for warning in warnings)
    assert named == sorted(f"_acme-challenge.{name}" for name in MANY_NAMES)
    settle(*KINDS)
    assert len(calls_at(api, "delete")) == 2 * len(KINDS)
    # What is left is what the warnings name, for the admin to delete; only the
    # deletes that got through before their answer was lost removed theirs.
    left = {record["name"] for record in api.records(type="TXT")}
    assert left <= set(named)
    gone = [warning["answer"] for warning in warnings if warning["name"] not in left]
    assert sorted(gone) == sorted(ANSWERS[kind][0] for kind in LANDS)
    assert certbot_leaks(certbot, result) == []


# -- Through certbot and pebble: nameserver faults -------------------------------


@pytest.mark.e2e
def test_transient_nameserver_faults_are_polled_through_and_the_certificate_is_issued(
    certbot, nameserver, api, credentials
):
    for kind in ("servfail", "refused", "timeout"):
        nameserver.inject_fault(kind)

    result = issue(
        certbot,
        nameserver,
        credentials,
        "--dns-cloudflare-ext-propagation-interval=0.2",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    names = certbot.certificate_names("example.test")
    assert names == ["*.example.test", "example.test"]
    assert error_lines(result.stderr) == []
    # The plugin met all three faults, so none was left for pebble's checks.
    server = f"127.0.0.1:{nameserver.port}"
    assert PROPAGATION_CHECK.findall(certbot.log_text()) == [
        f"0 of 1 answers complete; {server}: {NAME} SERVFAIL",
        f"0 of 1 answers complete; {server}: {NAME} REFUSED",
        f"0 of 1 answers complete; {server}: {NAME} timeout",
        "1 of 1 answers complete",
    ]
    assert api.records(type="TXT") == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    "kind, answer",
    [("servfail", "SERVFAIL"), ("refused", "REFUSED"), ("timeout", "timeout")],
)
def test_persistent_nameserver_fault_ends_certbot_with_one_line_and_leaves_nothing(
    certbot, nameserver, api, credentials, kind, answer
):
    nameserver.inject_fault(kind, times=-1)

    result = issue(
        certbot,
        nameserver,
        credentials,
        "--dns-cloudflare-ext-propagation-timeout=1",
        "--dns-cloudflare-ext-propagation-interval=0.2",
    )

    server = f"127.0.0.1:{nameserver.port}"
    # More time helps a server that answers; one that never does needs another fix.
    fix = "raise --dns-cloudflare-ext-propagation-timeout"
    if kind == "timeout":
        fix = (
            f"{server} never answered: let DNS through to it, or name the "
            "nameservers to ask with --dns-cloudflare-ext-nameservers"
        )
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        "Cloudflare's nameservers did not serve the TXT records within 1 s "
        f"({server}: {NAME} {answer}); {fix}"
    ]
    assert "Traceback" not in result.stdout + result.stderr
    assert api.records(type="TXT") == []


# -- The retry policy, timed on a fake clock -------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_pauses_between_retries_honour_retry_after_or_back_off(api, nameserver, kind):
    api.inject_fault("zone_list", kind, times=2)
    clock = FakeClock()
    timeout = {"api_timeout": API_TIMEOUT} if kind in NO_ANSWER else {}
    solver = solver_for(nameserver, clock=clock, **timeout)

    solver.perform(CHALLENGES)
    solver.cleanup()

    # Retry-After: 1 is honoured, plus up to a quarter more as jitter; else the
    # pause starts at half a second and doubles, less up to a quarter.
    if kind in RATE_LIMITS:
        bounds = [(1.0, 1.25), (1.0, 1.25)]
    else:
        bounds = [(0.375, 0.5), (0.75, 1.0)]
    assert len(clock.pauses) == len(bounds), clock.pauses
    for pause, (low, high) in zip(clock.pauses, bounds, strict=True):
        assert low <= pause <= high, clock.pauses
    settle(kind)
    assert len(calls_at(api, "zone_list")) == 3
    assert api.records(type="TXT") == []


class CrawlingClock(FakeClock):
    """A clock on which every attempt seems to take 50 seconds."""

    def __call__(self) -> float:
        self.now += 50
        return self.now


def test_retries_stop_when_two_minutes_are_spent_whatever_the_count(api, nameserver):
    api.inject_fault("zone_list", "503", times=-1)
    solver = solver_for(nameserver, clock=CrawlingClock(), retries=10)

    with pytest.raises(CloudflareError, match="; gave up after 3 attempts"):
        solver.perform(CHALLENGES)

    assert len(calls_at(api, "zone_list")) == 3
