"""nutpie's rewritten functions from disk: the same functions, the same draws, never another
model's, and a bad file costs a compile, never a result."""

import json
import subprocess
import sys

import numpy as np
import nutpie.compile_pymc as nutpie_pymc
import pymc as pm
import pytensor.tensor as pt
import pytest

from analyses.inference import callbacks, function_cache
from analyses.inference.callbacks import compile_pymc_model
from analyses.inference.sampling import SamplerSettings, sample_compiled
from models.paired_cells import paired_cells
from models.paths import ROOT

POINT = np.array([0.3, -1.2, 2.0, 0.1])
# The crossover cells compiled in this process and read from numba's disk cache in another
# differ in the last bits when the cache starts cold (-17.702857108125066 against
# -17.70285710812507, PyTensor's plain numba mode too; docs/performance.md, "Cold and warm
# compiles"). Another model's function would differ by far more: the datum 0.0625 read as
# 0.125 moves this log density by 4e-3 relative.
COLD_AND_WARM = 1e-14
ARGUMENTS = {"mode": "NUMBA", "compute_grad": True, "join_expanded": True, "var_names": None}


def small_model(observed: float = 0.5, scale: float = 2.0, sigma: float = 1.0) -> pm.Model:
    """Three normals, two data, a deterministic, and two Ops whose numba kernels must be
    registered before an unpickled function links: the crossover cells, and the scalar writes
    of the compile mode's rewrite (the gradient of ``x[0] * x[2]``)."""
    with pm.Model(coords={"i": ["a", "b", "c"]}) as model:
        sd = pm.Data("sigma", sigma)
        x = pm.Normal("x", 0.0, 1.0, dims="i")
        rho = pm.Uniform("rho", 0.0, 0.9)
        pm.Deterministic("scaled", scale * x.sum())
        cells = paired_cells(x[0], x[1], rho)[0]
        pm.Potential("cells", pt.log(cells).sum())
        pm.Normal("y", x.sum(), sigma=sd, observed=observed)
        pm.Normal("z", x[0] * x[2], observed=0.1)
    return model


def _key(model) -> str:
    return function_key_of(model, **ARGUMENTS)


function_key_of = function_cache.function_key


def _path(model):
    return callbacks._cache_folder() / f"functions-{_key(model)}.pkl"


@pytest.fixture
def counted(monkeypatch):
    """How many times nutpie's own ``_make_functions`` (the rewriting) ran."""
    calls = []
    original = nutpie_pymc._make_functions

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(nutpie_pymc, "_make_functions", counting)
    return calls


def _values(compiled, x):
    from tests.test_callbacks import _expand
    from tests.test_callbacks import _logp as callback_logp

    status, logp, grad = callback_logp(compiled, x)
    expand_status, expanded = _expand(compiled, x)
    assert status == 0 and expand_status == 0
    return logp, grad, expanded


def test_a_second_compile_loads_the_functions_and_gives_the_same_values(counted):
    model = small_model(observed=0.25)
    _path(model).unlink(missing_ok=True)
    first = compile_pymc_model(model)
    assert counted == [1] and _path(model).is_file()
    again = compile_pymc_model(small_model(observed=0.25))  # rebuilt: the same key
    assert counted == [1]
    for a, b in zip(_values(first, POINT), _values(again, POINT), strict=True):
        np.testing.assert_array_equal(a, b)
    settings = SamplerSettings(draws=100, tune=100, chains=2, seed=3)
    drawn = [sample_compiled(c, {}, settings)["posterior"] for c in (first, again)]
    for name in ("x", "rho", "scaled"):
        np.testing.assert_array_equal(drawn[0][name].values, drawn[1][name].values)


def test_the_key_is_never_another_models():
    base = _key(small_model())
    assert _key(small_model()) == base  # the same model, rebuilt
    others = [
        small_model(observed=0.75),  # a constant
        small_model(sigma=2.0),  # a datum (pm.Data)
        small_model(scale=3.0),  # a deterministic only: the log density is the same
    ]
    keys = [_key(m) for m in others]
    keys.append(function_key_of(small_model(), **(ARGUMENTS | {"var_names": ["x"]})))
    assert len({base, *keys}) == 5


def test_a_deterministic_of_its_own_is_not_loaded_from_another_model():
    # Same log density, another deterministic: were the key the log density alone, the second
    # model would store the first's "scaled".
    for scale in (2.0, 5.0):
        model = small_model(observed=0.125, scale=scale)
        compiled = compile_pymc_model(model)
        expanded = _values(compiled, POINT)[2]
        names, slices, _ = compiled.shape_info
        scaled = expanded[slices[names.index("scaled")]]
        assert scaled == pytest.approx(scale * POINT[:3].sum(), rel=1e-12)


