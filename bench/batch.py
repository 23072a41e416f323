"""Issue certificates of 1 to 100 names with the official plugin and ours, side by side.

Run it from the repository root as ``python -m bench.batch`` (``--help`` for the
options). Both plugins go through the same Cloudflare stand-in (150 ms per call,
records served 3 s after they are written), the same nameserver and the same
pebble. It prints a table and writes ``batch.png`` and ``batch.json`` to
``bench/results/``, or to ``--output``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import startup
from tests.harness.certbot import Certbot
from tests.harness.cloudflare_api import CloudflareAPI
from tests.harness.nameserver import Nameserver
from tests.harness.pebble import Pebble

TOKEN = "benchToken-0123456789abcdefghijklmnopqrst"
RESULTS = Path(__file__).parent / "results"
PLUGINS = ("official", "ours")


@dataclasses.dataclass(frozen=True)
class Run:
    """One certbot issuance and what the stand-in counted during it."""

    plugin: str
    names: int
    seconds: float
    calls: int
    rate_limited: int
    peak_concurrency: int
    issued: bool

    @property
    def calls_without_retries(self) -> int:
        """Return the calls that were not answered 429, i.e. not retried."""
        return self.calls - self.rate_limited


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and report it; return the exit status."""
    options = _parser().parse_args(argv)
    counts = [int(n) for n in options.names.split(",")]
    options.output.mkdir(parents=True, exist_ok=True)

    runs = run_all(counts, options)
    startup_cost = None if options.skip_startup else startup.measure(options.repeats)

    print(format_table(runs, startup_cost))
    _write_json(runs, startup_cost, options)
    _plot(runs, options, options.output / "batch.png")
    print(f"\nwrote {options.output / 'batch.png'} and {options.output / 'batch.json'}")
    return 0 if all(run.issued for run in runs) else 1


def run_all(counts: Sequence[int], options: argparse.Namespace) -> list[Run]:
    """Issue one certificate per plugin and name count, all through one stand-in."""
    runs: list[Run] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        api = CloudflareAPI(
            latency=options.latency, propagation_delay=options.propagation
        )
        api.add_token(TOKEN)
        api.start()
        stack.callback(api.stop)
        nameserver = Nameserver(api)
        nameserver.start()
        stack.callback(nameserver.stop)
        pebble = Pebble(("127.0.0.1", nameserver.port), workdir=tmp / "pebble")
        pebble.start()
        stack.callback(pebble.stop)

        for count in counts:
            for plugin in PLUGINS:
                run = issue(api, nameserver, pebble, tmp, plugin, count, options)
                print(
                    f"{plugin:>8} {count:>3} names: {run.seconds:6.1f} s, "
                    f"{run.calls} API calls",
                    flush=True,
                )
                runs.append(run)
    return runs


def issue(
    api: CloudflareAPI,
    nameserver: Nameserver,
    pebble: Pebble,
    tmp: Path,
    plugin: str,
    count: int,
    options: argparse.Namespace,
) -> Run:
    """Run certbot once for ``count`` names in a zone of their own."""
    # A fresh zone and certbot directory per run: nothing left over can help.
    zone = f"{plugin}-{count}.test"
    api.add_zone(zone)
    root = tmp / f"{plugin}-{count}"
    root.mkdir()
    certbot = Certbot(root=root, pebble=pebble, cloudflare_base_url=api.base_url)
    names = [zone] + [f"host{i}.{zone}" for i in range(1, count)]
    args = [*_plugin_args(plugin, root, nameserver, options), "--cert-name", "bench"]
    for name in names:
        args += ["-d", name]
    api.reset_calls()

    start = time.perf_counter()
    result = certbot.run("certonly", *args, timeout=options.timeout)
    seconds = time.perf_counter() - start

    issued = result.returncode == 0 and certbot.certificate_names("bench") == sorted(
        names
    )
    if not issued:
        print(result.stderr, file=sys.stderr)
    calls = api.calls
    return Run(
        plugin=plugin,
        names=count,
        seconds=seconds,
        calls=len(calls),
        rate_limited=sum(call.status == 429 for call in calls),
        peak_concurrency=api.peak_concurrency,
        issued=issued and not api.records(type="TXT", zone=zone),
    )


