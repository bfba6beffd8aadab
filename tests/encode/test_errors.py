"""Every way a folder can be wrong raises CheckpointError naming the folder and the problem."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")

import anyres  # noqa: E402
from anyres.errors import CheckpointError  # noqa: E402
from anyres.encode import load_encoder  # noqa: E402

from ..tolerance import assert_close_rel  # noqa: E402


def copy(folder, tmp_path, name="model"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def test_missing_folder_and_not_a_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such folder"):
        load_encoder(tmp_path / "absent")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        load_encoder(tmp_path / "file")
    assert issubclass(CheckpointError, anyres.AnyresError) and issubclass(CheckpointError, ValueError)


def test_missing_or_broken_config(clip_vision, tmp_path):
    folder = copy(clip_vision[0], tmp_path)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match=f"{folder}: missing config.json"):
        load_encoder(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_encoder(folder)


def test_unknown_model_type(clip_vision, tmp_path):
    folder = copy(clip_vision[0], tmp_path)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="unknown model_type 'bert'"):
        load_encoder(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "llava", "vision_config": {"model_type": "vit"}}))
    with pytest.raises(CheckpointError, match="unknown vision tower model_type 'vit'"):
        load_encoder(folder)


def test_pickle_only_folder_is_refused_unless_allowed(clip_vision, tmp_path):
    source, ref = clip_vision
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copy(source / "config.json", folder)
    torch.save(ref.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="only pickled weights.*allow_pickle=True"):
        load_encoder(folder)
    encoder = load_encoder(folder, allow_pickle=True)
    safe = load_encoder(source)
    pixels = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        assert torch.equal(encoder.forward_features(pixels), safe.forward_features(pixels))


def test_no_weights_at_all(clip_vision, tmp_path):
    folder = copy(clip_vision[0], tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights"):
        load_encoder(folder)


def test_shapes_that_disagree_with_the_config(clip_vision, tmp_path):
    folder = copy(clip_vision[0], tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 96
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"shapes that disagree.*blocks\.0\.mlp\.fc1\.weight \(128, 64\)"):
        load_encoder(folder)


def test_missing_and_unexpected_keys_are_listed(clip_vision, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy(clip_vision[0], tmp_path)
    state = load_file(folder / "model.safetensors")
    del state["encoder.layers.1.mlp.fc2.bias"]
    state["encoder.layers.0.extra.weight"] = torch.zeros(2)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError) as info:
        load_encoder(folder, feature_layer=-1)
    message = str(info.value)
    assert str(folder) in message
    assert "missing weights: blocks.1.mlp.fc2.bias" in message
    assert "unexpected weights: encoder.layers.0.extra.weight" in message
    del state["encoder.layers.0.extra.weight"]
    save_file(state, folder / "model.safetensors")
    load_encoder(folder, feature_layer=1)  # layer 1 lies past feature layer 1: its weights are not needed


def test_no_tower_weights_and_bad_feature_layer(clip_vision, tmp_path):
    from safetensors.torch import save_file

    folder = copy(clip_vision[0], tmp_path)
    with pytest.raises(CheckpointError, match="feature_layer=-5 is outside the 4 hidden states"):
        load_encoder(folder, feature_layer=-5)
    save_file({"text_model.weight": torch.zeros(1)}, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="no clip vision tower weights found"):
        load_encoder(folder)


def test_views_are_cut_like_a_valid_convolution(clip_vision, qwen2_vision):
    """A 56x50 view is 4x3 patches (the last 8 columns left out, as transformers' conv
    does for SigLIP-384/14), packed or not; smaller than a patch, or a Qwen2-VL view
    without whole merge blocks, is a ShapeError."""
    encoder = load_encoder(clip_vision[0])
    x = torch.randn(1, 3, 56, 50)
    out = encoder.forward_features(x)
    assert out.shape[1] == 4 * 3
    # the same patches through the same kernels (bit-equal here); packed vs batched as in
    # test_packed.py's PACKED_ULPS
    assert_close_rel(out, encoder.forward_features(x[..., :42]), ulps=8, what="cut view")
    assert_close_rel(encoder.forward_views([x[0]])[0], out[0], ulps=64, what="packed")
    with pytest.raises(anyres.ShapeError, match="smaller than one 14x14 patch"):
        encoder.forward_features(torch.zeros(1, 3, 56, 13))
    with pytest.raises(anyres.ShapeError, match="multiple of 28"):
        load_encoder(qwen2_vision[0]).forward_views([torch.zeros(3, 56, 42)])


def test_import_anyres_stays_light():
    import subprocess
    import sys

    code = "import anyres, sys; assert 'torch' not in sys.modules and 'anyres.encode' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