def test_an_unreadable_file_is_removed_and_compiled_again(counted):
    model = small_model(observed=1.5)
    compile_pymc_model(model)
    path = _path(model)
    path.write_bytes(path.read_bytes()[:100])  # truncated, as a full disk might leave it
    calls = len(counted)
    healed = compile_pymc_model(small_model(observed=1.5))
    assert len(counted) == calls + 1  # compiled afresh, and stored whole again
    want = float(model.compile_logp()({"x": POINT[:3], "rho_interval__": POINT[3]}))
    assert _values(healed, POINT)[0] == pytest.approx(want, rel=1e-12)
    compile_pymc_model(small_model(observed=1.5))
    assert len(counted) == calls + 1


def test_a_model_that_cannot_be_pickled_compiles_without_the_cache(counted, monkeypatch):
    import cloudpickle

    def refuse(*args, **kwargs):
        raise TypeError("cannot pickle")

    monkeypatch.setattr(cloudpickle, "dump", refuse)
    model = small_model(observed=-0.5)
    _path(model).unlink(missing_ok=True)
    compiled = compile_pymc_model(model)
    assert counted == [1] and not _path(model).exists()
    assert not list(callbacks._cache_folder().glob(f"functions-{_key(model)}*"))
    assert np.isfinite(_values(compiled, POINT)[0])


def test_an_interrupted_write_interrupts_and_leaves_no_part_file(monkeypatch):
    import cloudpickle

    def interrupted(stored, f):
        f.write(b"half a pickle")
        raise KeyboardInterrupt

    monkeypatch.setattr(cloudpickle, "dump", interrupted)
    model = small_model(observed=-1.5)
    _path(model).unlink(missing_ok=True)
    with pytest.raises(KeyboardInterrupt):
        compile_pymc_model(model)
    assert not list(callbacks._cache_folder().glob(f"functions-{_key(model)}*"))


def test_bypassed_compiles_afresh_and_leaves_the_cache_alone(counted):
    model = small_model(observed=2.5)
    compile_pymc_model(model)  # stored now, or by an earlier session
    stored = len(counted)
    with function_cache.bypassed():
        assert not function_cache.enabled()
        compile_pymc_model(model)
    assert function_cache.enabled()
    assert len(counted) == stored + 1
    compile_pymc_model(model)
    assert len(counted) == stored + 1


# What a new process prints: the key, whether it rewrote, and the log density at POINT.
_CHILD = """
import json, sys
import numpy as np
import nutpie.compile_pymc as nutpie_pymc
from analyses.inference.callbacks import compile_pymc_model
from tests.test_function_cache import POINT, _key, _values, small_model
calls = []
original = nutpie_pymc._make_functions
nutpie_pymc._make_functions = lambda *a, **k: calls.append(1) or original(*a, **k)
model = small_model(observed=0.0625)
compiled = compile_pymc_model(model)
ops = {type(n.op).__name__ for n in compiled.logp_func.maker.fgraph.apply_nodes}
found = {"key": _key(model), "rewrote": len(calls), "logp": _values(compiled, POINT)[0]}
print(json.dumps(found | {"kernels": sorted(ops & {"PairedCells", "ScalarIncSubtensor"})}))
"""


def test_another_process_loads_what_this_one_stored():
    model = small_model(observed=0.0625)
    _path(model).unlink(missing_ok=True)
    want = _values(compile_pymc_model(model), POINT)[0]
    # An unregistered kernel would run in numba's object mode, with this warning: an error.
    child = subprocess.run(
        [sys.executable, "-W", "error:Numba will use object mode:UserWarning", "-c", _CHILD],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(child.stdout.strip().splitlines()[-1])
    kernels = ["PairedCells", "ScalarIncSubtensor"]
    assert found.pop("logp") == pytest.approx(want, rel=COLD_AND_WARM, abs=0)
    assert found == {"key": _key(model), "rewrote": 0, "kernels": kernels}


def _potential_model(potential) -> pm.Model:
    """One normal and a potential of it, built by ``potential(x)``."""
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0)
        pm.Potential("p", potential(x))
    return model


def test_constants_inside_an_inner_graph_are_in_the_key():
    from pytensor.compile.builders import OpFromGraph

    def weighted(middle):
        w = np.ones(1000)
        w[500] = middle  # printed graphs cut an array this long short
        a = pt.dscalar("a")
        return lambda x: -0.5 * OpFromGraph([a], [(pt.as_tensor(w) * a).sum()])(x)

    keys = {_key(_potential_model(weighted(m))) for m in (1.0, 3.0, 1.0 + 1e-12)}
    assert len(keys) == 3


