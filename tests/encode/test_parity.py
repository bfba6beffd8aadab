"""Our encoders against transformers' own models, float32, on the same random weights."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from anyres.encode import load_encoder  # noqa: E402

from ..tolerance import assert_close_rel  # noqa: E402

# Our fused-qkv, in-place blocks vs transformers' modules on the same float32 weights: the
# same arithmetic in other kernels and orders, through up to 3 blocks of width 64 (and
# Qwen2-VL's merger). Budget in float32 ulps of the reference's largest magnitude (see
# tests/tolerance.py): a length-n dot product may round by n ulps; measured <= 9 here.
ULPS = 64


def hidden_states(model, pixels, **kwargs):
    with torch.no_grad():
        return model(pixels, output_hidden_states=True, **kwargs).hidden_states


def views(n, h, w, seed=0):
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def close(ours, ref):
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    assert_close_rel(ours, ref, ulps=ULPS)


@pytest.mark.parametrize("family", ["clip", "siglip"])
@pytest.mark.parametrize("layer", [-2, -1, 0, 1])
def test_tower_at_native_and_other_sizes(family, layer, clip_vision, siglip_vision):
    folder, ref = clip_vision if family == "clip" else siglip_vision
    encoder = load_encoder(folder, feature_layer=layer)
    assert encoder.family == family and encoder.patch_size == 14 and encoder.image_size == 56
    assert encoder.has_cls == (family == "clip") and len(encoder.blocks) == layer % 4
    for size in [(56, 56), (28, 84), (70, 42), (112, 98)]:  # native, then resampled up and down
        pixels = views(2, *size)
        ref_states = hidden_states(ref, pixels, interpolate_pos_encoding=size != (56, 56))
        with torch.no_grad():
            full = encoder.forward_features(pixels, keep_cls=True)
            dropped = encoder.forward_features(pixels)
        close(full, ref_states[layer])
        prefix = 1 if family == "clip" else 0
        close(dropped, ref_states[layer][:, prefix:])
        assert dropped.shape[1] == (size[0] // 14) * (size[1] // 14)


def test_dual_encoder_folders(clip_model, siglip_model):
    for folder, ref in (clip_model, siglip_model):
        encoder = load_encoder(folder, feature_layer=-1)
        assert encoder.patch_size == 16 and encoder.image_size == 64
        for size in [(64, 64), (32, 96)]:
            pixels = views(1, *size, seed=3)
            with torch.no_grad():
                out = ref.vision_model(pixels, interpolate_pos_encoding=True, output_hidden_states=True)
                ours = encoder.forward_features(pixels, keep_cls=True)
            close(ours, out.hidden_states[-1])


def test_llava_next_folder_loads_the_clip_tower(llava_next):
    folder, ref = llava_next
    config = json.loads((folder / "config.json").read_text())
    assert config["vision_feature_layer"] == -2
    encoder = load_encoder(folder)  # feature layer from the VLM config
    assert encoder.family == "clip" and encoder.feature_layer == 2
    pixels = views(3, 56, 56, seed=4)
    ref_states = hidden_states(ref.model.vision_tower, pixels)
    with torch.no_grad():
        close(encoder.forward_features(pixels), ref_states[-2][:, 1:])


def test_onevision_folder_loads_the_siglip_tower(onevision):
    folder, ref = onevision
    encoder = load_encoder(folder)  # OneVision's vision_feature_layer is -1
    assert encoder.family == "siglip" and encoder.feature_layer == 3
    pixels = views(2, 56, 56, seed=5)
    with torch.no_grad():
        close(encoder.forward_features(pixels), hidden_states(ref.model.vision_tower, pixels)[-1])


def test_sharded_checkpoint(clip_vision, tmp_path):
    _, ref = clip_vision
    ref.save_pretrained(tmp_path, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    encoder = load_encoder(tmp_path)
    pixels = views(1, 42, 70, seed=6)
    with torch.no_grad():
        close(encoder.forward_features(pixels, keep_cls=True), hidden_states(ref, pixels, interpolate_pos_encoding=True)[-2])


def qwen_batch(sizes, seed=0):
    import numpy as np
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=28 * 28 * 40)
    batch = processor(images=images, return_tensors="pt")
    return batch["pixel_values"], batch["image_grid_thw"]


def test_qwen2_vl_tower_on_packed_images(qwen2_vision):
    folder, ref = qwen2_vision
    encoder = load_encoder(folder)
    assert (encoder.family, encoder.merge_size, encoder.temporal_patch_size, encoder.hidden_size) == ("qwen2_vl", 2, 2, 48)
    pixels, grid = qwen_batch([(60, 90), (130, 50), (56, 56)])
    assert len(set(map(tuple, grid.tolist()))) == 3
    with torch.no_grad():
        merged = ref(pixels, grid_thw=grid).pooler_output
        ours = encoder.forward_packed(pixels, grid)
    close(ours, merged)
    assert ours.shape[0] == int((grid[:, 1] * grid[:, 2]).sum()) // 4


def test_qwen2_vl_vlm_folder(qwen2_vl):
    folder, ref = qwen2_vl
    encoder = load_encoder(folder)
    assert encoder.hidden_size == 32 and encoder.feature_layer == 3
    pixels, grid = qwen_batch([(84, 56), (56, 112)], seed=1)
    with torch.no_grad():
        close(encoder.forward_packed(pixels, grid), ref.model.visual(pixels, grid_thw=grid).pooler_output)


def test_qwen2_vl_features_of_views_match_the_packed_reference(qwen2_vision):
    """forward_features patchifies like the processor: same tokens as transformers on its output."""
    folder, ref = qwen2_vision
    encoder = load_encoder(folder)
    pixels = views(2, 56, 84, seed=7)
    patches = torch.cat([encoder.patchify(v)[0] for v in pixels])
    grid = torch.tensor([[1, 4, 6], [1, 4, 6]])
    with torch.no_grad():
        merged = ref(patches, grid_thw=grid).pooler_output
        ours = encoder.forward_features(pixels)
    close(ours.reshape(-1, 48), merged)


def test_qwen2_vl_patchify_matches_the_processor(qwen2_vision):
    import numpy as np
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    encoder = load_encoder(qwen2_vision[0])
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (56, 84, 3), dtype=np.uint8))
    processor = Qwen2VLImageProcessorPil(min_pixels=28 * 28, max_pixels=28 * 28 * 40)
    batch = processor(images=[image], return_tensors="pt")
    mean = torch.tensor(processor.image_mean).view(3, 1, 1)
    std = torch.tensor(processor.image_std).view(3, 1, 1)
    normalized = (torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255 - mean) / std
    patches, grid = encoder.patchify(normalized)
    assert grid == tuple(batch["image_grid_thw"][0].tolist())
    # normalisation ((x / 255 - mean) / std) in float32 on both sides, perhaps in another
    # order: a few roundings of values of magnitude ~2
    assert_close_rel(patches, batch["pixel_values"], ulps=8, what="patches")


def test_older_key_layouts(llava_next, tmp_path):
    """Hub LLaVA checkpoints nest the tower as vision_tower.vision_model.* and persist position_ids."""
    import shutil

    from safetensors.torch import load_file, save_file

    folder, ref = llava_next
    shutil.copy(folder / "config.json", tmp_path)
    state = {
        k.replace("vision_tower.", "vision_tower.vision_model.", 1): v
        for k, v in load_file(folder / "model.safetensors").items()
    }
    state["vision_tower.vision_model.embeddings.position_ids"] = torch.arange(17)[None]
    save_file(state, tmp_path / "model.safetensors")
    pixels = views(1, 56, 84, seed=8)
    with torch.no_grad():
        ours = load_encoder(tmp_path).forward_features(pixels)
        ref_states = hidden_states(ref.model.vision_tower, pixels, interpolate_pos_encoding=True)
    close(ours, ref_states[-2][:, 1:])


def test_qwen2_vl_at_an_earlier_layer(qwen2_vision):
    """feature_layer picks the hidden state the merger runs on (transformers' hidden_states index)."""
    folder, ref = qwen2_vision
    encoder = load_encoder(folder, feature_layer=-2)
    assert len(encoder.blocks) == 2
    pixels, grid = qwen_batch([(56, 84), (84, 56)], seed=2)
    with torch.no_grad():
        states = ref(pixels, grid_thw=grid, output_hidden_states=True).hidden_states
        close(encoder.forward_packed(pixels, grid), ref.merger(states[-2]))
