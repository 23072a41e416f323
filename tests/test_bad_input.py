"""Users' bad input through the real certbot: one line naming it, or it works.

Every row of the table is a certbot run (rows that should simply work share
two runs). Runs that fail before the network are quick, and all runs go side by
side, each against its own stand-in API so that its calls can be told apart.
"""

from __future__ import annotations

import contextlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.certbot import Certbot
from tests.harness.cloudflare_api import CloudflareAPI
from tests.test_secrets import (
    EMAIL,
    GLOBAL_KEY,
    TOKEN,
    certbot_leaks,
    error_lines,
)

pytestmark = pytest.mark.e2e

ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
#: Zones of the account, for the runs where bad-looking input should just work.
ZONES = ("example.test", "sub.example.test", "example.co.uk", "bücher.test")


def ini(*lines: str) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


TOKEN_LINE = f"dns_cloudflare_ext_api_token = {TOKEN}"


@dataclass(frozen=True)
class Run:
    """One certbot run: its credentials file, file mode, names and options."""

    credentials: bytes | None = ini(TOKEN_LINE)
    mode: int = 0o600
    names: tuple[str, ...] = ("example.test",)
    options: tuple[str, ...] = ()
    directory: bool = False


RUNS = {
    "missing": Run(credentials=None),
    "directory": Run(directory=True),
    "empty": Run(b""),
    "utf16": Run(ini(TOKEN_LINE).decode().encode("utf-16")),
    "misspelt": Run(ini(f"dns_cloudflare_ext_api_tokn = {TOKEN}")),
    "bare-token": Run(ini(TOKEN)),
    "colon": Run(ini(f"dns_cloudflare_ext_api_token: {TOKEN}")),
    "newline": Run(ini(f'dns_cloudflare_ext_api_token = """{TOKEN}', '"""')),
    "space-in-quotes": Run(ini(f'dns_cloudflare_ext_api_token = "{TOKEN} "')),
    "control": Run(ini(f"dns_cloudflare_ext_api_token = {TOKEN[:8]}\x07{TOKEN[8:]}")),
    "token-as-key": Run(
        ini(
            f"dns_cloudflare_ext_email = {EMAIL}",
            f"dns_cloudflare_ext_api_key = {TOKEN}",
        )
    ),
    "key-alone": Run(ini(f"dns_cloudflare_ext_api_key = {GLOBAL_KEY}")),
    "token-as-key-alone": Run(ini(f"dns_cloudflare_ext_api_key = {TOKEN}")),
    "key-as-token": Run(ini(f"dns_cloudflare_ext_api_token = {GLOBAL_KEY}")),
    "unmatched-quote": Run(ini(f'dns_cloudflare_ext_api_token = "{TOKEN}')),
    "sections-only": Run(ini("[example.test]", TOKEN_LINE), names=("deleg.test",)),
    "token-and-key": Run(
        ini(
            TOKEN_LINE,
            f"dns_cloudflare_ext_email = {EMAIL}",
            f"dns_cloudflare_ext_api_key = {GLOBAL_KEY}",
        )
    ),
    # BOM, CRLF, quotes and mode 0644 at once: each alone must work as well.
    "quirky": Run(
        f'\ufeffdns_cloudflare_ext_api_token = "{TOKEN}"\r\n'.encode(), mode=0o644
    ),
    "names": Run(
        ini(f"{TOKEN_LINE} \t "),
        names=(
            "EXAMPLE.TEST.",
            "a.b.c.d.deep.example.test",
            "host.sub.example.test",
            "www.example.co.uk",
            "xn--bcher-kva.test",
        ),
    ),
    "unicode": Run(names=("bücher.test",)),
    "foreign": Run(names=("www.example.org",)),
    "pin-swapped": Run(
        ini(TOKEN_LINE, f"dns_cloudflare_ext_zone_id = {ZONE_ID}:example.test")
    ),
    "pin-name": Run(
        ini(TOKEN_LINE, "dns_cloudflare_ext_zone_id = example.test:example.test")
    ),
    "pin-unknown": Run(
        ini(TOKEN_LINE, f"dns_cloudflare_ext_zone_id = example.test:{ZONE_ID}")
    ),
    "negative-timeout": Run(options=("--dns-cloudflare-ext-propagation-timeout=-5",)),
    "zero-interval": Run(options=("--dns-cloudflare-ext-propagation-interval=0",)),
    "ttl": Run(options=("--dns-cloudflare-ext-ttl=30",)),
    "nameservers": Run(
        options=("--dns-cloudflare-ext-nameservers=ns1.example.test:dns",)
    ),
    "api-timeout": Run(options=("--dns-cloudflare-ext-api-timeout=-1",)),
}
#: Runs where the input should just work; they share the account's API.
WORKING = ("quirky", "names")


