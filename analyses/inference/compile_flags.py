"""How PyTensor compiles our models: one setting, applied before PyTensor is first imported.

PyTensor's in-place rewrites (reusing an input's memory for an output) cost more to search for
than they save on models this size: they took 12 of the 32 s that compiling the sensitivity
suite's one model took, while sampling time did not change measurably (``make bench`` records
both). PyTensor reads its flags once, at import, from ``PYTENSOR_FLAGS``; so the command line
and the suite's worker processes set them before anything imports it.
"""

from __future__ import annotations

import os

COMPILE_FLAGS = "optimizer_excluding=inplace"


def apply() -> None:
    """Add our flags to ``PYTENSOR_FLAGS``, keeping a user's own flags.

    This process sees them only if PyTensor is not imported yet (hence the callers: the
    command line's entry point and the tests' conftest); processes it starts later inherit
    the environment either way.
    """
    current = os.environ.get("PYTENSOR_FLAGS", "")
    if COMPILE_FLAGS not in current.split(","):
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (current, COMPILE_FLAGS) if f)
