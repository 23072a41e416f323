"""Measure what each Cloudflare plugin adds to certbot's start-up."""

from __future__ import annotations

import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Entries of site-packages that make certbot discover each plugin.
PLUGIN_ENTRIES = {
    "official": ("certbot_dns_cloudflare-",),
    "ours": ("certbot_dns_cloudflare_ext-", "__editable__.certbot_dns_cloudflare_ext"),
}
PLUGIN_MODULES = {
    "official": "certbot_dns_cloudflare._internal.dns_cloudflare",
    "ours": "certbot_dns_cloudflare_ext._internal.authenticator",
}
PLUGIN_NAMES = {"official": "dns-cloudflare", "ours": "dns-cloudflare-ext"}

# Run certbot from a site directory of our choosing: -S keeps the venv's own out.
_CERTBOT_FROM_SITE = (
    "import site, sys; site.addsitedir(sys.argv[1]); "
    "from certbot.main import main; sys.exit(main(sys.argv[2:]))"
)
# Import what every certbot run imports anyway, then time only the plugin module.
_TIME_IMPORT = (
    "import importlib, sys, time; "
    "import certbot._internal.main, certbot._internal.plugins.disco; "
    "import certbot.plugins.dns_common; "
    "start = time.perf_counter(); importlib.import_module(sys.argv[1]); "
    "print(time.perf_counter() - start)"
)


@dataclass(frozen=True)
class Startup:
    """Median seconds of ``certbot plugins`` per set of plugins, and per import."""

    plugins_seconds: dict[str, float]
    import_seconds: dict[str, float]
    repeats: int

    def added(self, plugin: str) -> float:
        """Return what ``plugin`` adds to ``certbot plugins`` over a bare certbot."""
        return self.plugins_seconds[plugin] - self.plugins_seconds["bare"]


def measure(repeats: int = 15) -> Startup:
    """Time ``certbot plugins`` bare, with each plugin alone, and each import."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        root = Path(tmp)
        sites = {
            "bare": _shadow_site(root, "bare", [*PLUGIN_ENTRIES.values()]),
            "official": _shadow_site(root, "official", [PLUGIN_ENTRIES["ours"]]),
            "ours": _shadow_site(root, "ours", [PLUGIN_ENTRIES["official"]]),
        }
        for variant, site in sites.items():
            _check_listing(root, variant, site)

        # Interleaving the variants spreads the machine's load evenly over them.
        samples: dict[str, list[float]] = {variant: [] for variant in sites}
        imports: dict[str, list[float]] = {plugin: [] for plugin in PLUGIN_MODULES}
        for _ in range(repeats):
            for variant, site in sites.items():
                samples[variant].append(_time_plugins_command(root, site))
            for plugin, module in PLUGIN_MODULES.items():
                imports[plugin].append(_time_import(module))

    return Startup(
        plugins_seconds={v: statistics.median(s) for v, s in samples.items()},
        import_seconds={p: statistics.median(s) for p, s in imports.items()},
        repeats=repeats,
    )


def _shadow_site(root: Path, variant: str, hidden: list[tuple[str, ...]]) -> Path:
    """Mirror the venv's site-packages by symlinks, leaving out ``hidden`` entries."""
    prefixes = tuple(prefix for group in hidden for prefix in group)
    site = root / f"site-{variant}"
    site.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(prefixes):
            (site / entry.name).symlink_to(entry)
    return site


def _certbot_plugins(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    dirs = [f"--{kind}-dir={root / kind}" for kind in ("config", "work", "logs")]
    return subprocess.run(
        [sys.executable, "-S", "-c", _CERTBOT_FROM_SITE, str(site), "plugins", *dirs],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
    )


def _check_listing(root: Path, variant: str, site: Path) -> None:
    """Make sure each variant lists exactly the plugin it is meant to have."""
    listed = {
        line.removeprefix("* ").strip()
        for line in _certbot_plugins(root, site).stdout.splitlines()
        if line.startswith("* ")
    }
    expected = {PLUGIN_NAMES[variant]} if variant in PLUGIN_NAMES else set()
    found = listed & set(PLUGIN_NAMES.values())
    if found != expected:
        raise RuntimeError(f"certbot plugins for {variant!r} listed {sorted(found)}")


def _time_plugins_command(root: Path, site: Path) -> float:
    start = time.perf_counter()
    _certbot_plugins(root, site)
    return time.perf_counter() - start


def _time_import(module: str) -> float:
    result = subprocess.run(
        [sys.executable, "-c", _TIME_IMPORT, module],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout)
