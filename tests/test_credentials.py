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
        r"move it to dns_cloudflare_ext_api_token and remove dns_cloudflare_ext_email$",
    ),
    (
        "token-in-key-slot-without-email",
        f"dns_cloudflare_ext_api_key = {TOKEN}\n",
        "dns_cloudflare_ext_api_key",
        r"holds an API token, not a Global API Key; "
        r"move it to dns_cloudflare_ext_api_token$",
    ),
    (
        "global-key-in-token-slot",
        f"dns_cloudflare_ext_api_token = {GLOBAL_KEY}\n",
        "dns_cloudflare_ext_api_token",
        r"looks like a Global API Key \(37 hex digits\), not an API token; move it "
        r"to dns_cloudflare_ext_api_key with dns_cloudflare_ext_email, or create an "
        r"API token at https://dash\.cloudflare\.com/profile/api-tokens$",
    ),
    (
        "global-key-in-token-slot-with-email",
        "dns_cloudflare_ext_email = a@example.com\n"
        f"dns_cloudflare_ext_api_token = {GLOBAL_KEY}\n",
        "dns_cloudflare_ext_api_token",
        r"looks like a Global API Key \(37 hex digits\), not an API token; ",
    ),
    *[
        (
            f"unmatched-{where}-quote",
            f"dns_cloudflare_ext_api_token = {value}\n",
            None,
            r"cannot be parsed \(line 1 has a value whose quotes do not match\); "
            r"write one key = value per line, quoting a value with matching quotes$",
        )
        for where, value in [("opening", f"'{TOKEN}"), ("double", f'"{TOKEN}')]
    ],
    (
        "token-with-stray-closing-quote",
        f"dns_cloudflare_ext_api_token = {TOKEN}'\n",
        "dns_cloudflare_ext_api_token",
        r"contains a quote; remove the stray quote",
    ),
    (
        "token-quoted-twice",
        f"dns_cloudflare_ext_api_token = \"'{TOKEN}'\"\n",
        "dns_cloudflare_ext_api_token",
        r"is wrapped in quotes; remove the quotes around the value$",
    ),
    (
        "control-character",
        f"dns_cloudflare_ext_api_token = {TOKEN[:5]}\x07{TOKEN[5:]}\n",
        "dns_cloudflare_ext_api_token",
        r"contains a control character",
    ),
    (
        "global-key-with-a-typo",
        "dns_cloudflare_ext_email = a@example.com\n"
        f"dns_cloudflare_ext_api_key = {GLOBAL_KEY[:-1]}X\n",
        "dns_cloudflare_ext_api_key",
        r"does not look like a hexadecimal Global API Key; copy the value again",
    ),
    (
        "official-key-without-email",
        f"dns_cloudflare_api_key = {GLOBAL_KEY}\n",
        "dns_cloudflare_email",
        r"is missing but a Global API Key is given",
    ),
    (
        "official-token-in-key-slot",
        f"dns_cloudflare_email = a@example.com\ndns_cloudflare_api_key = {TOKEN}\n",
        "dns_cloudflare_api_key",
        r"holds an API token, not a Global API Key; "
        r"move it to dns_cloudflare_api_token and remove dns_cloudflare_email$",
    ),
    (
        "empty-token",
        "dns_cloudflare_ext_api_token =\n",
        "dns_cloudflare_ext_api_token",
        r"is empty; give its value after the =, or remove the line$",
    ),
    (
        "repeated-key",
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        f"dns_cloudflare_ext_api_token = {OTHER_TOKEN}\n",
        None,
        r"cannot be parsed \(line 2 repeats a key or section\); keep only one of them$",
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


def test_pin_in_a_section_for_another_zone_is_refused(tmp_path):
    path = write(
        tmp_path,
        f"dns_cloudflare_ext_api_token = {TOKEN}\n"
        "[example.net]\n"
        f"dns_cloudflare_ext_api_token = {OTHER_TOKEN}\n"
        f"dns_cloudflare_ext_zone_id = example.org:{ZONE_ID}\n",
    )

    with pytest.raises(CredentialsError) as caught:
        load_file(str(path))

    assert str(caught.value) == (
        f"{path} [example.net]: dns_cloudflare_ext_zone_id: pins 'example.org', "
        "which is not under 'example.net'; move the pin to a [example.org] section "
        "or above the first section"
    )


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


ENVIRONMENT_MISTAKES = [
    (
        "key-without-email",
        {"CLOUDFLARE_API_KEY": GLOBAL_KEY},
        r"environment \(CLOUDFLARE_API_KEY\): CLOUDFLARE_EMAIL: is missing but a "
        r"Global API Key is given; add the email address of the Cloudflare account",
    ),
    (
        "short-key-without-email",
        {"CF_KEY": GLOBAL_KEY},
        r"environment \(CF_KEY\): CF_EMAIL: is missing but a Global API Key is given",
    ),
    (
        "email-without-key",
        {"CF_EMAIL": "a@example.com"},
        r"environment \(CF_EMAIL\): CF_KEY: is missing but an email is given",
    ),
    (
        "token-in-key-variable",
        {"CLOUDFLARE_EMAIL": "a@example.com", "CLOUDFLARE_API_KEY": TOKEN},
        r"environment \(CLOUDFLARE_EMAIL, CLOUDFLARE_API_KEY\): CLOUDFLARE_API_KEY: "
        r"holds an API token, not a Global API Key; move it to CLOUDFLARE_API_TOKEN "
        r"and remove CLOUDFLARE_EMAIL",
    ),
    (
        "global-key-in-token-variable",
        {"CF_API_TOKEN": GLOBAL_KEY},
        r"environment \(CF_API_TOKEN\): CF_API_TOKEN: looks like a Global API Key "
        r"\(37 hex digits\), not an API token; move it to CF_KEY with CF_EMAIL, or "
        r"create an API token at https://dash\.cloudflare\.com/profile/api-tokens",
    ),
    (
        "bad-pin",
        {"CLOUDFLARE_API_TOKEN": TOKEN, "CLOUDFLARE_ZONE_ID": "example.com:1234"},
        r"environment \(CLOUDFLARE_API_TOKEN, CLOUDFLARE_ZONE_ID\): "
        r"CLOUDFLARE_ZONE_ID: has 'example\.com:1234', which is not zone:id",
    ),
]


@pytest.mark.parametrize(
    "environ, message",
    [case[1:] for case in ENVIRONMENT_MISTAKES],
    ids=[case[0] for case in ENVIRONMENT_MISTAKES],
)
def test_environment_mistakes_name_the_variables(environ, message):
    with pytest.raises(CredentialsError) as caught:
        load_environment(environ)

    line = str(caught.value)
    assert re.match(f"^{message}", line), line
    assert "dns_cloudflare" not in line
    assert TOKEN not in line and GLOBAL_KEY not in line


def test_empty_environment_gives_none():
    assert load_environment({"PATH": "/usr/bin"}) is None
