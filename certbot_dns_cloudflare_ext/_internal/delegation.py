"""Follow the CNAME chain at a challenge name to where its TXT record must go."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence

from .errors import DelegationError
from .lookup import Answer
from .names import to_ascii

logger = logging.getLogger(__name__)

#: Longest CNAME chain we follow; resolvers give up at about this depth too.
MAX_HOPS = 8


def follow_cnames(
    name: str,
    ask: Callable[[str], Answer],
    explicit: Callable[[str], bool] | None = None,
) -> list[str]:
    """Return the chain of names from ``name`` to the last CNAME target.

    ``ask`` returns the CNAME answer for one name from the servers that are
    authoritative for it, so no resolver cache can hide a fresh change. A
    CNAME that only a wildcard supplies at ``name`` is not followed: the
    wildcard's owner may not control where it points. ``explicit(name)`` tells
    the two apart, from the zone's records; without it, DNS itself is asked.
    """
    chain = [to_ascii(name)]
    while True:
        answer = ask(chain[-1])
        if not (answer.ok and answer.values):
            return chain
        target = to_ascii(sorted(answer.values)[0])
        if len(chain) == 1 and not _set_at(chain[0], target, ask, explicit):
            logger.info(
                "%s is only covered by a wildcard CNAME; writing the record there",
                chain[0],
            )
            return chain
        if target in chain:
            raise DelegationError(
                [*chain, target],
                "the chain loops",
                "end the chain at a name that is not a CNAME",
            )
        chain.append(target)
        if len(chain) > MAX_HOPS + 1:
            raise DelegationError(
                chain,
                f"the chain is longer than {MAX_HOPS} CNAMEs",
                "point the first CNAME straight at the last name",
            )


_REPOINT = "point the last CNAME into a zone these credentials can edit"


def unreachable_target(chain: Sequence[str], soa: Answer) -> DelegationError:
    """Explain why the credentials cannot write at the chain's last target.

    ``soa`` is the SOA answer for the target; the zone it names tells a
    dangling CNAME (no zone holds the target) from someone else's zone.
    """
    zone = soa.zone
    if soa.status in ("NOERROR", "NXDOMAIN", "REFUSED") and (
        zone is None or "." not in zone
    ):
        return DelegationError(
            chain, "the last target does not exist (no zone has it)", _REPOINT
        )
    if zone is None:
        return DelegationError(
            chain, f"the last target could not be looked up ({soa.status})", _REPOINT
        )
    return DelegationError(
        chain,
        f"the last target is in zone {zone!r}, outside the zones these credentials "
        "can edit",
        _REPOINT,
    )


def _set_at(
    name: str,
    target: str,
    ask: Callable[[str], Answer],
    explicit: Callable[[str], bool] | None,
) -> bool:
    """Tell a CNAME set at ``name`` from one a wildcard synthesises for it.

    A name below ``name`` is covered by the same wildcard only when ``name``
    itself does not exist (RFC 4592), so only then it gets the same CNAME too.
    """
    if explicit is not None:
        return explicit(name)
    probe = ask(f"_{secrets.token_hex(6)}.{name}")
    return not (probe.ok and target in {to_ascii(value) for value in probe.values})