@dataclass(frozen=True)
class Row:
    """One bad input and what the user sees: the one line, or a certificate."""

    id: str
    run: str
    line: str | None = None
    calls: bool = False
    zone: str | None = None


_PARSE = (
    r"{path}: cannot be parsed \(line 1 is neither key = value nor a \[section\]\); "
    r"write one key = value per line, quoting a value with matching quotes"
)
_WHITESPACE = (
    r"{path}: dns_cloudflare_ext_api_token: has leading or trailing whitespace; "
    r"remove the spaces or line break around the value"
)
_PIN = (
    r"{path}: dns_cloudflare_ext_zone_id: has '%s', which is not zone:id with a "
    r"32-hex-digit id; write it as example\.com:<zone id from the zone's Overview page>"
)
_WORLD = r"Unsafe permissions on credentials configuration file: {path}"

ROWS = [
    # The credentials file.
    Row(
        "file-missing",
        "missing",
        r"{path}: does not exist; create it, or correct "
        r"--dns-cloudflare-ext-credentials \(for certbot renew, the "
        r"dns_cloudflare_ext_credentials line of the renewal conf\)",
    ),
    Row(
        "file-is-a-directory",
        "directory",
        r"{path}: is a directory; give the path "
        r"of the ini file, not of its directory",
    ),
    Row(
        "file-empty",
        "empty",
        r"{path}: holds no Cloudflare credentials; set "
        r"dns_cloudflare_ext_api_token \(or dns_cloudflare_ext_email with "
        r"dns_cloudflare_ext_api_key\)",
    ),
    Row("file-not-utf8", "utf16", r"{path}: is not UTF-8 text; save it as UTF-8"),
    Row("file-with-bom", "quirky", _WORLD),
    Row("file-with-crlf", "quirky", _WORLD),
    Row("file-world-readable-warns", "quirky", _WORLD),
    Row(
        "key-misspelt",
        "misspelt",
        r"{path}: dns_cloudflare_ext_api_tokn: is not a "
        r"known key; did you mean dns_cloudflare_ext_api_token\?",
    ),
    Row("key-missing-token-alone", "bare-token", _PARSE),
    Row("key-with-colon", "colon", _PARSE),
    Row("token-in-quotes", "quirky", _WORLD),
    Row("token-trailing-whitespace", "names"),
    Row("token-with-newline", "newline", _WHITESPACE),
    Row("token-whitespace-inside-quotes", "space-in-quotes", _WHITESPACE),
    Row(
        "token-control-character",
        "control",
        r"{path}: dns_cloudflare_ext_api_token: "
        r"contains a control character; copy the value again from the Cloudflare "
        r"dashboard",
    ),
    Row(
        "token-in-api-key-slot",
        "token-as-key",
        r"{path}: dns_cloudflare_ext_api_key: "
        r"holds an API token, not a Global API Key; move it to "
        r"dns_cloudflare_ext_api_token and remove dns_cloudflare_ext_email",
    ),
    Row(
        "token-in-api-key-slot-without-email",
        "token-as-key-alone",
        r"{path}: dns_cloudflare_ext_api_key: holds an API token, not a Global API "
        r"Key; move it to dns_cloudflare_ext_api_token",
    ),
    Row(
        "global-key-in-api-token-slot",
        "key-as-token",
        r"{path}: dns_cloudflare_ext_api_token: looks like a Global API Key \(37 hex "
        r"digits\), not an API token; move it to dns_cloudflare_ext_api_key with "
        r"dns_cloudflare_ext_email, or create an API token at "
        r"https://dash\.cloudflare\.com/profile/api-tokens",
    ),
    Row(
        "token-unmatched-quote",
        "unmatched-quote",
        r"{path}: cannot be parsed \(line 1 has a value whose quotes do not match\); "
        r"write one key = value per line, quoting a value with matching quotes",
    ),
    Row(
        "key-without-email",
        "key-alone",
        r"{path}: dns_cloudflare_ext_email: is "
        r"missing but a Global API Key is given; add the email address of the "
        r"Cloudflare account",
    ),
    Row(
        "token-and-key",
        "token-and-key",
        r"{path}: dns_cloudflare_ext_api_token: is "
        r"given together with an email or Global API Key; keep only the token, or "
        r"only dns_cloudflare_ext_email and dns_cloudflare_ext_api_key",
    ),
    # Domains and zones.
    Row("name-upper-case", "names", zone="example.test"),
    Row("name-trailing-dot", "names", zone="example.test"),
    Row("name-deep-subdomain", "names", zone="example.test"),
    Row("name-punycode-idn", "names", zone="xn--bcher-kva.test"),
    Row("name-under-public-suffix", "names", zone="example.co.uk"),
    Row("name-in-sub-zone-longest-wins", "names", zone="sub.example.test"),
    Row(
        "name-unicode-idn",
        "unicode",
        r"Non-ASCII domain names not supported\. To "
        r"issue for an Internationalized Domain Name, use Punycode\.",
    ),
    Row(
        "name-zone-not-in-account",
        "foreign",
        r"No Cloudflare zone for "
        r"'_acme-challenge\.www\.example\.org' is visible to the credentials in "
        r"{path} \(tried www\.example\.org, example\.org, org\); add the domain to "
        r"this Cloudflare account, or give the token access to its zone",
        calls=True,
    ),
    Row(
        "name-outside-every-section",
        "sections-only",
        r"{path}: no \[section\] covers '_acme-challenge\.deleg\.test' and the file "
        r"has no default credentials; add default dns_cloudflare_ext_api_token or a "
        r"\[zone\] section for its zone",
    ),
    Row("pin-id-where-name-goes", "pin-swapped", _PIN % f"{ZONE_ID}:example\\.test"),
    Row("pin-name-where-id-goes", "pin-name", _PIN % r"example\.test:example\.test"),
    Row(
        "pin-id-unknown",
        "pin-unknown",
        r"Cloudflare API failed to create the TXT "
        r"record for '_acme-challenge\.example\.test' \(error 7003: Could not route "
        rf"to /client/v4/zones/{ZONE_ID}/dns_records, perhaps your object identifier "
        r"is invalid\?\); the zone id is wrong; check the zone ids in {path} "
        r"against the zone's Overview page",
        calls=True,
    ),
    # Option values.
    Row(
        "timeout-negative",
        "negative-timeout",
        r"--dns-cloudflare-ext-propagation-"
        r"timeout=-5 is not usable; use a positive number of seconds",
    ),
    Row(
        "interval-zero",
        "zero-interval",
        r"--dns-cloudflare-ext-propagation-interval="
        r"0 is not usable; use a positive number of seconds",
    ),
    Row(
        "ttl-cloudflare-rejects",
        "ttl",
        r"--dns-cloudflare-ext-ttl=30 is not usable; "
        r"use 1 \(automatic\) or 60 to 86400 seconds, as Cloudflare requires",
    ),
    Row(
        "nameservers-unparsable",
        "nameservers",
        r"--dns-cloudflare-ext-nameservers="
        r"'ns1\.example\.test:dns' is not usable; write host\[:port\] items separated "
        r"by commas, e\.g\. 192\.0\.2\.1:53",
    ),
    Row(
        "api-timeout-negative",
        "api-timeout",
        r"--dns-cloudflare-ext-api-timeout="
        r"-1 is not usable; use a number of seconds above 0 and at most 300",
    ),
]


