"""Our C callbacks for nutpie agree with nutpie's own: values, gradients, status codes, draws."""

import ctypes
import re

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import pytest
from pytensor.raise_op import Assert

from analyses.inference.callbacks import CHECKED_NUTPIE, compile_pymc_model
from models.paths import ROOT

DOUBLE_P = ctypes.POINTER(ctypes.c_double)


def _model() -> pm.Model:
    with pm.Model(coords={"i": ["a", "b", "c"]}) as model:
        sigma = pm.Data("sigma", 1.0)
        # A negative guard makes the log density raise, as a failed assertion in a graph does.
        guard = pm.Data("guard", 1.0)
        pm.Potential("guarded", Assert("guard must be positive")(pt.constant(0.0), guard > 0))
        x = pm.Normal("x", 0.0, 1.0, dims="i")
        pm.Deterministic("total", x.sum())
        pm.Normal("y", x.sum(), sigma=sigma, observed=0.5)
    return model


@pytest.fixture(scope="module")
def both():
    model = _model()
    return {own: compile_pymc_model(model, own_callbacks=own) for own in (True, False)}


def _logp(compiled, x, dim=None):
    """Call the log-density callback as nutpie's sampler does; (status, logp, gradient)."""
    x = np.ascontiguousarray(x, dtype=float)
    grad, logp = np.zeros(compiled.n_dim), np.zeros(1)
    status = compiled.compiled_logp_func.ctypes(
        compiled.n_dim if dim is None else dim,
        x.ctypes.data_as(DOUBLE_P),
        grad.ctypes.data_as(DOUBLE_P),
        logp.ctypes.data_as(DOUBLE_P),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    return status, logp[0], grad


def _expand(compiled, x, dim=None):
    x = np.ascontiguousarray(x, dtype=float)
    out = np.zeros(compiled.n_expanded)
    status = compiled.compiled_expand_func.ctypes(
        compiled.n_dim if dim is None else dim,
        compiled.n_expanded,
        x.ctypes.data_as(DOUBLE_P),
        out.ctypes.data_as(DOUBLE_P),
        ctypes.c_void_p(compiled.user_data.ctypes.data),
    )
    return status, out


def test_the_callbacks_are_checked_against_the_locked_nutpie():
    pin = re.search(r"^nutpie==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert pin is not None and pin.group(1) == CHECKED_NUTPIE


def test_log_density_and_gradient_agree_with_nutpies_own_and_with_pymc(both):
    model = _model()
    point = np.array([0.3, -1.2, 2.0])
    ours, theirs = _logp(both[True], point), _logp(both[False], point)
    assert ours[0] == theirs[0] == 0
    assert ours[1] == theirs[1]
    np.testing.assert_array_equal(ours[2], theirs[2])
    want = model.compile_logp()({"x": point})
    assert ours[1] == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("non-finite gradient", 3),
        ("non-finite log density", 4),
        ("raises", 1),
        ("wrong dimension", -1),
    ],
)
def test_failures_give_nutpies_status_codes(both, case, status):
    point = np.array([0.3, -1.2, 2.0])
    if case == "non-finite gradient":
        point[0] = np.inf
    data = {"non-finite log density": {"sigma": -1.0}, "raises": {"guard": -1.0}}.get(case)
    if data:  # PyMC's parameter check gives -inf for a negative sigma; the guard raises
        both = {own: c.with_data(**data) for own, c in both.items()}
    dim = 2 if case == "wrong dimension" else None
    assert _logp(both[True], point, dim)[0] == _logp(both[False], point, dim)[0] == status


def test_expand_agrees_with_nutpies_own(both):
    point = np.array([0.3, -1.2, 2.0])
    ours, theirs = _expand(both[True], point), _expand(both[False], point)
    assert ours[0] == theirs[0] == 0
    np.testing.assert_array_equal(ours[1], theirs[1])
    assert ours[1][-1] == pytest.approx(point.sum())
    assert _expand(both[True], point, dim=2)[0] == _expand(both[False], point, dim=2)[0] == -1


@pytest.mark.fit
def test_the_draws_are_nutpies_own(both):
    import nutpie

    draws = [
        nutpie.sample(c, draws=200, tune=200, chains=2, seed=3, progress_bar=False)
        for c in (both[True], both[False])
    ]
    for name in ("x", "total"):
        np.testing.assert_array_equal(draws[0]["posterior"][name], draws[1]["posterior"][name])


