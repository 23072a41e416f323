"""--dns-cloudflare-ext-backend picks the SDK or dns-lexicon, and says which."""

from __future__ import annotations

import logging
import re

import pytest

from certbot_dns_cloudflare_ext._internal import backends
from certbot_dns_cloudflare_ext._internal.credentials import Account
from certbot_dns_cloudflare_ext._internal.errors import OptionError
from certbot_dns_cloudflare_ext._internal.settings import Settings


@pytest.fixture(autouse=True)
def fresh_choice():
    """Forget the per-process choice, so each test decides anew."""
    backends.choose.cache_clear()
    yield
    backends.choose.cache_clear()


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Return a function that shadows a distribution with another version.

    Debian bookworm's python3-cloudflare 2.11 is found exactly like this: by its
    metadata, ahead of anything else on the path.
    """

    def install(distribution: str, version: str) -> None:
        info = tmp_path / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))

    return install


@pytest.mark.parametrize(
    "choice, kind",
    [("auto", "SdkBackend"), ("sdk", "SdkBackend"), ("lexicon", "LexiconBackend")],
)
def test_each_choice_builds_its_backend(choice, kind, caplog):
    caplog.set_level(logging.INFO, logger=backends.__name__)

    built = backends.create_backend(
        Account(api_token="t" * 40), "cf.ini", Settings(backend=choice)
    )

    assert type(built).__name__ == kind
    library = "the cloudflare SDK" if kind == "SdkBackend" else "dns-lexicon"
    assert caplog.messages == [f"Talking to Cloudflare through {library} ({choice})"]


def test_auto_falls_back_to_lexicon_beside_debians_old_sdk(installed, caplog):
    installed("cloudflare", "2.11.1")
    caplog.set_level(logging.INFO, logger=backends.__name__)

    assert backends.choose("auto") == "lexicon"
    assert backends.choose("auto") == "lexicon"
    assert caplog.messages == [
        "Talking to Cloudflare through dns-lexicon "
        "(auto: the cloudflare SDK 2.11.1 is too old)"
    ]


@pytest.mark.parametrize(
    "shadowed, choice, line",
    [
        (
            {"cloudflare": "2.11.1"},
            "sdk",
            r"--dns-cloudflare-ext-backend='sdk' is not usable; the cloudflare SDK "
            r"2\.11\.1 is too old; choose lexicon or auto, or install the cloudflare "
            r"SDK 4 or later \(pip install 'cloudflare>=4'\) where certbot runs$",
        ),
        (
            {"dns-lexicon": "3.10.0"},
            "lexicon",
            r"--dns-cloudflare-ext-backend='lexicon' is not usable; dns-lexicon "
            r"3\.10\.0 is too old; install dns-lexicon 3\.11 or later \(apt install "
            r"python3-lexicon, or pip install 'certbot-dns-cloudflare-ext\[lexicon\]'"
            r"\), or choose sdk$",
        ),
        (
            {"cloudflare": "2.11.1", "dns-lexicon": "3.10.0"},
            "auto",
            r"--dns-cloudflare-ext-backend='auto' is not usable; the cloudflare SDK "
            r"2\.11\.1 is too old, and dns-lexicon 3\.10\.0 is too old; install the "
            r"cloudflare SDK 4 or later .*, or install dns-lexicon 3\.11 or later",
        ),
    ],
    ids=["old-sdk", "old-lexicon", "neither"],
)
def test_unusable_library_names_the_fix(installed, shadowed, choice, line):
    for distribution, version in shadowed.items():
        installed(distribution, version)

    with pytest.raises(OptionError) as caught:
        backends.choose(choice)

    assert re.match(line, str(caught.value))
