"""config.json, shard indexes and weight tensors are checked before anything is built.

A hostile or corrupt folder ends in a ``CheckpointError`` naming the field, its value and
the limit (or in a successful load), never in another exception, and a config that asks
for too much is refused before a weight is read or a module is built.
"""

from __future__ import annotations

import json
import shutil
import time
from unittest import mock

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from anyres.encode import ConfigLimits, load_encoder  # noqa: E402
from anyres.encode import layers, load  # noqa: E402
from anyres.errors import CheckpointError  # noqa: E402

VIT_FIELDS = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
              "patch_size", "num_channels", "layer_norm_eps", "hidden_act", "model_type"]  # fmt: skip
QWEN_FIELDS = ["depth", "embed_dim", "hidden_size", "num_heads", "num_attention_heads", "mlp_ratio", "patch_size",
               "temporal_patch_size", "spatial_merge_size", "in_channels", "hidden_act", "rope_parameters",
               "rope_theta", "model_type"]  # fmt: skip
PIXTRAL_FIELDS = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
                  "patch_size", "num_channels", "hidden_act", "rope_parameters", "rope_theta", "head_dim",
                  "model_type"]  # fmt: skip
PARENT_FIELDS = ["model_type", "vision_config", "vision_feature_layer"]
INTERNVIT_FIELDS = [*VIT_FIELDS, "norm_type", "use_qk_norm", "attention_bias", "use_mean_pooling",
                    "use_absolute_position_embeddings"]  # fmt: skip

HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 130),
    st.integers(min_value=1001, max_value=10**30),
    st.integers(max_value=-1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 70), max_size=3),
    st.lists(st.one_of(st.none(), st.just({}), st.text(max_size=2)), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.floats(), st.text(max_size=3)), max_size=2),
    st.sampled_from([10**5, 2**63, 1e308, float("nan"), float("inf"), -0.0, 0.5, "12", "gelu", "quick_gelu",
                     [[1]], {"rope_theta": "x"}, {"rope_theta": float("nan")}, [64, 64], [64, 32]]),  # fmt: skip
)


@pytest.fixture(scope="module")
def folders(clip_vision, qwen2_vision, pixtral_vision, llava_next, internvit_vision, gemma3_model, tmp_path_factory):
    """Private copies whose config.json each example rewrites (the weights stay)."""
    out = {}
    sources = {"clip": clip_vision, "qwen": qwen2_vision, "pixtral": pixtral_vision, "parent": llava_next,
               "internvit": internvit_vision, "gemma3": gemma3_model}
    for name, (source, _) in sources.items():
        target = tmp_path_factory.mktemp(f"fuzz_{name}") / "model"
        shutil.copytree(source, target)
        out[name] = (target, json.loads((target / "config.json").read_text()))
    return out


class BlockCounter:
    """Counts transformer blocks built, to show that a refused config built none."""

    def __init__(self):
        self.built = 0
        original = layers.Block.__init__

        def counting(block, *args, **kwargs):
            self.built += 1
            original(block, *args, **kwargs)

        self.patch = mock.patch.object(layers.Block, "__init__", counting)


def load_or_refuse(folder, config):
    """Load after writing ``config``: the encoder, or the CheckpointError (anything else fails)."""
    (folder / "config.json").write_text(json.dumps(config))
    counter = BlockCounter()
    with counter.patch:
        try:
            encoder = load_encoder(folder, feature_layer=-1)
        except CheckpointError as exc:
            assert str(folder) in str(exc)
            return exc, counter.built
    return encoder, counter.built


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(VIT_FIELDS), HOSTILE, min_size=1, max_size=3))
def test_clip_config_fuzz(folders, changes):
    folder, base = folders["clip"]
    result, built = load_or_refuse(folder, {**base, **changes})
    assert built <= ConfigLimits().num_layers
    if not isinstance(result, CheckpointError):  # only values equal in meaning to the saved ones load
        assert result.hidden_size == base["hidden_size"] and result.feature_layer == base["num_hidden_layers"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(QWEN_FIELDS), HOSTILE, min_size=1, max_size=3))
def test_qwen2_vl_config_fuzz(folders, changes):
    folder, base = folders["qwen"]
    result, built = load_or_refuse(folder, {**base, **changes})
    assert built <= ConfigLimits().num_layers
    if not isinstance(result, CheckpointError):
        assert result.hidden_size == base["hidden_size"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(INTERNVIT_FIELDS), HOSTILE, min_size=1, max_size=3))
def test_internvit_config_fuzz(folders, changes):
    folder, base = folders["internvit"]
    result, built = load_or_refuse(folder, {**base, **changes})
    assert built <= ConfigLimits().num_layers
    if not isinstance(result, CheckpointError):
        assert result.hidden_size == base["hidden_size"] and result.feature_layer == base["num_hidden_layers"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(PIXTRAL_FIELDS), HOSTILE, min_size=1, max_size=3))
