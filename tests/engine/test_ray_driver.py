"""What keeps the Ray engine's driver flat as the corpus grows, without a cluster: Ray
Data's per-block statistics bounded while the job runs; the consolidation runs where it
is asked to (a worker, for the Ray engine)."""

from __future__ import annotations

import inspect

import pytest

pytest.importorskip("ray")


def test_ray_datas_per_block_statistics_are_bounded():
    from ray.data._internal.execution.operators.map_operator import MapOperator

    from anyres.engine.ray_engine import bounded_block_stats

    # the attribute this bounds is where Ray keeps them (a Ray that moves it fails here)
    assert "_output_blocks_stats" in inspect.getsource(MapOperator._get_next_inner)

    class Operator:
        def __init__(self):
            self._output_blocks_stats, self.n = [], 0

        def _get_next_inner(self):
            self._output_blocks_stats.append(self.n)
            self.n += 1
            return "bundle"

    op = Operator()
    with bounded_block_stats(keep=3, operator=Operator):
        assert [op._get_next_inner() for _ in range(100)] == ["bundle"] * 100
        assert 3 <= len(op._output_blocks_stats) <= 6 and op._output_blocks_stats[-1] == 99
    for _ in range(10):
        op._get_next_inner()
    assert len(op._output_blocks_stats) > 10  # put back as it was


def test_consolidation_runs_where_it_is_asked_to(tmp_path):
    import torch

    from anyres.engine.store import Encoded, Store

    calls = []

    def elsewhere(fn, *args):
        calls.append(args)
        return fn(*args)

    with Store.open(tmp_path, {"preset": "p"}) as store:
        store.flush([Encoded("a.png", "h", 1, 1, "p", "", 2, "[]", 2, torch.zeros(2, 4))], [])
        assert store.consolidate(elsewhere) == (1, 0)
    assert calls == [(str(tmp_path),)]
