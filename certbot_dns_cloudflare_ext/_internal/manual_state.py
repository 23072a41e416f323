"""Remember, between the manual hooks of one certbot run, the records that run wrote.

certbot starts ``--manual-auth-hook`` once per challenge, each time as a new
process, through ``sh -c``. What the invocations of one run share is the certbot
process itself, so the state file is named after its pid and start time: stable
for the run, and never confused with a later run that reuses the pid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StateError

logger = logging.getLogger(__name__)

DIRECTORY = "certbot-dns-cloudflare-ext"

#: Programs that may sit between certbot and the hook (``sh -c 'hook'``).
_SHELLS = frozenset({"sh", "dash", "bash", "ash", "zsh", "ksh", "busybox"})
_MAX_HOPS = 4


@dataclass(frozen=True)
class Entry:
    """One TXT record a run wrote, with what its last hook needs to wait for it."""

    record_id: str
    record_name: str
    validation_name: str
    validation: str
    zone_id: str
    zone_name: str
    zone_status: str
    name_servers: tuple[str, ...]


class RunState:
    """The private file listing the records of one certbot run, locked while used."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_this_run(cls, environ: Mapping[str, str] = os.environ) -> RunState:
        """Return the state of the certbot run that started this hook."""
        return cls(state_directory(environ) / f"run-{run_key()}.json")

    @contextlib.contextmanager
    def entries(self) -> Iterator[list[Entry]]:
        """Yield the run's entries for reading and changing; save them afterwards."""
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.path, flags, 0o600)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            text = handle.read()
            entries = [_entry(item) for item in json.loads(text)] if text else []
            yield entries
            handle.seek(0)
            handle.truncate()
            json.dump([dataclasses.asdict(entry) for entry in entries], handle)

    def remove(self) -> None:
        """Delete the state file; the run is over."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        logger.debug("Removed %s", self.path)


def forget_finished_runs(environ: Mapping[str, str] = os.environ) -> None:
    """Remove the state files of runs whose certbot is gone, killed before cleanup."""
    for path in state_directory(environ).glob("run-*-*.json"):
        pid, _, started = path.stem.removeprefix("run-").partition("-")
        if pid.isdigit() and is_running((int(pid), started)):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        # Its records may still be at Cloudflare; sweep finds them by their marker.
        logger.info("Removed %s, left by a certbot run that was killed", path)


def state_directory(environ: Mapping[str, str] = os.environ) -> Path:
    """Return our private directory under $XDG_RUNTIME_DIR, or in /tmp if unset."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        directory = Path(runtime) / DIRECTORY
    else:
        directory = Path(tempfile.gettempdir()) / f"{DIRECTORY}-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)

    # In a shared /tmp, someone else may have made the directory first.
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise StateError(
            str(directory),
            "is not a directory of this user",
            "remove it, or set XDG_RUNTIME_DIR to a private directory",
        )
    if info.st_mode & 0o077:
        raise StateError(
            str(directory),
            "can be read by other users",
            f"run chmod 700 {directory}",
        )
    return directory


def run_key() -> str:
    """Name the certbot run this hook belongs to: its pid and start time."""
    client = client_process()
    if client is None:
        # Without /proc, the process group is what certbot's hooks share.
        return f"pgrp{os.getpgrp()}"
    pid, started = client
    return f"{pid}-{started}"


def client_process() -> tuple[int, str] | None:
    """Return the pid and start time of the ACME client that started this hook.

    That is the first ancestor that is not a shell: certbot, or dehydrated (a
    script, whose process is named after it). None without /proc.
    """
    pid = os.getppid()
    for _ in range(_MAX_HOPS):
        stat_line = _proc_stat(pid)
        if stat_line is None:
            return None
        command, fields = stat_line
        if command not in _SHELLS:
            return pid, fields[19]
        pid = int(fields[1])
    return None


def is_running(client: tuple[int, str]) -> bool:
    """Tell whether the process ``client_process`` found is still the same one."""
    pid, started = client
    stat_line = _proc_stat(pid)
    return stat_line is not None and stat_line[1][19] == started


def _proc_stat(pid: int) -> tuple[str, list[str]] | None:
    """Return a process's command name and the fields after it, from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = text[text.index("(") + 1 : text.rindex(")")]
    return command, text[text.rindex(")") + 2 :].split()


def _entry(item: Mapping[str, Any]) -> Entry:
    return Entry(**{**item, "name_servers": tuple(item.get("name_servers") or ())})
