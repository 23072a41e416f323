"""No token or key ever shows: not in logs at -vvv, output, renewal conf or errors.

The secrets are distinctive strings that every scenario of the fault, interruption
and bad-input tests uses too; those tests search their runs with the helpers here.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

import pytest

from certbot_dns_cloudflare_ext._internal.credentials import Account, Credentials
from certbot_dns_cloudflare_ext._internal.errors import Error
from certbot_dns_cloudflare_ext._internal.sdk import SdkBackend
from certbot_dns_cloudflare_ext._internal.settings import Settings
from certbot_dns_cloudflare_ext._internal.solver import Challenge, Solver

TOKEN = "faultTok-SECRET-7Qm2xZ9vLk4pWn8rTb3yHc6d"
ZONE_TOKEN = "zoneTok-SECRET-Jf5sNq1wEr7uIo3aSd9gHk2l"
GLOBAL_KEY = "5ec7e7" * 6 + "a"
#: Well-formed but unknown to Cloudflare: what a mistyped or revoked secret is.
UNKNOWN_TOKEN = "unknownTok-SECRET-Xc4vB7nM1qW9eR5tY2uI8oP3"
UNKNOWN_KEY = "badc0de" * 5 + "ab"
EMAIL = "admin@example.test"
SECRETS = (TOKEN, ZONE_TOKEN, GLOBAL_KEY, UNKNOWN_TOKEN, UNKNOWN_KEY)
SOURCE = "/etc/letsencrypt/cloudflare.ini"

#: Two challenges at one name, as for example.test plus *.example.test.
CHALLENGES = (
    Challenge(
        "_acme-challenge.example.test", "apexValue-0123456789abcdefghijklmnopqrstu"
    ),
    Challenge(
        "_acme-challenge.example.test", "wildValue-0123456789abcdefghijklmnopqrstu"
    ),
)


def leaks(text: str) -> list[str]:
    """Return each secret whose value, or the 16-character core of it, is in text."""
    return [secret for secret in SECRETS if secret in text or secret[8:24] in text]


def certbot_leaks(certbot, *results) -> list[str]:
    """Return the secrets found in certbot's output and in every file it wrote.

    That covers letsencrypt.log (always at DEBUG), the renewal conf and the
    account and work files.
    """
    texts = [part for result in results for part in (result.stdout, result.stderr)]
    for directory in (certbot.logs_dir, certbot.config_dir, certbot.work_dir):
        for path in Path(directory).rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("utf-8", "replace"))
    return leaks("\n".join(text or "" for text in texts))


def error_lines(stderr: str) -> list[str]:
    """Return the lines of certbot's stderr that are not its own framing."""
    framing = ("Saving debug log to ", "Ask for help or search for solutions at ")
    lines = stderr.splitlines()
    return [line for line in lines if line and not line.startswith(framing)]


def exception_text(exc: BaseException) -> str:
    """Return all an exception can show: str, repr and the chained traceback."""
    return "".join([str(exc), repr(exc), *traceback.format_exception(exc)])


