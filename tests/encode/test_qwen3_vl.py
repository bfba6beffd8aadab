

@pytest.mark.parametrize(
    "field,value,message",
    [("num_position_embeddings", 35, "not a square grid"), ("deepstack_visual_indexes", "8", "list of layer indexes")],
)
def test_bad_tower_configs_are_checkpoint_errors(qwen3, tmp_path, field, value, message):
    import json
    import shutil

    from anyres.errors import CheckpointError

    shutil.copytree(qwen3[1], tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, **{field: value})))
    with pytest.raises(CheckpointError, match=message):
        load_encoder(tmp_path)
