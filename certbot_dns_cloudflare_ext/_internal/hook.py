"""The dehydrated hook: speak dehydrated's hook protocol on top of the solver."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import console, environment

if TYPE_CHECKING:
    from .solver import Challenge, Solver

logger = logging.getLogger(__name__)

PROGRAM = "certbot-dns-cloudflare-ext-hook"

#: Operations dehydrated 0.7 sends that need nothing from us; newer ones too.
IGNORED = frozenset(
    {
        "startup_hook",
        "exit_hook",
        "unchanged_cert",
        "sync_cert",
        "deploy_ocsp",
        "generate_csr",
    }
)

#: Operations whose arguments are DOMAIN TOKEN_FILENAME TOKEN_VALUE triplets.
_TRIPLETS = frozenset({"deploy_challenge", "clean_challenge"})

_USAGE = (
    f"usage: {PROGRAM} OPERATION ARGS... (run by dehydrated as its HOOK, "
    "e.g. dehydrated -c -d example.com -t dns-01 -k " + PROGRAM + ")"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one dehydrated hook operation and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2

    operation, rest = args[0], args[1:]
    handler = _OPERATIONS.get(operation)
    if operation in IGNORED or handler is None:
        # dehydrated adds operations over time and expects silence for new ones.
        return 0
    if operation in _TRIPLETS and (not rest or len(rest) % 3):
        print(
            f"{PROGRAM}: {operation} takes DOMAIN TOKEN_FILENAME TOKEN_VALUE, once "
            f"per challenge, but got {len(rest)} arguments",
            file=sys.stderr,
        )
        return 2
    return console.run(lambda: _run(handler, rest), PROGRAM, hook=True)


def deploy_challenge(args: Sequence[str]) -> int:
    """Write every challenge's TXT record, then wait once for all of them."""
    solver = _solver()
    try:
        placements = solver.plan(_challenges(args))
        solver.deploy(placements)
        count = f"{len(placements)} TXT record{'s' * (len(placements) != 1)}"
        _say(f"Wrote {count} at Cloudflare")
        solver.wait(placements)
    except BaseException:
        # dehydrated never calls clean_challenge after a failed deploy.
        solver.cleanup()
        raise
    return 0


def clean_challenge(args: Sequence[str]) -> int:
    """Remove the records of these challenges that carry our marker."""
    from .errors import Error

    solver = _solver()
    try:
        written = solver.find_written(solver.plan(_challenges(args)))
    except Error as exc:
        # A failed clean would abort dehydrated before it fetches the certificate.
        logger.warning(
            "Could not look up the TXT records to remove (%s); remove them later "
            "with: certbot-dns-cloudflare-ext sweep --delete",
            exc,
        )
        return 0
    _say(f"Removing {len(written)} TXT record{'s' * (len(written) != 1)} of ours")
    solver.cleanup(written)
    return 0


def deploy_cert(args: Sequence[str]) -> int:
    """Show where the new certificate is, as the lines an nginx user would paste."""
    domain, key, _cert, fullchain = (list(args) + [""] * 4)[:4]
    _say(f"Certificate for {domain} is ready; for nginx:")
    print(f"        ssl_certificate     {fullchain};")
    print(f"        ssl_certificate_key {key};")
    return 0


def invalid_challenge(args: Sequence[str]) -> int:
    """Say in one line why the CA rejected a challenge."""
    domain, result = (list(args) + ["", ""])[:2]
    detail = _detail(result) or "no reason given"
    print(
        f"{PROGRAM}: the CA rejected the DNS-01 challenge for {domain}: {detail}; "
        "check that the zone is active at Cloudflare and no other DNS provider "
        "serves the name",
        file=sys.stderr,
    )
    return 0


def request_failure(args: Sequence[str]) -> int:
    """Say in one line which request to the CA failed, and how."""
    status, reason, request = (list(args) + ["", "", ""])[:3]
    reason = " ".join(reason.split()) or "no reason given"
    print(
        f"{PROGRAM}: the CA answered HTTP {status} to {request or 'a request'}: "
        f"{reason}",
        file=sys.stderr,
    )
    return 0


_OPERATIONS: dict[str, Callable[[Sequence[str]], int]] = {
    "deploy_challenge": deploy_challenge,
    "clean_challenge": clean_challenge,
    "deploy_cert": deploy_cert,
    "invalid_challenge": invalid_challenge,
    "request_failure": request_failure,
}


def _run(handler: Callable[[Sequence[str]], int], args: Sequence[str]) -> int:
    console.configure_logging(environment.verbosity(), PROGRAM)
    return handler(args)


def _solver() -> Solver:
    return environment.build_solver(_say)


def _challenges(args: Sequence[str]) -> list[Challenge]:
    """Read DOMAIN TOKEN_FILENAME TOKEN_VALUE triplets; HOOK_CHAIN sends several."""
    from .solver import Challenge

    return [
        Challenge(f"_acme-challenge.{domain.removeprefix('*.')}", value)
        for domain, _token, value in zip(args[::3], args[1::3], args[2::3], strict=True)
    ]


def _say(message: str) -> None:
    """Print progress the way dehydrated prints its own steps."""
    print(f" + {message}", flush=True)


def _detail(result: str) -> str:
    """Pull the CA's error detail out of the challenge dehydrated passes.

    dehydrated 0.7 passes it flattened by its ``jsonsh`` (one ``["error","detail"]``
    line per value); plain JSON is read too.
    """
    match = re.search(r'"detail"\]?\s*:?\s*("(?:[^"\\]|\\.)*")', result)
    if match is None:
        return " ".join(result.split())[:200]
    try:
        return str(json.loads(match.group(1)))
    except ValueError:
        return match.group(1).strip('"')