class FakeClock:
    """Time for the retry loop: sleeping moves it forward at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def solver_for(
    nameserver,
    account: Account | None = None,
    *,
    clock: FakeClock | None = None,
    **options: object,
) -> Solver:
    """Build the real solver and SDK backend, talking to the stand-ins.

    The stand-in API's address comes from CLOUDFLARE_BASE_URL, as in production.
    """
    settings = Settings(
        nameservers=(nameserver.address,),
        propagation_interval=0.05,
        **{"propagation_timeout": 5, **options},
    )
    credentials = Credentials(SOURCE, account or Account(api_token=TOKEN))

    def backend(account: Account, source: str, settings: Settings) -> SdkBackend:
        return SdkBackend(
            account,
            source,
            retries=settings.retries,
            timeout=settings.api_timeout,
            sleep=clock.sleep if clock else time.sleep,
            clock=clock or time.monotonic,
        )

    return Solver(
        credentials, settings, progress=lambda message: None, backend_factory=backend
    )


@pytest.fixture
def api(cloudflare_api, monkeypatch):
    """Serve example.test to every kind of credential the secrets stand for."""
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", cloudflare_api.base_url)
    cloudflare_api.add_zone("example.test")
    cloudflare_api.add_token(TOKEN)
    cloudflare_api.add_token(ZONE_TOKEN, permissions=["zone:read"])
    cloudflare_api.add_global_key(EMAIL, GLOBAL_KEY)
    return cloudflare_api


SPLIT_TOKENS = Account(api_token=TOKEN, zone_api_token=ZONE_TOKEN)
GLOBAL_KEY_ACCOUNT = Account(email=EMAIL, api_key=GLOBAL_KEY)

#: Failure -> (credentials, API fault as (step, kind), nameserver fault).
FAILURES: dict[str, tuple[Account, tuple[str, str] | None, str | None]] = {
    "unknown-token": (Account(api_token=UNKNOWN_TOKEN), None, None),
    "unknown-global-key": (Account(email=EMAIL, api_key=UNKNOWN_KEY), None, None),
    "html-page-on-create": (SPLIT_TOKENS, ("create", "html"), None),
    "dropped-zone-lookup": (GLOBAL_KEY_ACCOUNT, ("zone_list", "drop"), None),
    "nameserver-refuses": (SPLIT_TOKENS, None, "refused"),
}


@pytest.mark.parametrize("failure", FAILURES, ids=list(FAILURES))
def test_failed_run_shows_no_secret_in_error_logs_or_reprs(
    api, nameserver, caplog, failure
):
    account, api_fault, nameserver_fault = FAILURES[failure]
    if api_fault:
        api.inject_fault(*api_fault, times=-1)
    if nameserver_fault:
        nameserver.inject_fault(nameserver_fault, times=-1)
    solver = solver_for(
        nameserver, account, retries=1, propagation_timeout=0.5, api_timeout=1
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(Error) as caught:
        solver.perform(CHALLENGES)
    solver.cleanup()

    shown = [exception_text(caught.value), caplog.text, repr(solver)]
    shown += [repr(solver.credentials), repr(account), repr(solver.settings)]
    shown += [repr(backend) for backend in solver._backends.values()]
    assert leaks("\n".join(shown)) == []
    assert api.records(type="TXT") == []


def test_debug_logs_of_sdk_and_httpx_show_no_secret_while_faults_pass(
    api, nameserver, caplog
):
    api.inject_fault("zone_list", "429")
    api.inject_fault("create", "drop")
    api.inject_fault("delete", "500")
    solver = solver_for(nameserver, SPLIT_TOKENS, clock=FakeClock())
    caplog.set_level(logging.DEBUG)

    solver.perform(CHALLENGES)
    placements = [w.placement for w in solver.written]
    solver.cleanup()

    loggers = {record.name.split(".")[0] for record in caplog.records}
    assert {"cloudflare", "httpx", "httpcore"} <= loggers
    assert leaks(caplog.text + repr(placements) + repr(solver.written)) == []
    assert api.records(type="TXT") == []


def issue(certbot, nameserver, *names, credentials=None, env=None, extra=()):
    """Run certbot certonly at -vvv with the plugin against the stand-ins."""
    args = ["-vvv", "--authenticator", "dns-cloudflare-ext"]
    if credentials:
        args += ["--dns-cloudflare-ext-credentials", str(credentials)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{nameserver.port}"]
    args += [item for name in names for item in ("-d", name)]
    return certbot.run("certonly", *args, *extra, env=env)


@pytest.mark.e2e
def test_issuing_at_vvv_through_faults_shows_no_secret(
    certbot, nameserver, api, credentials_file
):
    for step, kind in [("zone_list", "429"), ("create", "html"), ("delete", "drop")]:
        api.inject_fault(step, kind)
    credentials = credentials_file(
        dns_cloudflare_ext_api_token=TOKEN, dns_cloudflare_ext_zone_api_token=ZONE_TOKEN
    )

    result = issue(certbot, nameserver, "example.test", credentials=credentials)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Request options" in result.stderr, "the SDK's debug log is not shown"
    assert f"= {credentials}" in certbot.renewal_conf("example.test")
    assert certbot_leaks(certbot, result) == []
    assert api.records(type="TXT") == []


@pytest.mark.e2e
def test_failing_at_vvv_with_a_global_key_from_the_environment_shows_no_secret(
    certbot, nameserver, api
):
    api.inject_fault("create", "html", times=-1)
    env = {"CLOUDFLARE_EMAIL": EMAIL, "CLOUDFLARE_API_KEY": GLOBAL_KEY}

    result = issue(
        certbot,
        nameserver,
        "example.test",
        env=env,
        extra=["--dns-cloudflare-ext-retries=1", "--dns-cloudflare-ext-api-timeout=2"],
    )

    assert result.returncode == 1
    assert "Traceback" in result.stderr, "the -vvv traceback is not shown"
    assert certbot_leaks(certbot, result) == []
    assert api.records(type="TXT") == []
