"""PyTensor's flags: ours join a user's, a user's own setting wins, applying twice is once."""

from __future__ import annotations

import os

from analyses.inference import compile_flags


def test_our_flags_join_a_users_and_theirs_win(monkeypatch):
    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64, traceback__limit=8")
    compile_flags.apply()
    compile_flags.apply()
    flags = os.environ["PYTENSOR_FLAGS"].split(",")
    assert flags == [
        "floatX=float64",
        " traceback__limit=8",
        "optimizer_excluding=inplace",
    ]


def test_without_user_flags_ours_are_set(monkeypatch):
    monkeypatch.delenv("PYTENSOR_FLAGS", raising=False)
    compile_flags.apply()
    assert os.environ["PYTENSOR_FLAGS"] == "optimizer_excluding=inplace,traceback__limit=0"