def test_pixtral_config_fuzz(folders, changes):
    folder, base = folders["pixtral"]
    result, built = load_or_refuse(folder, {**base, **changes})
    assert built <= ConfigLimits().num_layers
    if not isinstance(result, CheckpointError):
        assert result.hidden_size == base["hidden_size"] and result.feature_layer == base["num_hidden_layers"]


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(PARENT_FIELDS), HOSTILE, max_size=2),
    vision=st.dictionaries(st.sampled_from(VIT_FIELDS), HOSTILE, max_size=2),
    parent=st.sampled_from(["parent", "gemma3"]),
)
def test_parent_config_fuzz(folders, changes, vision, parent):
    folder, base = folders[parent]
    config = {**base, "vision_config": {**base["vision_config"], **vision}}
    result, built = load_or_refuse(folder, {**config, **changes})
    assert built <= ConfigLimits().num_layers


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("num_hidden_layers", 10**5, "num_hidden_layers=100000 must be an integer in 1..1000"),
        ("hidden_size", 2**20, "hidden_size=1048576 must be an integer in 1..65536"),
        ("hidden_size", 66, "hidden_size=66 is not divisible by num_attention_heads=4"),
        ("num_attention_heads", 0, "num_attention_heads=0 must be an integer in 1..1024"),
        ("layer_norm_eps", float("nan"), "layer_norm_eps=nan must be a finite number in (0, 1]"),
        ("layer_norm_eps", "1e-5", "layer_norm_eps='1e-5' must be a finite number"),
        ("layer_norm_eps", None, "layer_norm_eps=None must be a finite number"),
        ("hidden_act", ["gelu"], "hidden_act=['gelu'] is not supported (supported: quick_gelu"),
        ("model_type", ["clip_vision_model"], "model_type=['clip_vision_model'] must be a string"),
        ("image_size", 7, "image_size=7 is smaller than patch_size=14"),
        ("patch_size", True, "patch_size=True must be an integer"),
        ("intermediate_size", 2.5, "intermediate_size=2.5 must be an integer in 1..262144"),
    ],
)
def test_bad_fields_are_named_with_their_limit_before_any_weight_is_read(folders, field, value, words):
    folder, base = folders["clip"]
    (folder / "config.json").write_text(json.dumps({**base, field: value}))
    with mock.patch.object(load, "Checkpoint", side_effect=AssertionError("weights read before the config check")):
        with pytest.raises(CheckpointError) as info:
            load_encoder(folder)
    assert words in str(info.value) and str(folder) in str(info.value)


def test_limits_are_overridable(folders):
    folder, base = folders["clip"]
    (folder / "config.json").write_text(json.dumps(base))
    with pytest.raises(CheckpointError, match=r"num_hidden_layers=3 must be an integer in 1\.\.2"):
        load_encoder(folder, limits=ConfigLimits(num_layers=2))
    with pytest.raises(CheckpointError, match="over the limit of 1,000 \\(ConfigLimits.parameters\\)"):
        load_encoder(folder, limits=ConfigLimits(parameters=1000))
    big = {**base, "num_hidden_layers": 1200}  # allowed by a raised bound; then the weights are missing
    (folder / "config.json").write_text(json.dumps(big))
    with pytest.raises(CheckpointError, match="missing weights"):
        load_encoder(folder, feature_layer=-1, limits=ConfigLimits(num_layers=2000))


def test_a_huge_layer_count_is_refused_at_once(folders):
    """10**5 layers used to build 10**5 blocks (minutes, gigabytes); now refused from the config."""
    folder, base = folders["clip"]
    counter = BlockCounter()
    (folder / "config.json").write_text(json.dumps({**base, "num_hidden_layers": 10**5}))
    start = time.perf_counter()
    with counter.patch, pytest.raises(CheckpointError, match="num_hidden_layers=100000"):
        load_encoder(folder)
    elapsed = time.perf_counter() - start
    assert counter.built == 0, elapsed  # the elapsed time shows in the failure message; not asserted


