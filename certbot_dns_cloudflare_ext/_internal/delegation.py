"""Follow the CNAME chain at a challenge name to where its TXT record must go."""

from __future__ import annotations

from collections.abc import Callable

from .errors import DelegationError
from .lookup import Answer
from .names import to_ascii

#: Longest CNAME chain we follow; resolvers give up at about this depth too.
MAX_HOPS = 8


def follow_cnames(name: str, ask: Callable[[str], Answer]) -> list[str]:
    """Return the chain of names from ``name`` to the last CNAME target.

    ``ask`` returns the CNAME answer for one name from the servers that are
    authoritative for it, so no resolver cache can hide a fresh change.
    """
    chain = [to_ascii(name)]
    while True:
        answer = ask(chain[-1])
        if not (answer.ok and answer.values):
            return chain
        target = to_ascii(sorted(answer.values)[0])
        if target in chain:
            raise DelegationError([*chain, target], "the chain loops")
        chain.append(target)
        if len(chain) > MAX_HOPS + 1:
            raise DelegationError(chain, f"the chain is longer than {MAX_HOPS} CNAMEs")
