"""The ``certbot-dns-cloudflare-ext`` command: manual hooks, check and sweep."""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from collections.abc import Sequence

from . import console, environment

logger = logging.getLogger(__name__)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

_DESCRIPTION = (
    "Cloudflare DNS-01 tools that need no certbot plugin: hooks for certbot "
    "--manual, a check of the credentials, and a sweep of leftover records. "
    "Credentials and options come from the environment (see the README)."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one subcommand; return the exit code."""
    args = _parser().parse_args(argv)
    hook = args.command in ("auth", "cleanup")
    return console.run(lambda: _dispatch(args), hook=hook)


def _dispatch(args: argparse.Namespace) -> int:
    console.configure_logging(max(args.verbose, environment.verbosity()))
    if args.command in ("auth", "cleanup"):
        from . import manual

        hook = manual.auth if args.command == "auth" else manual.cleanup
        return hook(args.credentials)
    if args.command == "check":
        return _check(args)
    return _sweep(args)


def _check(args: argparse.Namespace) -> int:
    from . import check

    solver = environment.build_solver(logger.info, path=args.credentials)
    reports = check.check(solver, args.domains, live=args.live)
    table = check.render(reports, live=args.live)
    sys.stdout.write(environment.name_variables(table))
    return 0 if all(report.result == "ok" for report in reports) else console.FAILED


def _sweep(args: argparse.Namespace) -> int:
    from . import sweep

    solver = environment.build_solver(logger.info, path=args.credentials)
    now = datetime.datetime.now(datetime.timezone.utc)
    found = sweep.find_stale(solver, args.zones, older_than=args.older_than, now=now)
    # A zone that could not be read may hold leftovers: the sweep is incomplete.
    status = console.FAILED if found.unreadable else 0
    stale = found.stale
    count = f"{len(stale)} challenge record{'s' * (len(stale) != 1)}"
    if not stale:
        age = sweep.describe_age(args.older_than)
        older = f" {age} old or older" if args.older_than else ""
        where = " in the zones it could read" if found.unreadable else ""
        print(f"Found no challenge records of ours{older}{where}.")
        return status
    sys.stdout.write(sweep.render(stale))
    if not args.delete:
        print(f"Dry run: {count} would be removed; run again with --delete.")
        return status
    failed = sweep.remove(stale)
    print(f"Removed {len(stale) - failed} of {count}.")
    return console.FAILED if failed else status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=console.PROGRAM, description=_DESCRIPTION)
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log progress (-v) and every API call (-vv) to stderr; never secrets",
    )
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        help=f"credentials ini file (default: ${environment.CREDENTIALS_FILE}, "
        "then CLOUDFLARE_API_TOKEN, CF_API_TOKEN, CF_EMAIL with CF_KEY, ...)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "auth",
        help="certbot --manual-auth-hook: write the TXT record of $CERTBOT_DOMAIN",
    )
    commands.add_parser(
        "cleanup",
        help="certbot --manual-cleanup-hook: delete the record auth wrote",
    )

    check = commands.add_parser(
        "check", help="tell whether the credentials will work for each domain"
    )
    check.add_argument("domains", nargs="+", metavar="DOMAIN")
    check.add_argument(
        "--live",
        action="store_true",
        help="also write a test TXT record, time until the nameservers serve it, "
        "and delete it",
    )

    sweep = commands.add_parser(
        "sweep", help="list (and with --delete remove) leftover challenge records"
    )
    sweep.add_argument(
        "zones",
        nargs="*",
        metavar="ZONE",
        help="zones to sweep (default: every zone the credentials can list, or "
        "else the zones they pin)",
    )
    sweep.add_argument(
        "--older-than",
        default="1h",
        type=_age,
        metavar="AGE",
        help="only records at least this old: 90m, 1h, 2d, or seconds (default 1h)",
    )
    sweep.add_argument(
        "--delete", action="store_true", help="remove them (default: only list)"
    )
    return parser


def _age(text: str) -> float:
    """Read an age such as ``90m``, ``1h``, ``2d`` or ``3600`` (seconds)."""
    text = text.strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = -1
    if not seconds >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: write 90m, 1h, 2d or seconds")
    return seconds
