"""Loading the plugin stays cheap: heavy libraries are imported only when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Libraries that cost start-up time and are needed only once the plugin runs.
HEAVY = {"cloudflare", "lexicon", "dns", "httpx", "pydantic"}

_REPORT_LOADED = (
    "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
    "print(json.dumps(sorted({name.partition('.')[0] for name in sys.modules})))"
)


def heavy_libraries_loaded_by(module: str) -> set[str]:
    """Import ``module`` in a fresh interpreter; return the heavy ones it loaded."""
    loaded = subprocess.run(
        [sys.executable, "-c", _REPORT_LOADED, module],
        capture_output=True,
        text=True,
        check=True,
    )
    return HEAVY & set(json.loads(loaded.stdout))


@pytest.mark.parametrize(
    "module",
    [
        "certbot_dns_cloudflare_ext",
        "certbot_dns_cloudflare_ext._internal.authenticator",
    ],
)
def test_importing_the_plugin_loads_no_heavy_library(module):
    assert heavy_libraries_loaded_by(module) == set()


def test_the_cloudflare_backend_is_where_the_sdk_gets_loaded():
    # The check above is only worth something if it sees an import when one happens.
    loaded = heavy_libraries_loaded_by("certbot_dns_cloudflare_ext._internal.sdk")

    assert {"cloudflare", "httpx", "pydantic"} <= loaded