def format_table(runs: Sequence[Run], startup_cost: startup.Startup | None) -> str:
    """Render the runs, the ratios of ours to the official plugin, and start-up."""
    lines = [
        f"{'names':>5} {'plugin':>8} {'wall s':>7} {'calls':>6} {'2N+2':>5} "
        f"{'peak':>4} {'429s':>4} {'ok':>3}",
    ]
    for run in runs:
        lines.append(
            f"{run.names:>5} {run.plugin:>8} {run.seconds:>7.1f} "
            f"{run.calls_without_retries:>6} {2 * run.names + 2:>5} "
            f"{run.peak_concurrency:>4} {run.rate_limited:>4} "
            f"{'yes' if run.issued else 'NO':>3}"
        )

    lines += [
        "",
        f"{'names':>5} {'official/ours time':>19} {'official/ours calls':>20}",
    ]
    by_key = {(run.plugin, run.names): run for run in runs}
    for count in sorted({run.names for run in runs}):
        official, ours = by_key.get(("official", count)), by_key.get(("ours", count))
        if official and ours:
            lines.append(
                f"{count:>5} {official.seconds / ours.seconds:>18.1f}x "
                f"{official.calls / ours.calls:>19.1f}x"
            )

    if startup_cost is not None:
        bare = startup_cost.plugins_seconds["bare"]
        lines += [
            "",
            f"certbot plugins, median of {startup_cost.repeats}: "
            f"bare certbot {bare * 1000:.0f} ms",
        ]
        for plugin in PLUGINS:
            lines.append(
                f"  {plugin:>8}: +{startup_cost.added(plugin) * 1000:.0f} ms to "
                "certbot plugins, "
                f"{startup_cost.import_seconds[plugin] * 1000:.0f} ms to import "
                "its module after certbot's own"
            )
    return "\n".join(lines)


def _plugin_args(
    plugin: str, root: Path, nameserver: Nameserver, options: argparse.Namespace
) -> list[str]:
    if plugin == "official":
        credentials = _write_credentials(root, "dns_cloudflare_api_token")
        return [
            "--authenticator",
            "dns-cloudflare",
            "--dns-cloudflare-credentials",
            str(credentials),
            "--dns-cloudflare-propagation-seconds",
            str(options.official_wait),
        ]
    credentials = _write_credentials(root, "dns_cloudflare_ext_api_token")
    return [
        "--authenticator",
        "dns-cloudflare-ext",
        "--dns-cloudflare-ext-credentials",
        str(credentials),
        "--dns-cloudflare-ext-nameservers",
        f"127.0.0.1:{nameserver.port}",
    ]


def _write_credentials(root: Path, key: str) -> Path:
    path = root / "cloudflare.ini"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{key} = {TOKEN}\n")
    return path


def _write_json(
    runs: Sequence[Run],
    startup_cost: startup.Startup | None,
    options: argparse.Namespace,
) -> None:
    report = {
        "latency_seconds": options.latency,
        "propagation_seconds": options.propagation,
        "official_propagation_seconds": options.official_wait,
        "runs": [dataclasses.asdict(run) for run in runs],
        "startup": dataclasses.asdict(startup_cost) if startup_cost else None,
    }
    (options.output / "batch.json").write_text(json.dumps(report, indent=2) + "\n")


def _plot(runs: Sequence[Run], options: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    labels = {
        "official": "certbot-dns-cloudflare",
        "ours": "certbot-dns-cloudflare-ext",
    }
    for plugin in PLUGINS:
        mine = sorted((r.names, r.seconds) for r in runs if r.plugin == plugin)
        if mine:
            axes.plot(*zip(*mine, strict=True), marker="o", label=labels[plugin])
    axes.set_xlabel("names on the certificate")
    axes.set_ylabel("certbot wall time (s)")
    axes.set_title(
        "Issuance through a Cloudflare stand-in "
        f"({options.latency * 1000:g} ms/call, {options.propagation:g} s propagation)"
    )
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--names", default="1,10,50,100", help="comma list of counts")
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per call")
    parser.add_argument(
        "--propagation", type=float, default=3.0, help="seconds until DNS serves"
    )
    parser.add_argument(
        "--official-wait",
        type=int,
        default=3,
        help="--dns-cloudflare-propagation-seconds for the official plugin",
    )
    parser.add_argument("--timeout", type=float, default=900, help="per certbot run")
    parser.add_argument(
        "--repeats", type=int, default=15, help="start-up samples per variant"
    )
    parser.add_argument(
        "--skip-startup", action="store_true", help="do not measure start-up"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help=f"where batch.json and batch.png go (default {RESULTS})",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
