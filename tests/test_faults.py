"""Cloudflare's bad days: transient faults pass, persistent ones end in one line.

The whole matrix runs against the real solver and SDK over HTTP to the stand-in,
with a fake clock for the pauses between retries; a representative subset runs
through certbot and pebble.
"""

from __future__ import annotations

import logging
import re
import time

import pytest

from certbot_dns_cloudflare_ext._internal.errors import (
    CloudflareError,
    PropagationTimeout,
)
from tests.test_secrets import (
    CHALLENGES,
    TOKEN,
    FakeClock,
    certbot_leaks,
    error_lines,
    leaks,
    solver_for,
)

API_STEPS = ("zone_list", "create", "delete")
KINDS = ("429", "10100", "500", "502", "503", "504", "html", "drop", "drop_after")
KINDS += ("slow",)
#: Faults with no answer from the API itself: the request may still be in flight.
NO_ANSWER = ("html", "drop", "drop_after", "slow")
#: Seconds the stand-in stalls a "slow" answer, and the client's timeout then.
SLOW_SECONDS, API_TIMEOUT = 0.8, 0.5

NAME = re.escape(CHALLENGES[0].validation_name)
STEP_WORDS = {
    "zone_list": "look up the zone",
    "create": "create the TXT record",
    "delete": "delete the TXT record",
}
_UNAVAILABLE = (
    r"Cloudflare's API kept failing; try again later \(status: "
    r"https://www\.cloudflarestatus\.com\), or raise --dns-cloudflare-ext-retries "
    r"or --dns-cloudflare-ext-api-timeout"
)
_THROTTLE = "Please wait and consider throttling your request speed"
_DROPPED = r"connection failed without an answer \(RemoteProtocolError\)"
#: Fault -> what the error line says Cloudflare answered, and the hint after it.
ANSWERS = {
    "429": (
        f"error 971: {_THROTTLE}",
        r"Cloudflare rate-limited this account; wait a few minutes, or lower "
        r"--dns-cloudflare-ext-workers",
    ),
    "10100": (
        rf"error 10100: More than 1200 requests per 300 seconds reached\. {_THROTTLE}",
        r"this account made more than 1200 API requests in 5 minutes; wait 5 "
        r"minutes and check for other tools using the same credentials",
    ),
    **{
        status: ("error 10001: Service unavailable", _UNAVAILABLE)
        for status in ("500", "502", "503", "504")
    },
    "html": (r"HTTP 502 Bad Gateway, not a Cloudflare API response", _UNAVAILABLE),
    "drop": (_DROPPED, _UNAVAILABLE),
    "drop_after": (_DROPPED, _UNAVAILABLE),
    "slow": (rf"no answer within {API_TIMEOUT:g} s", _UNAVAILABLE),
}


def error_line(step: str, kind: str, attempts: int, name: str = NAME) -> str:
    """Return the pattern of the one line that a persistent fault ends in."""
    answer, hint = ANSWERS[kind]
    return (
        rf"Cloudflare API failed to {STEP_WORDS[step]} for '{name}' "
        rf"\({answer}; gave up after {attempts} attempts\); {hint}"
    )


def warning_line(kind: str, attempts: int) -> str:
    """Return the pattern of the warning for a record that could not be removed."""
    return (
        rf"Could not remove TXT record {NAME} in zone example\.test; delete it in "
        r"the Cloudflare dashboard: "
        + error_line("delete", kind, attempts, name=r"(?P<id>[0-9a-f]{32})")
    )


@pytest.fixture
def api(cloudflare_api, monkeypatch):
    """Serve example.test to TOKEN, with "slow" answers just over the timeout."""
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.slow_seconds = SLOW_SECONDS
    return cloudflare_api


def options_for(kind: str) -> dict[str, float]:
    # Only faults without an answer get the short timeout, so that a loaded
    # machine never times out an ordinary answer in the other scenarios.
    return {"api_timeout": API_TIMEOUT} if kind in NO_ANSWER else {}


def calls_at(api, step: str) -> list:
    return [call for call in api.calls if call.step == step]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", API_STEPS)
def test_transient_api_fault_is_retried_and_the_run_succeeds(
    api, nameserver, step, kind
):
    api.inject_fault(step, kind, times=2)
    clock = FakeClock()
    solver = solver_for(nameserver, clock=clock, **options_for(kind))

    solver.perform(CHALLENGES)
    solver.cleanup()

    assert api.records(type="TXT") == []
    assert len(clock.pauses) == 2
    if kind in ("429", "10100"):
        # Retry-After: 1, honoured, plus up to a quarter more as jitter.
        assert all(1.0 <= pause <= 1.25 for pause in clock.pauses)
    else:
        assert all(0.375 <= pause <= 1.0 for pause in clock.pauses)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("step", ("zone_list", "create"))
def test_persistent_api_fault_fails_with_one_line_and_leaves_nothing(
    api, nameserver, step, kind
):
    api.inject_fault(step, kind, times=-1)
    solver = solver_for(nameserver, clock=FakeClock(), retries=2, **options_for(kind))

    with pytest.raises(CloudflareError) as caught:
        solver.perform(CHALLENGES)
    solver.cleanup()

    line = str(caught.value)
    assert re.fullmatch(error_line(step, kind, attempts=3), line), line
    assert "<html" not in line.lower() and leaks(line) == []
    # The zone listing, or each of the two creates, made 3 attempts; stalled
    # ones reach the stand-in's books only when it finally answers.
    time.sleep(SLOW_SECONDS if kind == "slow" else 0)
    assert len(calls_at(api, step)) == (6 if step == "create" else 3)
    assert api.records(type="TXT") == []


