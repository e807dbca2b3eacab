"""How PyTensor compiles our models: one setting, applied before PyTensor is first imported.

PyTensor's in-place rewrites (reusing an input's memory for an output) cost more to search for
than they save on models this size. PyTensor reads its flags once, at import, from
``PYTENSOR_FLAGS``; so the command line and the suite's worker processes set them before
anything imports it.

They reach PyTensor's default mode only (the log-likelihoods and log priors). A predefined
mode is returned by ``get_mode`` before it applies ``optimizer_excluding``: the predictive
draws' FAST_COMPILE, and the NUMBA mode nutpie compiles in. Excluding in-place rewrites from
nutpie's mode as well was measured on 2026-12-02: the suite's one model compiled in 10 s
instead of 13 s, but every refit sampled 12% slower (1.03 s against 0.88 s), which costs more
than it saves over 20-odd refits. So nutpie's mode is left as it is.
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