@dataclass
class Outcome:
    """What one run left for its rows to check."""

    certbot: Certbot
    path: Path
    returncode: int
    stderr: str
    calls: list
    records: list
    zone_ids: dict[str, str]
    leaks: list


def run_certbot(certbot: Certbot, run: Run, port: int):
    """Write the run's credentials file and run certbot; return the file and result."""
    path = certbot.root / "cloudflare.ini"
    certbot.root.mkdir(parents=True)
    if run.directory:
        path.mkdir()
    elif run.credentials is not None:
        path.write_bytes(run.credentials)
        path.chmod(run.mode)
    args = ["--authenticator", "dns-cloudflare-ext"]
    args += ["--dns-cloudflare-ext-credentials", str(path)]
    args += ["--dns-cloudflare-ext-nameservers", f"127.0.0.1:{port}"]
    args += [item for name in run.names for item in ("-d", name)]
    return path, certbot.run("certonly", *args, *run.options)


@pytest.fixture(scope="module")
def outcomes(pebble, _session_nameserver, tmp_path_factory):
    """Run every certbot run of the table, four at a time, and keep the outcomes."""
    root = tmp_path_factory.mktemp("bad-input")
    with contextlib.ExitStack() as stack:

        def serve(zones: tuple[str, ...]) -> CloudflareAPI:
            api = CloudflareAPI()
            for zone in zones:
                api.add_zone(zone)
            api.add_token(TOKEN)
            api.start()
            stack.callback(api.stop)
            return api

        account = serve(ZONES)
        apis = {key: account if key in WORKING else serve(ZONES[:1]) for key in RUNS}

        # Only the working runs reach validation; the nameserver serves theirs.
        idle = _session_nameserver.api
        _session_nameserver.api = account
        stack.callback(setattr, _session_nameserver, "api", idle)

        certbots = {
            key: Certbot(root / key, pebble, apis[key].base_url) for key in RUNS
        }
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                key: pool.submit(
                    run_certbot, certbots[key], run, _session_nameserver.port
                )
                for key, run in RUNS.items()
            }
            ran = {key: future.result() for key, future in futures.items()}

        # Records are counted once every run is over, shared API included.
        yield {
            key: Outcome(
                certbots[key],
                path,
                result.returncode,
                result.stderr,
                apis[key].calls,
                apis[key].records(type="TXT"),
                {zone.name: zone.id for zone in apis[key].zones()},
                certbot_leaks(certbots[key], result),
            )
            for key, (path, result) in ran.items()
        }


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_gets_one_line_naming_it_and_a_fix_or_works(outcomes, row):
    outcome = outcomes[row.run]
    lines = error_lines(outcome.stderr)
    expected = [row.line.format(path=re.escape(str(outcome.path)))] if row.line else []

    assert len(lines) == len(expected), outcome.stderr
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), line
    if row.run in WORKING:
        names = sorted(name.lower().rstrip(".") for name in RUNS[row.run].names)
        assert outcome.returncode == 0
        assert outcome.certbot.certificate_names("example.test") == names
    else:
        assert outcome.returncode == 1
    if row.zone:
        zone_path = f"/zones/{outcome.zone_ids[row.zone]}/dns_records"
        assert any(c.step == "create" and c.path == zone_path for c in outcome.calls)
    if not (row.calls or row.run in WORKING):
        assert outcome.calls == [], "an API call was made with malformed input"
    assert "Traceback" not in outcome.stderr
    assert outcome.records == []
    assert outcome.leaks == []
