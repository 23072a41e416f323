"""Wait until Cloudflare's authoritative nameservers serve every challenge record."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import lookup
from .errors import PropagationTimeout
from .lookup import Address, Answer

logger = logging.getLogger(__name__)

#: The pause after the first check; each later pause doubles, up to the interval.
#: Cloudflare usually serves a record within seconds, so early checks pay off.
_FIRST_PAUSE = 0.5
#: How often progress is reported to the user.
_PROGRESS_EVERY = 10.0


@dataclass(frozen=True)
class Expectation:
    """The TXT values one nameserver address must serve at one name."""

    address: Address
    name: str
    values: frozenset[str]


def wait_for_propagation(
    expectations: Sequence[Expectation],
    *,
    timeout: float,
    interval: float,
    progress: Callable[[str], None],
    query: Callable[[Address, str, str], Answer] = lookup.query,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Poll until every address serves every expected value; return the seconds waited.

    Each address is asked on its own: Cloudflare's anycast nameservers do not
    update at the same moment, and the CA may ask any one of them. The first
    check runs at once and the pauses grow from half a second to ``interval``,
    so a record served after a few seconds is seen within a fraction of one.
    """
    pending = list(expectations)
    servers = len({e.address for e in expectations})
    records = len({(e.name, value) for e in expectations for value in e.values})
    last: dict[Expectation, str] = {}
    answered: set[Address] = set()
    start = clock()
    reported = -_PROGRESS_EVERY

    pool = ThreadPoolExecutor(max_workers=16)
    try:
        pause = min(_FIRST_PAUSE, interval)
        polls = 0
        while True:
            answers = list(pool.map(lambda e: query(e.address, e.name, "TXT"), pending))
            for expectation, answer in zip(pending, answers, strict=True):
                last[expectation] = _describe(answer, expectation.values)
                if answer.replied:
                    answered.add(expectation.address)
            pending = [e for e in pending if last[e] != "served"]
            elapsed = clock() - start
            polls += 1
            missing = _by_address(pending, last)
            logger.debug(
                "Propagation check %d at %.1f s: %d of %d answers complete%s",
                polls,
                elapsed,
                len(expectations) - len(pending),
                len(expectations),
                "".join(f"; {server}: {answer}" for server, answer in missing.items()),
            )
            if not pending:
                return elapsed

            if elapsed >= timeout:
                silent = _silent(pending, answered)
                raise PropagationTimeout(timeout, _by_address(pending, last), silent)
            if elapsed - reported >= _PROGRESS_EVERY:
                reported = elapsed
                progress(
                    f"Waiting for {records} TXT record{'s' * (records != 1)} on "
                    f"{servers} Cloudflare nameserver{'s' * (servers != 1)} "
                    f"({elapsed:.0f} s of {timeout:g} s)"
                )
            sleep(min(pause, timeout - elapsed))
            pause = min(pause * 2, interval)
    finally:
        # Queries change nothing: on Ctrl-C, cleanup need not wait for them.
        pool.shutdown(wait=False, cancel_futures=True)


def _describe(answer: Answer, expected: frozenset[str]) -> str:
    if not answer.ok:
        return answer.status
    if expected <= answer.values:
        return "served"
    missing = len(expected - answer.values)
    return f"missing {missing} of {len(expected)} values"


def _silent(pending: Sequence[Expectation], answered: set[Address]) -> list[str]:
    """Name the addresses still pending that never gave any DNS answer."""
    return sorted({_server(e.address) for e in pending if e.address not in answered})


def _server(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _by_address(
    pending: Sequence[Expectation], last: Mapping[Expectation, str]
) -> dict[str, str]:
    """Group the last answers per nameserver address, the evidence for the error."""
    grouped: dict[str, list[str]] = {}
    for expectation in pending:
        server = _server(expectation.address)
        grouped.setdefault(server, []).append(f"{expectation.name} {last[expectation]}")
    return {server: ", ".join(items) for server, items in grouped.items()}
