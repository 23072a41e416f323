"""Option values: what --dns-cloudflare-ext-nameservers accepts, and what it refuses."""

from __future__ import annotations

import re

import pytest

from certbot_dns_cloudflare_ext._internal.errors import OptionError
from certbot_dns_cloudflare_ext._internal.settings import parse_nameservers


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("192.0.2.1", (("192.0.2.1", 53),)),
        (
            "192.0.2.1:5353, ns1.example.com",
            (("192.0.2.1", 5353), ("ns1.example.com", 53)),
        ),
        ("[2001:db8::1]:53,2001:db8::2", (("2001:db8::1", 53), ("2001:db8::2", 53))),
        ("localhost:5353", (("localhost", 5353),)),
    ],
)
def test_nameserver_lists_that_parse(text, servers):
    assert parse_nameservers(text) == servers


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1;127.0.0.2",
        "ns1.example.com:dns",
        "a b",
        "-ns.example.com",
        ":53",
        "192.0.2.1:70000",
    ],
)
def test_nameserver_lists_that_do_not_parse_name_the_option(text):
    with pytest.raises(OptionError) as caught:
        parse_nameservers(text)

    assert re.fullmatch(
        rf"--dns-cloudflare-ext-nameservers={re.escape(repr(text))} is not usable; "
        r"write host\[:port\] items separated by commas, e\.g\. 192\.0\.2\.1:53",
        str(caught.value),
    )