def _constant_model(observed: float) -> pm.Model:
    """Models that differ in one constant only: same shapes, same layout, another graph."""
    with pm.Model() as model:
        x = pm.Normal("x", 0.0, 1.0, shape=3)
        pm.Normal("y", x.sum(), 1.0, observed=observed)
    return model


def test_a_second_compile_loads_the_callbacks_from_the_disk_cache():
    first = compile_pymc_model(_constant_model(0.5))
    again = compile_pymc_model(_constant_model(0.5))
    for compiled in (again.compiled_logp_func, again.compiled_expand_func):
        assert compiled._cache_hits == 1
    point = np.array([0.3, -1.2, 2.0])
    assert _logp(again, point)[:2] == _logp(first, point)[:2]


def test_a_cached_callback_is_never_another_models():
    # Same dimensions and data layout, another constant: were the cache keyed on the layout
    # alone, the second model would load the first's compiled log density.
    point = np.array([0.3, -1.2, 2.0])
    for observed in (0.5, 7.0):
        model = _constant_model(observed)
        want = float(model.compile_logp()({"x": point}))
        assert _logp(compile_pymc_model(model), point)[1] == pytest.approx(want, rel=1e-12)


def test_a_graph_pytensor_cannot_key_compiles_without_the_cache(monkeypatch):
    import analyses.inference.callbacks as callbacks

    monkeypatch.setattr(callbacks, "_cache_key", lambda *args: None)
    model = _constant_model(0.5)
    compiled = compile_pymc_model(model)
    assert compiled.compiled_logp_func._cache_hits == 0
    point = np.array([0.3, -1.2, 2.0])
    want = float(model.compile_logp()({"x": point}))
    assert _logp(compiled, point)[1] == pytest.approx(want, rel=1e-12)


def test_an_unreadable_cache_file_is_replaced_not_fatal():
    from analyses.inference import callbacks

    model = _constant_model(3.25)  # this test's own model: its cache files are its own
    first = compile_pymc_model(model)
    keys = [callbacks._CACHE_KEYS[f._pyfunc] for f in (first.compiled_logp_func,)]
    files = [p for key in keys for p in callbacks._cache_folder().glob(f"*-{key}.*")]
    assert files
    for path in files:  # truncated, as a full disk might leave them
        path.write_bytes(path.read_bytes()[:40])
    point = np.array([0.3, -1.2, 2.0])
    want = float(model.compile_logp()({"x": point}))
    healed = compile_pymc_model(model)
    assert _logp(healed, point)[1] == pytest.approx(want, rel=1e-12)
    assert compile_pymc_model(model).compiled_logp_func._cache_hits == 1


def test_the_cache_folder_is_pruned_least_recently_used_first(tmp_path, monkeypatch):
    import os

    from analyses.inference import callbacks

    monkeypatch.setattr(callbacks, "_cache_folder", lambda: tmp_path)
    keys = [f"{k:064x}" for k in range(1, 5)]  # oldest first
    for age, key in enumerate(reversed(keys)):
        for suffix in ("py312.nbi", "py312.1.nbc"):
            path = tmp_path / f"callbacks._logp_numba-{key}.{suffix}"
            path.write_bytes(b"x" * 100)
            os.utime(path, (1e9 - age * 1000, 1e9 - age * 1000))
    stranger = tmp_path / "not-a-callback.txt"
    stranger.write_bytes(b"x" * 1000)
    # 800 bytes of entries against a limit of 450: the oldest entries go, except the one
    # just used (the oldest, now the most recent), until the folder is within the limit.
    callbacks.prune(keep=[keys[0]], limit=450)
    left = {p.name.split("-")[1].split(".")[0] for p in tmp_path.glob("callbacks.*")}
    assert left == {keys[0], keys[3]}
    assert stranger.exists()
    callbacks.prune(keep=[], limit=10**9)  # within the limit: nothing goes
    assert len(list(tmp_path.glob("callbacks.*"))) == 4
    callbacks.prune(keep=[keys[3]], limit=0)  # the entry in use stays whatever the limit
    assert [p.name for p in tmp_path.glob("callbacks.*")] and all(
        keys[3] in p.name for p in tmp_path.glob("callbacks.*")
    )