@pytest.mark.parametrize("kind", KINDS)
def test_persistent_delete_fault_warns_once_per_record_and_names_it(
    api, nameserver, caplog, kind
):
    solver = solver_for(nameserver, clock=FakeClock(), retries=2, **options_for(kind))
    solver.perform(CHALLENGES)
    api.inject_fault("delete", kind, times=-1)

    with caplog.at_level(logging.WARNING):
        solver.cleanup()

    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    matches = [re.fullmatch(warning_line(kind, attempts=3), w) for w in warnings]
    assert len(warnings) == 2 and all(matches), warnings
    # Deletes that were dropped or stalled after Cloudflare got them still land.
    time.sleep(SLOW_SECONDS if kind == "slow" else 0)
    left = {record["id"] for record in api.records(type="TXT")}
    assert left <= {match["id"] for match in matches}


# A timeout costs the 3 s a query waits, so it strikes once, the others twice.
@pytest.mark.parametrize(
    "kind, times", [("servfail", 2), ("refused", 2), ("timeout", 1)]
)
def test_transient_nameserver_fault_is_polled_through(api, nameserver, kind, times):
    nameserver.inject_fault(kind, times=times)
    solver = solver_for(nameserver)

    solver.perform(CHALLENGES)
    solver.cleanup()

    assert nameserver.queries >= times + 1
    assert api.records(type="TXT") == []


@pytest.mark.parametrize(
    "kind, answer",
    [("servfail", "SERVFAIL"), ("refused", "REFUSED"), ("timeout", "timeout")],
)
def test_persistent_nameserver_fault_names_its_answer_and_leaves_nothing(
    api, nameserver, kind, answer
):
    nameserver.inject_fault(kind, times=-1)
    solver = solver_for(nameserver, propagation_timeout=1)

    with pytest.raises(PropagationTimeout) as caught:
        solver.perform(CHALLENGES)
    solver.cleanup()

    assert re.fullmatch(
        r"Cloudflare's nameservers did not serve the TXT records within 1 s "
        rf"\(127\.0\.0\.1:{nameserver.port}: {NAME} {answer}\); "
        r"raise --dns-cloudflare-ext-propagation-timeout",
        str(caught.value),
    ), str(caught.value)
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


def issue(certbot, nameserver, credentials, *extra):
    """Run certbot certonly for example.test and its wildcard through the plugin."""
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    return certbot.run(
        "certonly", *args, "-d", "example.test", "-d", "*.example.test", *extra
    )


@pytest.mark.e2e
def test_transient_faults_at_every_step_still_issue_the_certificate(
    certbot, nameserver, api, credentials_file
):
    faults = [("zone_list", "429"), ("create", "html"), ("create", "drop_after")]
    faults += [("delete", "10100"), ("delete", "slow")]
    for step, kind in faults:
        api.inject_fault(step, kind)
    nameserver.inject_fault("servfail")
    nameserver.inject_fault("refused")
    credentials = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    result = issue(
        certbot,
        nameserver,
        credentials,
        f"--dns-cloudflare-ext-api-timeout={API_TIMEOUT}",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    names = certbot.certificate_names("example.test")
    assert names == ["*.example.test", "example.test"]
    assert error_lines(result.stderr) == []
    assert api.records(type="TXT") == []
    assert certbot_leaks(certbot, result) == []


@pytest.mark.e2e
@pytest.mark.parametrize("step, kind", [("zone_list", "10100"), ("create", "html")])
def test_persistent_fault_ends_certbot_with_one_line(
    certbot, nameserver, api, credentials_file, step, kind
):
    api.inject_fault(step, kind, times=-1)
    credentials = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    # A create without an answer may still land; cleanup waits one timeout for it.
    result = issue(
        certbot,
        nameserver,
        credentials,
        "--dns-cloudflare-ext-retries=1",
        "--dns-cloudflare-ext-api-timeout=2",
    )

    assert result.returncode == 1
    assert len(error_lines(result.stderr)) == 1, result.stderr
    assert re.fullmatch(
        error_line(step, kind, attempts=2), error_lines(result.stderr)[0]
    )
    assert "Traceback" not in result.stderr
    assert api.records(type="TXT") == []
    assert certbot_leaks(certbot, result) == []


@pytest.mark.e2e
def test_persistent_delete_fault_is_a_warning_and_the_certificate_is_issued(
    certbot, nameserver, api, credentials_file
):
    api.inject_fault("delete", "503", times=-1)
    credentials = credentials_file(dns_cloudflare_ext_api_token=TOKEN)

    result = issue(certbot, nameserver, credentials, "--dns-cloudflare-ext-retries=1")

    assert result.returncode == 0, result.stderr[-3000:]
    names = certbot.certificate_names("example.test")
    assert names == ["*.example.test", "example.test"]
    matches = [
        re.fullmatch(warning_line("503", attempts=2), line)
        for line in error_lines(result.stderr)
    ]
    assert len(matches) == 2 and all(matches), result.stderr
    # What is left is exactly what the warnings name, for the admin to delete.
    left = sorted(record["id"] for record in api.records(type="TXT"))
    assert sorted(match["id"] for match in matches) == left
    assert certbot_leaks(certbot, result) == []
