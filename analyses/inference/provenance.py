"""What every result records about how it was made, and writing it safely."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "pymc",
    "pytensor",
    "nutpie",
    "arviz",
    "arviz-base",
    "arviz-stats",
    "arviz-plots",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "h5netcdf",
    "matplotlib",
)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a result."""
    import platform

    versions = {name: metadata.version(name) for name in PACKAGES}
    versions["python"] = platform.python_version()
    return versions


# Tracked folders that are not code: the evidence, the validation record (which a validation
# rewrites as it runs) and the documentation. A change there does not make the code "dirty".
NOT_CODE = ("data", "validation", "docs")


def code_version(root: Path | None = None) -> dict[str, str | bool | None]:
    """The toolkit's version, and its git commit when run from a checkout (else None).

    ``dirty`` says whether tracked files outside :data:`NOT_CODE` differ from that commit, so
    "what changed" can tell a change of code from a change of data (an edited study file is
    data, recorded by the data hash). ``root``: the checkout (default: this one).
    """
    from analyses import __version__

    root = root or Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    outside = [f":(exclude){folder}" for folder in NOT_CODE]
    status = (
        git("status", "--porcelain", "--untracked-files=no", "--", ".", *outside)
        if commit
        else None
    )
    return {"version": __version__, "commit": commit, "dirty": bool(status) if commit else None}


def file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_attrs(**values) -> dict[str, str]:
    """Root attrs for netCDF: every value as a JSON string (dicts are not netCDF types)."""
    return {
        k: v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)
        for k, v in values.items()
    }


@contextmanager
def staged_directory(final: Path, before_publish=None) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; move it into place only on success.

    If the block raises (or is interrupted), the temporary folder is deleted and ``final``
    is never created, so earlier results are untouched. ``before_publish`` (e.g.
    :func:`analyses.inference.signals.check`) runs last and may still refuse to publish.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.partial-", dir=final.parent))
    # mkdtemp makes a private (0700) folder; a published run follows the user's umask like any
    # other folder, so colleagues on a shared server can read it.
    os.chmod(staging, 0o777 & ~current_umask())
    try:
        yield staging
        if before_publish is not None:
            before_publish()
        os.replace(staging, final)  # atomic on one filesystem; fails if final is non-empty
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def current_umask() -> int:
    """The process's umask (``os.umask`` can only be read by setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: a failed write leaves the old file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp's 0600, as for the folders
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