def test_the_key_does_not_depend_on_which_nodes_share_an_op_object():
    """PyTensor reuses an Op object from its caches or makes a new one depending on what the
    process did before; one computation must hash the same either way (and OpFromGraph's
    inner graph counts for every node that calls it)."""
    import hashlib

    from pytensor.compile.builders import OpFromGraph
    from pytensor.scalar import add
    from pytensor.tensor.elemwise import Elemwise

    x = pt.dvector("x")
    shared_op, twin = Elemwise(add), Elemwise(add)
    assert shared_op == twin and shared_op is not twin

    def digest(outputs):
        found = hashlib.sha256()
        function_cache.hash_graph(outputs, found)
        return found.hexdigest()

    one = shared_op(shared_op(x, x), x)
    two = shared_op(twin(x, x), x)
    assert digest([one]) == digest([two])
    a, b = pt.dscalar("a"), pt.dscalar("b")
    double = OpFromGraph([a], [2 * a])
    shared_twice = double(double(b))
    twins_twice = OpFromGraph([a], [2 * a])(double(b))
    assert digest([shared_twice]) == digest([twins_twice])
    assert digest([shared_twice]) != digest([double(b)])


def test_an_ops_properties_are_in_the_key_whatever_it_prints():
    from pymc.distributions.dist_math import check_parameters

    def checked(replaceable):
        # PyMC prints both as Check{x < 1}; one raises, the other may become -inf.
        return lambda x: check_parameters(
            pt.zeros(()), x < 1.0, msg="x < 1", can_be_replaced_by_ninf=replaceable
        )

    assert _key(_potential_model(checked(True))) != _key(_potential_model(checked(False)))


_SQUARE = """
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op


class Square(Op):
    __props__ = ()

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0] ** 2

    def pullback(self, inputs, outputs, cotangents):
        return [FACTOR * inputs[0] * cotangents[0]]
"""


def test_an_ops_code_is_in_the_key(tmp_path, monkeypatch):
    import importlib

    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "square_op_for_the_key.py"
    module.write_text(_SQUARE.replace("FACTOR", "3.0"))
    square = importlib.import_module("square_op_for_the_key").Square()
    model = _potential_model(lambda x: -0.5 * square(x))
    before = _key(model)
    # The gradient fixed: the printed graph is the same, the compiled gradient is not.
    module.write_text(_SQUARE.replace("FACTOR", "2.0"))
    assert _key(model) != before


def test_the_compile_modes_rewrite_is_in_the_key(monkeypatch):
    from pathlib import Path

    from analyses.inference import graph_rewrites

    model = small_model()
    before = _key(model)
    # The printed graph is the one before the rewrite: an edited rewrite must change the key.
    rewrites, digest = Path(graph_rewrites.__file__).resolve(), function_cache._file_digest
    edited = lambda path: "edited" if path == rewrites else digest(path)  # noqa: E731
    monkeypatch.setattr(function_cache, "_file_digest", edited)
    assert _key(model) != before


# An Op without a numba kernel runs its Python perform in numba's object mode, and says so.
@pytest.mark.filterwarnings("ignore:Numba will use object mode")
def test_an_op_without_a_source_file_compiles_without_the_cache(counted):
    namespace: dict = {}
    exec(compile(_SQUARE.replace("FACTOR", "2.0"), "<notebook cell>", "exec"), namespace)
    namespace["Square"].__module__ = "__notebook__"  # as a class defined in a notebook
    model = _potential_model(lambda x: -0.5 * namespace["Square"]()(x))
    assert _key(model) is None
    compile_pymc_model(model)
    first = len(counted)  # PyTensor cannot key its kernel either: the callbacks compile twice
    compile_pymc_model(model)
    assert first >= 1 and len(counted) == 2 * first  # rewritten again: nothing was stored


def test_a_random_initial_value_does_not_make_every_key_new():
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0, initval="prior")
    assert _key(model) == _key(model)


def test_an_entry_for_other_free_variables_is_removed_and_compiled_again(counted):
    import pickle

    model = small_model(observed=0.375)
    compile_pymc_model(model)
    path = _path(model)
    calls = len(counted)
    path.write_bytes(pickle.dumps((1, 2, 3, 4, 5, 6)))  # the right length, nothing else
    assert np.isfinite(_values(compile_pymc_model(small_model(observed=0.375)), POINT)[0])
    assert len(counted) == calls + 1
    other = _path(small_model(observed=0.625))
    compile_pymc_model(small_model(observed=0.625))
    path.write_bytes(other.read_bytes())  # another model's entry under this key
    with pm.Model() as renamed:  # same sizes, other names: stored entries must not fit it
        pm.Normal("z", 0.0, 1.0, shape=4)
    names = [renamed.rvs_to_values[rv].name for rv in renamed.free_RVs]
    assert function_cache._load(other, names) is None and not other.exists()


def test_a_killed_writes_part_file_goes_at_the_next_write(counted):
    import os

    model = small_model(observed=0.875)
    path = _path(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = path.parent / f"{path.stem}.killed.part"
    fresh = path.parent / f"{path.stem}.writing.part"  # another process's, still writing
    for part in (stale, fresh):
        part.write_bytes(b"half a pickle")
    old = os.path.getmtime(stale) - function_cache.STALE_PART_SECONDS - 10
    os.utime(stale, (old, old))
    path.unlink(missing_ok=True)
    compile_pymc_model(model)
    assert not stale.exists() and fresh.exists() and path.is_file()
    fresh.unlink()
