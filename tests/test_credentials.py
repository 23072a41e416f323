"""Credentials from files and the environment: what works, and each mistake's line."""

from __future__ import annotations

import logging
import re

import pytest

from certbot_dns_cloudflare_ext._internal.credentials import (
    load_environment,
    load_file,
)
from certbot_dns_cloudflare_ext._internal.errors import CredentialsError

TOKEN = "Tok3n-SECRET-value_abcdefghijklmnopqrstu"
GLOBAL_KEY = "0123456789abcdef0123456789abcdef01234"
OTHER_TOKEN = "zoneRead-SECRET-tokenABCDEFGHIJKLMNOPQRS"
ZONE_ID = "0123456789abcdef0123456789abcdef"


def write(tmp_path, text: str | bytes, mode: int = 0o600):
    path = tmp_path / "cloudflare.ini"
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    path.chmod(mode)
    return path


def test_token_alone_is_accepted(tmp_path):
    path = write(tmp_path, f"dns_cloudflare_ext_api_token = {TOKEN}\n")

    creds = load_file(str(path))

    assert creds.default.api_token == TOKEN
    assert creds.source == str(path)


def test_email_with_global_key_is_accepted(tmp_path):
    path = write(
        tmp_path,
        "dns_cloudflare_ext_email = admin@example.com\n"
        f"dns_cloudflare_ext_api_key = {GLOBAL_KEY}\n",
    )

    account = load_file(str(path)).default

    assert (account.email, account.api_key) == ("admin@example.com", GLOBAL_KEY)


@pytest.mark.parametrize(
    "text",
    [
        f"\ufeffdns_cloudflare_ext_api_token = {TOKEN}\n",
        f"dns_cloudflare_ext_api_token = {TOKEN}\r\n",
        f'dns_cloudflare_ext_api_token = "{TOKEN}"\n',
        f"dns_cloudflare_ext_api_token = {TOKEN}   \n",
    ],
    ids=["bom", "crlf", "quoted-by-ini-rules", "trailing-spaces"],
)
def test_harmless_file_quirks_are_accepted(tmp_path, text):
    path = write(tmp_path, text)

    assert load_file(str(path)).default.api_token == TOKEN


BAD_FILES = [
    (
        "empty",
        "",
        None,
        r"holds no Cloudflare credentials; set dns_cloudflare_ext_api_token",
    ),
    (
        "misspelt-key",
        f"dns_cloudflare_ext_api_tokn = {TOKEN}\n",
        "dns_cloudflare_ext_api_tokn",
        r"is not a known key; did you mean dns_cloudflare_ext_api_token\?",
    ),
    (
        "token-and-key",
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        "dns_cloudflare_ext_email = a@example.com\n"
        f"dns_cloudflare_ext_api_key = {GLOBAL_KEY}\n",
        "dns_cloudflare_ext_api_token",
        r"is given together with an email or Global API Key",
    ),
    (
        "key-without-email",
        f"dns_cloudflare_ext_api_key = {GLOBAL_KEY}\n",
        "dns_cloudflare_ext_email",
        r"is missing but a Global API Key is given",
    ),
    (
        "email-without-key",
        "dns_cloudflare_ext_email = a@example.com\n",
        "dns_cloudflare_ext_api_key",
        r"is missing but an email is given",
    ),
    (
        "token-in-key-slot",
        "dns_cloudflare_ext_email = a@example.com\n"
        f"dns_cloudflare_ext_api_key = {TOKEN}\n",
        "dns_cloudflare_ext_api_key",
        r"holds an API token, not a Global API Key; "
        r"move it to dns_cloudflare_ext_api_token",
    ),
    (
        "unbalanced-quote",
        f"dns_cloudflare_ext_api_token = '{TOKEN}\n",
        None,
        r"cannot be parsed \(Parse error in value at line 1\.\); write one key = value",
    ),
    (
        "token-with-inner-quote",
        f"dns_cloudflare_ext_api_token = {TOKEN}'\n",
        "dns_cloudflare_ext_api_token",
        r"is wrapped in quotes; remove the quotes",
    ),
    (
        "control-character",
        f"dns_cloudflare_ext_api_token = {TOKEN[:5]}\x07{TOKEN[5:]}\n",
        "dns_cloudflare_ext_api_token",
        r"contains a control character",
    ),
    (
        "short-zone-id",
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        "dns_cloudflare_ext_zone_id = example.com:1234\n",
        "dns_cloudflare_ext_zone_id",
        r"has 'example.com:1234', which is not zone:id with a 32-hex-digit id",
    ),
]