def test_deeply_nested_and_oversized_json(folders, tmp_path):
    folder, base = folders["clip"]
    (folder / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="nests too deeply"):
        load_encoder(folder)
    (folder / "config.json").write_text(json.dumps({**base, "vision_config": [1]}))
    load_encoder(folder)  # a tower config's own model_type wins; vision_config is not read
    (folder / "config.json").write_text(json.dumps({"model_type": "llava", "vision_config": [1]}))
    with pytest.raises(CheckpointError, match="vision_config holds a list"):
        load_encoder(folder)
    (folder / "config.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_encoder(folder)


@pytest.mark.parametrize(
    "weight_map, words",
    [
        ([], "no weight_map object"),
        ({}, "no weight_map object"),
        ("model.safetensors", "no weight_map object"),
        ({"x": 3}, "maps 'x' to 3"),
        ({"x": None}, "maps 'x' to None"),
        ({"x": "../model/model.safetensors"}, "shards must be file names inside the folder"),
        ({"x": "/etc/passwd"}, "shards must be file names inside the folder"),
        ({"x": ["model.safetensors"]}, "maps 'x' to ['model.safetensors']"),
        ({"x": "absent.safetensors"}, "lists shards that are not there: absent.safetensors"),
    ],
)
def test_malformed_shard_index(clip_vision, tmp_path, weight_map, words):
    folder = tmp_path / "model"
    shutil.copytree(clip_vision[0], folder)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    with pytest.raises(CheckpointError, match=None) as info:
        load_encoder(folder)
    assert words in str(info.value)
    (folder / "model.safetensors.index.json").write_text(json.dumps([1, 2]))
    with pytest.raises(CheckpointError, match="no weight_map object"):
        load_encoder(folder)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int8, torch.bool])
def test_integer_or_bool_weights_are_refused(clip_vision, tmp_path, dtype):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(clip_vision[0], folder)
    state = load_file(folder / "model.safetensors")
    state["encoder.layers.0.mlp.fc1.weight"] = torch.ones_like(state["encoder.layers.0.mlp.fc1.weight"], dtype=dtype)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=rf"integer or bool tensors where float weights are expected: "
                                              rf"blocks\.0\.mlp\.fc1\.weight \({dtype}\)"):  # fmt: skip
        load_encoder(folder)


def test_pickled_entries_that_are_not_tensors(clip_vision, tmp_path):
    from safetensors.torch import load_file

    folder = tmp_path / "model"
    shutil.copytree(clip_vision[0], folder)
    state = load_file(folder / "model.safetensors")
    state["encoder.layers.0.mlp.fc1.weight"] = 3
    state["embeddings.patch_embedding.weight"] = torch.zeros(0)
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"not tensors: encoder\.layers\.0\.mlp\.fc1\.weight"):
        load_encoder(folder, allow_pickle=True)
    state["encoder.layers.0.mlp.fc1.weight"] = torch.zeros(2)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError):
        load_encoder(folder, allow_pickle=True)


# --- Idefics3 / SmolVLM and SigLIP2 NaFlex towers (tower-siglip) ---
NAVIT_FIELDS = [*VIT_FIELDS, "num_patches"]


@pytest.fixture(scope="module")
def navit_folders(tmp_path_factory):
    """A SigLIP2 vision tower and an Idefics3 VLM, tiny and random, each config rewritten per example."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Siglip2VisionConfig, Siglip2VisionModel

    from .conftest import TEXT, VISION, randomize

    siglip2 = randomize(Siglip2VisionModel(Siglip2VisionConfig(**{**VISION, "patch_size": 16, "num_patches": 16})), 51)
    idefics3 = randomize(Idefics3ForConditionalGeneration(Idefics3Config(
        vision_config=dict(VISION, patch_size=14), text_config=dict(TEXT, model_type="llama", num_key_value_heads=2))), 52)
    out = {}
    for name, model in (("siglip2", siglip2), ("idefics3", idefics3)):
        target = tmp_path_factory.mktemp(f"fuzz_{name}") / "model"
        model.save_pretrained(target)
        out[name] = (target, json.loads((target / "config.json").read_text()))
    return out


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(NAVIT_FIELDS), HOSTILE, min_size=1, max_size=3))
def test_siglip2_config_fuzz(navit_folders, changes):
    folder, base = navit_folders["siglip2"]
    result, built = load_or_refuse(folder, {**base, **changes})
    assert built <= ConfigLimits().num_layers
    if not isinstance(result, CheckpointError):
        assert result.hidden_size == base["hidden_size"] and result.cfg.position_side == 4


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(PARENT_FIELDS), HOSTILE, max_size=2),
    vision=st.dictionaries(st.sampled_from(NAVIT_FIELDS), HOSTILE, min_size=1, max_size=2),
)
def test_idefics3_parent_config_fuzz(navit_folders, changes, vision):
    folder, base = navit_folders["idefics3"]
    config = {**base, "vision_config": {**base["vision_config"], **vision}}
    result, built = load_or_refuse(folder, {**config, **changes})
    assert built <= ConfigLimits().num_layers
    if not isinstance(result, CheckpointError) and result.family == "idefics3":
        assert result.hidden_size == base["vision_config"]["hidden_size"]
