"""anyres.workers.check_workers: the one check every worker count goes through."""

from __future__ import annotations

import os

import pytest

from anyres import SpecError
from anyres.workers import ENV_MAX_WORKERS, check_workers


@pytest.mark.parametrize("bad", ["2", 2.5, True, None, [2], float("nan"), -1])
def test_not_a_count(bad):
    with pytest.raises(SpecError, match="num_workers") as info:
        check_workers(bad)
    assert repr(bad) in str(info.value) or str(bad) in str(info.value)


def test_bounded_by_the_cores_unless_forced(monkeypatch):
    monkeypatch.delenv(ENV_MAX_WORKERS, raising=False)
    cores = os.cpu_count() or 1
    assert check_workers(0) == 0 and check_workers(cores) == cores
    with pytest.raises(SpecError, match=rf"num_workers=1000000 is more than the {cores} allowed"):
        check_workers(10**6)
    assert check_workers(cores + 1, force=True) == cores + 1
    monkeypatch.setenv(ENV_MAX_WORKERS, str(cores + 3))
    assert check_workers(cores + 3) == cores + 3
    with pytest.raises(SpecError, match=f"more than the {cores + 3} allowed"):
        check_workers(cores + 4)
    monkeypatch.setenv(ENV_MAX_WORKERS, "lots")
    with pytest.raises(SpecError, match=ENV_MAX_WORKERS):
        check_workers(1)
