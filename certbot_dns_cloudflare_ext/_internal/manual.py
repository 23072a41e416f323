"""The certbot manual hooks: write one record per call, and wait once, on the last."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import environment
from .errors import VariableError
from .manual_state import Entry, RunState, forget_finished_runs
from .records import Record, Zone

if TYPE_CHECKING:
    from .solver import Challenge, Placement, Solver, Written

logger = logging.getLogger(__name__)

#: What the auth hook prints, and so what cleanup finds in CERTBOT_AUTH_OUTPUT.
_RECORD_PATH = re.compile(
    r"zones/(?P<zone>[0-9A-Za-z]+)/dns_records/(?P<id>[0-9A-Za-z]+)"
)


def auth(
    credentials: str | None = None, environ: Mapping[str, str] = os.environ
) -> int:
    """Write this challenge's record; on the run's last challenge, wait for all."""
    challenge, remaining = _challenge(environ)
    solver = environment.build_solver(logger.info, path=credentials, environ=environ)
    state = RunState.for_this_run(environ)
    forget_finished_runs(environ)

    try:
        [written] = solver.deploy(solver.plan([challenge]))
        with state.entries() as entries:
            entries.append(_entry(written))
    except BaseException:
        solver.cleanup()
        raise
    # certbot hands this line to the cleanup hook as CERTBOT_AUTH_OUTPUT.
    zone_id, record_id = written.placement.zone.id, written.record.id
    print(f"zones/{zone_id}/dns_records/{record_id}", flush=True)

    if remaining:
        logger.info(
            "%d more challenge%s to come; the last one waits for every record",
            remaining,
            "s" * (remaining != 1),
        )
        return 0
    with state.entries() as entries:
        todo = list(entries)
    logger.info(
        "Waiting for the %d TXT record%s of this certbot run",
        len(todo),
        "s" * (len(todo) != 1),
    )
    try:
        solver.wait([_placement(solver, entry) for entry in todo])
    except BaseException:
        # certbot keeps a failed hook's output to itself, so no cleanup hook
        # would learn this record's id: remove the run's records here and now.
        solver.cleanup([_written(solver, entry) for entry in todo])
        state.remove()
        raise
    return 0


def cleanup(
    credentials: str | None = None, environ: Mapping[str, str] = os.environ
) -> int:
    """Delete this challenge's record by the id auth printed; forget the run last."""
    challenge, remaining = _challenge(environ)
    solver = environment.build_solver(logger.info, path=credentials, environ=environ)
    state = RunState.for_this_run(environ)
    printed = _RECORD_PATH.search(environ.get("CERTBOT_AUTH_OUTPUT", ""))

    with state.entries() as entries:
        mine = [e for e in entries if printed and e.record_id == printed["id"]]
        entries[:] = [e for e in entries if e not in mine]
        left = len(entries)

    if mine:
        written = [_written(solver, entry) for entry in mine]
    elif printed:
        written = [_written_without_state(solver, challenge, printed)]
    else:
        # The auth hook failed before printing; look for what it may have written.
        written = solver.find_written(solver.plan([challenge]))
    solver.cleanup(written)

    if not remaining or not left:
        state.remove()
    return 0


def _challenge(environ: Mapping[str, str]) -> tuple[Challenge, int]:
    """Read the challenge and the count of those still to come from certbot."""
    from .solver import Challenge

    values = {}
    for variable in ("CERTBOT_DOMAIN", "CERTBOT_VALIDATION"):
        values[variable] = environ.get(variable, "").strip()
        if not values[variable]:
            raise VariableError(
                variable,
                values[variable],
                "run this as certbot's --manual-auth-hook or --manual-cleanup-hook",
            )
    text = environ.get("CERTBOT_REMAINING_CHALLENGES", "0").strip() or "0"
    if not text.isdigit():
        raise VariableError(
            "CERTBOT_REMAINING_CHALLENGES", text, "certbot sets a whole number"
        )
    domain = values["CERTBOT_DOMAIN"].removeprefix("*.")
    challenge = Challenge(f"_acme-challenge.{domain}", values["CERTBOT_VALIDATION"])
    return challenge, int(text)


def _entry(written: Written) -> Entry:
    placement, zone = written.placement, written.placement.zone
    return Entry(
        record_id=written.record.id,
        record_name=placement.record_name,
        validation_name=placement.challenge.validation_name,
        validation=placement.challenge.validation,
        zone_id=zone.id,
        zone_name=zone.name,
        zone_status=zone.status,
        name_servers=tuple(zone.name_servers),
    )


def _placement(solver: Solver, entry: Entry) -> Placement:
    from .solver import Challenge, Placement

    zone = Zone(entry.zone_id, entry.zone_name, entry.zone_status, entry.name_servers)
    challenge = Challenge(entry.validation_name, entry.validation)
    backend = solver.backend_for(entry.record_name)
    return Placement(challenge, entry.record_name, zone, backend)


def _written(solver: Solver, entry: Entry) -> Written:
    from .solver import Written

    record = Record(
        entry.record_id, entry.zone_id, entry.record_name, "TXT", entry.validation
    )
    return Written(_placement(solver, entry), record)


def _written_without_state(
    solver: Solver, challenge: Challenge, printed: re.Match[str]
) -> Written:
    """Rebuild a record from the printed ids alone, when the state file is gone."""
    from .solver import Placement, Written

    name = challenge.validation_name
    zone = Zone(printed["zone"], name)
    placement = Placement(challenge, name, zone, solver.backend_for(name))
    record = Record(printed["id"], printed["zone"], name, "TXT", challenge.validation)
    return Written(placement, record)