@pytest.mark.parametrize(
    "text, key, message",
    [case[1:] for case in BAD_FILES],
    ids=[c[0] for c in BAD_FILES],
)
def test_bad_file_gets_one_line_naming_file_and_key(tmp_path, text, key, message):
    path = write(tmp_path, text)

    with pytest.raises(CredentialsError) as caught:
        load_file(str(path))

    line = str(caught.value)
    where = re.escape(f"{path}: {key}" if key else str(path))
    assert re.fullmatch(f"{where}: {message}.*", line)
    assert "\n" not in line
    assert TOKEN not in line and TOKEN[5:] not in line and GLOBAL_KEY not in line


def test_file_that_is_not_utf8_is_named(tmp_path):
    path = write(tmp_path, b"dns_cloudflare_ext_api_token = \xff\xfe\xfa\n")

    with pytest.raises(
        CredentialsError, match=rf"^{re.escape(str(path))}: is not UTF-8"
    ):
        load_file(str(path))


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_missing_file_or_directory_is_named(tmp_path, kind):
    path = tmp_path / "cloudflare.ini"
    if kind == "directory":
        path.mkdir()

    with pytest.raises(Exception, match=re.escape(str(path))) as caught:
        load_file(str(path))

    assert "\n" not in str(caught.value)


def test_world_readable_file_is_warned_about(tmp_path, caplog):
    path = write(tmp_path, f"dns_cloudflare_ext_api_token = {TOKEN}\n", mode=0o644)

    with caplog.at_level(logging.WARNING):
        load_file(str(path))

    assert (
        f"Unsafe permissions on credentials configuration file: {path}" in caplog.text
    )


def test_official_plugin_file_works_unchanged(tmp_path):
    path = write(tmp_path, f"dns_cloudflare_api_token = {TOKEN}\n")

    assert load_file(str(path)).default.api_token == TOKEN


def test_our_key_wins_over_official_key_with_a_warning(tmp_path, caplog):
    path = write(
        tmp_path,
        f"dns_cloudflare_api_token = {OTHER_TOKEN}\n"
        f"dns_cloudflare_ext_api_token = {TOKEN}\n",
    )

    with caplog.at_level(logging.WARNING):
        creds = load_file(str(path))

    assert creds.default.api_token == TOKEN
    assert "disagree; using dns_cloudflare_ext_api_token" in caplog.text
    assert TOKEN not in caplog.text and OTHER_TOKEN not in caplog.text


def test_pinned_zone_ids_and_per_zone_sections(tmp_path):
    path = write(
        tmp_path,
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        f"dns_cloudflare_ext_zone_id = Example.COM.:{ZONE_ID}\n"
        "[example.net]\n"
        f"dns_cloudflare_ext_api_token = {OTHER_TOKEN}\n",
    )

    creds = load_file(str(path))

    assert creds.zone_ids == {"example.com": ZONE_ID}
    assert creds.for_zone("example.net").api_token == OTHER_TOKEN
    assert creds.for_zone("example.com").api_token == TOKEN


def test_repr_never_shows_a_secret(tmp_path):
    path = write(tmp_path, f"dns_cloudflare_ext_api_token = {TOKEN}\n")

    assert TOKEN not in repr(load_file(str(path)))


def test_environment_token_and_file_secret(tmp_path, caplog):
    secret = tmp_path / "zone_token"
    secret.write_text(OTHER_TOKEN + "\n")
    environ = {
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ZONE_API_TOKEN_FILE": str(secret),
    }

    with caplog.at_level(logging.INFO):
        creds = load_environment(environ)

    assert creds.default.api_token == TOKEN
    assert creds.default.zone_api_token == OTHER_TOKEN
    assert "CLOUDFLARE_API_TOKEN, CLOUDFLARE_ZONE_API_TOKEN_FILE" in caplog.text
    assert TOKEN not in caplog.text and OTHER_TOKEN not in caplog.text


def test_empty_environment_gives_none():
    assert load_environment({"PATH": "/usr/bin"}) is None
