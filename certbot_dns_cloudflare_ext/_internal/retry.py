"""One retry policy for every backend: Retry-After first, else backoff with jitter."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import CloudflareError, cloudflare_error, token_source

logger = logging.getLogger(__name__)

#: Statuses worth another attempt besides 5xx: request timeout, lock, rate limit.
RETRY_STATUSES = frozenset({408, 409, 429})
#: The first pause between attempts; it doubles up to MAX_BACKOFF, with jitter.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 8.0
#: No call starts another attempt later than this many seconds after its first.
RETRY_WINDOW = 120.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class Failure:
    """What one failed call told us, in the terms every backend shares."""

    code: int | None
    message: str
    transient: bool
    retry_after: float | None = None


def transient_status(status: int) -> bool:
    """Tell statuses that may pass (5xx, 408, 409, 429) from definite refusals."""
    return status >= 500 or status in RETRY_STATUSES


def parse_retry_after(value: str | None) -> float | None:
    """Read a Retry-After header as seconds, from either of its two forms."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retriers(
    source: str,
    retries: int,
    *,
    split: bool,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> tuple[Retrier, Retrier]:
    """Return the retriers of edits and of zone lookups, for a backend's calls.

    With split tokens each names its own token in errors; else both name ``source``.
    """
    edits, lookups = (
        Retrier(
            token_source(source, split=split, lookups=lookups),
            retries,
            sleep=sleep,
            clock=clock,
        )
        for lookups in (False, True)
    )
    return edits, lookups


class Retrier:
    """Make API calls for one credential source, retrying what may pass."""

    def __init__(
        self,
        source: str,
        retries: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.retries = retries
        self._sleep = sleep
        self._clock = clock

    def call(
        self,
        step: str,
        name: str,
        request: Callable[[], _T],
        *,
        errors: tuple[type[BaseException], ...],
        describe: Callable[[BaseException], Failure],
    ) -> _T:
        """Run ``request``; retry transient failures, translate the last one.

        There are at most ``retries`` retries, none starting later than
        RETRY_WINDOW after the first attempt, so a night-time renewal cannot hang.
        """
        started = self._clock()
        attempt = 1
        while True:
            try:
                return request()
            except errors as exc:
                failure = describe(exc)
                pause = self._pause(failure, attempt, started)
                if pause is None:
                    raise self._error(failure, step, name, attempt) from exc
                logger.info(
                    "Cloudflare API failed to %s for %r (%s); retry %d of %d in %.1f s",
                    step,
                    name,
                    _what(failure),
                    attempt,
                    self.retries,
                    pause,
                )
            self._sleep(pause)
            attempt += 1

    def _pause(self, failure: Failure, attempt: int, started: float) -> float | None:
        """Return how long to wait before the next attempt, or None to give up."""
        if attempt > self.retries or not failure.transient:
            return None
        if failure.retry_after is not None:
            pause = failure.retry_after * random.uniform(1.0, 1.25)
        else:
            backoff = min(FIRST_BACKOFF * 2 ** (attempt - 1), MAX_BACKOFF)
            pause = backoff * random.uniform(0.75, 1.0)
        if self._clock() + pause - started > RETRY_WINDOW:
            return None
        return pause

    def _error(
        self, failure: Failure, step: str, name: str, attempts: int
    ) -> CloudflareError:
        message = failure.message
        if attempts > 1:
            message += f"; gave up after {attempts} attempts"
        return cloudflare_error(
            step,
            name,
            code=failure.code,
            message=message,
            source=self.source,
            transient=failure.transient,
        )


def _what(failure: Failure) -> str:
    if failure.code is None:
        return failure.message
    return f"error {failure.code}: {failure.message}"
