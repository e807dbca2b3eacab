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

PyTensor also records, for every graph node it creates, the eight innermost lines of the Python
stack that created it (``traceback__limit``), to print in its own error messages. Building and
rewriting our graphs creates tens of thousands of nodes; without the record a quick run took
0.6 s less (20.7-21.1 s against 21.6-21.8 s, alternating, AMD EPYC, 2026-12-03) and the test
of every scenario's log density a fifth less. A user debugging a graph can set
``PYTENSOR_FLAGS=traceback__limit=8``: a flag the user sets wins over ours.
"""

from __future__ import annotations

import os

COMPILE_FLAGS = {"optimizer_excluding": "inplace", "traceback__limit": "0"}


def apply() -> None:
    """Add our flags to ``PYTENSOR_FLAGS``, keeping a user's own (theirs win).

    This process sees them only if PyTensor is not imported yet (hence the callers: the
    command line's entry point and the tests' conftest); processes it starts later inherit
    the environment either way.
    """
    current = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",") if f]
    theirs = {f.split("=", 1)[0].strip() for f in current}
    ours = [f"{key}={value}" for key, value in COMPILE_FLAGS.items() if key not in theirs]
    os.environ["PYTENSOR_FLAGS"] = ",".join(current + ours)
