

@pytest.mark.parametrize(
    "field,value,message",
    [("window_size", 27, "smaller than one merged token"), ("fullatt_block_indexes", 1, "list of layer indexes")],
)
def test_bad_tower_configs_are_checkpoint_errors(qwen2_5, tmp_path, field, value, message):
    import json
    import shutil

    from anyres.errors import CheckpointError

    shutil.copytree(qwen2_5[1], tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, **{field: value})))
    with pytest.raises(CheckpointError, match=message):
        load_encoder(tmp_path)
