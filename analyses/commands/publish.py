"""Run folders: where a run goes, its id, the earlier runs, and the ``latest`` link."""

from __future__ import annotations

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


def previous_runs(root: Path) -> list[Path]:
    """Completed runs (folders with a manifest), oldest first."""
    if not root.exists():
        return []
    runs = [RunFolder(p) for p in root.iterdir() if RunFolder(p).is_run()]
    return [r.path for r in sorted(runs, key=lambda r: r.manifest["created"])]


def update_latest(root: Path, run_dir: Path) -> None:
    """Point results/latest at run_dir, atomically (a new link renamed over the old)."""
    link = root / "latest"
    tmp = root / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)
