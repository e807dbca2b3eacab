"""How PyTensor compiles our models: one setting, applied before PyTensor is first imported.

PyTensor's in-place rewrites (reusing an input's memory for an output) cost more to search for
than they save on models this size: they took 12 of the 32 s that compiling the sensitivity
suite's one model took, while sampling time did not change measurably (``make bench`` records
both). PyTensor reads its flags once, at import, from ``PYTENSOR_FLAGS``; so the command line
and the suite's worker processes set them before anything imports it.
"""

from __future__ import annotations

import os
import sys

COMPILE_FLAGS = "optimizer_excluding=inplace"


def apply() -> bool:
    """Add our flags to ``PYTENSOR_FLAGS`` (kept: a user's own flags); False if too late.

    Returns
    -------
    bool
        Whether PyTensor will see them (it was not imported yet in this process). Processes
        started later inherit the environment either way.
    """
    current = os.environ.get("PYTENSOR_FLAGS", "")
    if COMPILE_FLAGS not in current.split(","):
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (current, COMPILE_FLAGS) if f)
    return "pytensor" not in sys.modules
