"""The registries' guarantees: shared parameters are read-only, a strategy name is
registered once (unless replaced on purpose) and never served from a stale cache, and
a spec string names each keyword once."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle

import pytest

import anyres
from anyres import SpecError
from anyres.plan import STRATEGIES, get_preset, parse_spec, resolve, unregister_preset, unregister_strategy
from anyres.plan.frozen import FrozenDict
from anyres.plan.strategies.fixed import FIXED


def test_plans_of_one_spec_share_params_that_cannot_be_changed():
    a = anyres.plan((1000, 600), "internvl(max_tiles=6)")
    b = anyres.plan((300, 200), "internvl(max_tiles=6)")
    assert a.params is b.params  # one object from resolve's cache: hence read-only
    mutations = [
        lambda p: p.__setitem__("max_tiles", 1),
        lambda p: p.__delitem__("max_tiles"),
        lambda p: p.update(max_tiles=1),
        lambda p: p.pop("max_tiles"),
        lambda p: p.popitem(),
        lambda p: p.clear(),
        lambda p: p.setdefault("new", 1),
        lambda p: p.__ior__({"max_tiles": 1}),
    ]
    for mutate in mutations:
        for shared in (a.params, a.overrides, get_preset("internvl").params):
            with pytest.raises(TypeError, match="read-only"):
                mutate(shared)
    assert a.params["max_tiles"] == 6 and a.overrides == {"max_tiles": 6}
    assert anyres.plan((1000, 600), "internvl(max_tiles=6)") == a


def test_read_only_params_still_behave_as_a_dict():
    p = anyres.plan((1000, 600), "llava-next")
    plain = dict(p.params)
    assert p.params == plain and plain == p.params and isinstance(p.params, dict)
    assert json.loads(json.dumps(p.params)) == json.loads(json.dumps(plain))
    plain["patch_size"] = 1  # a copy is an ordinary dict
    assert p.params["patch_size"] != 1
    assert {**p.params, "x": 1}["x"] == 1 and (p.params | {"x": 1})["x"] == 1
    assert p.to_dict()["params"]["patch_size"] == p.params["patch_size"]
    back = pickle.loads(pickle.dumps(p.params))
    assert isinstance(back, FrozenDict) and back == p.params
    assert pickle.loads(pickle.dumps(p)) == p
    assert copy.deepcopy(p.params) == p.params and copy.copy(p.params) is p.params
    assert hash(p.params) == hash(FrozenDict(dict(p.params)))  # hashable: its values are literals
    with pytest.raises(TypeError):
        hash(FrozenDict(a=[1]))


def _renamed(name: str, tokens_per_view: int | None = None) -> anyres.plan.Strategy:
    """The fixed strategy under another name (optionally with another token count)."""
    if tokens_per_view is None:
        return dataclasses.replace(FIXED, name=name)

    def plan(image, p):
        parts = FIXED.plan(image, p)
        views = tuple(v._replace(tokens=tokens_per_view) for v in parts.views)
        return dataclasses.replace(parts, views=views)

    return dataclasses.replace(FIXED, name=name, plan=plan)


def test_a_strategy_name_is_registered_once_unless_replaced_and_never_served_stale():
    name = "fixed-registry-test"
    try:
        anyres.register_strategy(_renamed(name))
        anyres.register_preset(name + "-preset", name)
        before = anyres.plan((640, 480), name + "-preset")
        with pytest.raises(SpecError, match="already registered"):
            anyres.register_strategy(_renamed(name, tokens_per_view=7))
        with pytest.raises(SpecError, match="already registered"):
            anyres.register_strategy(_renamed("fixed"))  # a built-in one too
        assert anyres.plan((640, 480), name + "-preset") == before
        anyres.register_strategy(_renamed(name, tokens_per_view=7), replace_existing=True)
        after = anyres.plan((640, 480), name + "-preset")  # the cache was cleared
        assert after.num_tokens == 7 != before.num_tokens
        with pytest.raises(SpecError, match="used by presets"):
            unregister_strategy(name)
    finally:
        unregister_preset(name + "-preset")
        unregister_strategy(name)
    assert name not in STRATEGIES
    with pytest.raises(SpecError, match="unknown strategy"):
        anyres.register_preset(name + "-preset", name)
    with pytest.raises(SpecError):
        anyres.register_strategy("fixed")  # not a Strategy


@pytest.mark.parametrize(
    "spec", ["internvl(max_tiles=6, max_tiles=8)", "internvl(max_tiles=6, min_tiles=1, max_tiles=6)"]
)
def test_a_keyword_given_twice_in_a_spec_is_refused(spec):
    with pytest.raises(SpecError, match="'max_tiles' is given more than once"):
        parse_spec(spec)
    with pytest.raises(SpecError, match="more than once"):
        anyres.plan((1000, 600), spec)
    with pytest.raises(SpecError, match="more than once"):
        resolve(spec)
    # an override on top of a spec is the documented way to change one of its values
    assert anyres.plan((1000, 600), "internvl(max_tiles=6)", max_tiles=8).params["max_tiles"] == 8
