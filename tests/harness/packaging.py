"""Build the project's sdist and wheel from a clean copy of the work tree."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: What a checkout may hold besides the project: environments, caches, build output.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".nox",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    "demo-output",
)


def missing_build_tool() -> str | None:
    """Say why ``python -m build`` cannot run here, or None when it can."""
    if importlib.util.find_spec("build.__main__") is None:
        return "python -m build is not installed (pip install build wheel)"
    if not (ROOT / "pyproject.toml").is_file():
        return f"{ROOT} holds no project to build"
    return None


def build(outdir: Path, *, sdist_only: bool = False) -> None:
    """Run ``python -m build`` offline into ``outdir``, leaving the tree untouched.

    Building writes egg-info and build/ into the source, which a concurrent
    ``pip install .`` (the version matrix) writes too, so a copy is built instead.
    """
    source = outdir / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    command = [sys.executable, "-m", "build", "--no-isolation", "--outdir", outdir]
    if sdist_only:
        command.append("--sdist")
    result = subprocess.run(
        [*command, source], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"python -m build failed:\n{result.stdout}{result.stderr}")
    shutil.rmtree(source)


def unpack(sdist: Path, into: Path) -> None:
    """Unpack ``sdist`` into ``into``, refusing members that would escape it."""
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, filter="data")
            return
        # Pythons before the extraction filters (3.10.11, 3.11.3): check by hand.
        root = into.resolve()
        for member in archive.getmembers():
            target = (into / member.name).resolve()
            plain = member.isfile() or member.isdir()
            if not plain or not target.is_relative_to(root):
                raise RuntimeError(f"{sdist.name}: unsafe member {member.name!r}")
        archive.extractall(into)
