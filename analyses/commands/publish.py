"""Run folders: where a run goes, its id, the earlier runs, and the ``latest`` link."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from analyses.inference.config import RunConfig
from analyses.report.folder import RunFolder
from models.paths import ROOT


def results_root(config: RunConfig) -> Path:
    """The configured results folder (relative paths are relative to the repository)."""
    root = Path(config.output.results_dir)
    return root if root.is_absolute() else ROOT / root


def new_run_id(root: Path, name: str) -> str:
    """``<UTC time>-<analysis name>-<random>``: sortable, and unique without a lock.

    The random suffix keeps two runs finishing in the same second apart.
    """
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    while True:
        run_id = f"{stamp}-{name}-{secrets.token_hex(3)}"
        if not (root / run_id).exists():
            return run_id


def readable_manifest(folder: Path) -> dict | None:
    """A run folder's manifest, or None if it is unreadable or lacks what every run records."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    fields = {"run_id": str, "created": str, "headline": dict}
    ok = all(isinstance(manifest.get(k), t) for k, t in fields.items())
    return manifest if ok else None


def _run_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if RunFolder(p).is_run()]


def previous_runs(root: Path) -> list[Path]:
    """Completed runs with a readable manifest, oldest first (see :func:`unreadable_runs`)."""
    runs = [(m["created"], p) for p in _run_folders(root) if (m := readable_manifest(p))]
    return [p for _, p in sorted(runs)]


def unreadable_runs(root: Path) -> list[Path]:
    """Run folders whose manifest is corrupt: skipped, never a reason to stop a new run."""
    return sorted(p for p in _run_folders(root) if readable_manifest(p) is None)


def update_latest(root: Path, run_dir: Path) -> bool:
    """Point results/latest at run_dir, atomically (a new link renamed over the old).

    Touches nothing that is not ours: if ``latest`` is a real file or folder (made after the
    run's checks), it is left alone and False is returned.
    """
    link = root / "latest"
    if link.exists() and not link.is_symlink():
        return False
    tmp = root / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(run_dir.name)
        os.replace(tmp, link)
    finally:
        if tmp.is_symlink():
            tmp.unlink()
    return True
