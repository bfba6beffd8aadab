"""Reading a transformers model folder: ``config.json`` and its weights.

Weights are read lazily: first the key names (from the safetensors headers or the
shard index), then only the tensors that are asked for, so loading the vision tower of
a large VLM reads the vision shards only. Safetensors is the default format; pickled
``pytorch_model.bin`` files are refused unless ``allow_pickle=True``, and then loaded
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch

from ..errors import CheckpointError

SAFE_INDEX, SAFE_FILE = "model.safetensors.index.json", "model.safetensors"
PICKLE_INDEX, PICKLE_FILE = "pytorch_model.bin.index.json", "pytorch_model.bin"
# config.json and shard indexes are kilobytes (a 1,000-shard index ~100 KB); refuse to parse more.
MAX_JSON_BYTES = 64 * 1024 * 1024


def model_folder(path: str | Path) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise CheckpointError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: not a folder (expected a transformers model folder with config.json)")
    return folder


def read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: missing config.json")
    config = _read_json(path, folder)
    if not isinstance(config, dict):
        raise CheckpointError(f"{folder}: config.json holds a {type(config).__name__}, not an object")
    return config


def _read_json(path: Path, folder: Path):
    """A small JSON file (config, shard index); anything else is a ``CheckpointError``."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise CheckpointError(
                f"{folder}: {path.name} is {size:,} bytes, over the {MAX_JSON_BYTES:,} a config may hold"
            )
        return json.loads(path.read_bytes())
    except RecursionError:
        raise CheckpointError(f"{folder}: {path.name} nests too deeply to be a config") from None
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{folder}: {path.name} is not valid JSON ({exc})") from None


def _read_index(folder: Path, name: str) -> dict[str, Path]:
    """``weight_map`` of a shard index: tensor name -> a shard file inside ``folder``."""
    index = _read_json(folder / name, folder)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"{folder}: {name} has no weight_map object (tensor name -> shard file)")
    bad = [(k, v) for k, v in weight_map.items() if not isinstance(v, str) or not _plain_file_name(v)]
    if bad:
        key, shard = bad[0]
        raise CheckpointError(
            f"{folder}: {name} maps {key!r} to {shard!r}; shards must be file names inside the folder "
            f"({len(bad)} bad entries)"
        )
    files = {shard: folder / shard for shard in set(weight_map.values())}
    missing = sorted(shard for shard, path in files.items() if not path.is_file())
    if missing:
        raise CheckpointError(f"{folder}: {name} lists shards that are not there: {', '.join(missing)}")
    return {key: files[shard] for key, shard in weight_map.items()}


def _plain_file_name(name: str) -> bool:
    """A shard name that stays inside the model folder: no separators, not ``.`` or ``..``."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


class Checkpoint:
    """The weights of one folder: ``keys`` now, tensors from ``load(keys)`` on demand."""

    def __init__(self, folder: Path, *, allow_pickle: bool = False):
        self.folder = folder
        self._pickled: dict[str, torch.Tensor] | None = None
        if (folder / SAFE_INDEX).is_file():
            self._where = _read_index(folder, SAFE_INDEX)
        elif (folder / SAFE_FILE).is_file():
            from safetensors import safe_open

            try:
                with safe_open(folder / SAFE_FILE, framework="pt") as f:
                    self._where = dict.fromkeys(f.keys(), folder / SAFE_FILE)
            except Exception as exc:  # SafetensorError and friends: a corrupt or truncated file
                raise CheckpointError(f"{folder / SAFE_FILE}: not a readable safetensors file ({exc})") from None
        elif (folder / PICKLE_INDEX).is_file() or (folder / PICKLE_FILE).is_file():
            name = PICKLE_INDEX if (folder / PICKLE_INDEX).is_file() else PICKLE_FILE
            if not allow_pickle:
                raise CheckpointError(
                    f"{folder}: only pickled weights ({name}); pickle can run code when loaded, so it is "
                    "refused by default. Convert the folder to safetensors, or pass allow_pickle=True "
                    "(loaded with torch.load(weights_only=True))"
                )
            paths = set(_read_index(folder, name).values()) if name == PICKLE_INDEX else {folder / name}
            self._pickled = {}
            for path in sorted(paths):
                try:
                    try:
                        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
                    except RuntimeError:  # legacy (non-zip) pickles cannot be memory-mapped
                        state = torch.load(path, map_location="cpu", weights_only=True)
                except Exception as exc:
                    raise CheckpointError(f"{path}: not a readable weights file ({type(exc).__name__}: {exc})") from None
                if not isinstance(state, dict):
                    raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state dict")
                self._pickled.update(state)
            self._where = dict.fromkeys(self._pickled, None)
        else:
            raise CheckpointError(
                f"{folder}: no weights ({SAFE_FILE}, {SAFE_INDEX}, or with allow_pickle=True {PICKLE_FILE})"
            )

    @property
    def keys(self) -> list[str]:
        return list(self._where)

    def load(self, keys: Iterable[str]) -> dict[str, torch.Tensor]:
        keys = list(keys)
        if self._pickled is not None:
            return {k: self._pickled[k] for k in keys}
        from safetensors import safe_open

        by_file: dict[Path, list[str]] = {}
        for key in keys:
            by_file.setdefault(self._where[key], []).append(key)
        out: dict[str, torch.Tensor] = {}
        for path, names in by_file.items():
            try:
                with safe_open(path, framework="pt") as f:
                    for name in names:
                        out[name] = f.get_tensor(name)
            except Exception as exc:
                raise CheckpointError(f"{path}: cannot read its tensors ({type(exc).__name__}: {exc})") from None
        return out


def find_prefix(keys: Iterable[str], anchor: str, folder: Path, what: str) -> str:
    """The prefix under which a tower's weights sit, found from one key it must have.

    transformers 5.23 saves a CLIP tower of a LLaVA model as ``vision_tower.embeddings...``,
    older saves as ``vision_tower.vision_model.embeddings...``, a CLIPModel as
    ``vision_model.embeddings...``, Qwen2-VL as ``visual.blocks...`` (in memory
    ``model.visual...``): any prefix works as long as exactly one tower matches.
    """
    found = sorted(k[: -len(anchor)] for k in keys if k == anchor or k.endswith("." + anchor))
    if len(found) == 1:
        return found[0]
    if not found:
        sample = ", ".join(sorted(keys)[:8])
        raise CheckpointError(f"{folder}: no {what} weights found (no key ending in {anchor!r}; keys start: {sample})")
    raise CheckpointError(f"{folder}: several {what} towers ({', '.join(p or '<root>' for p in found)}); ambiguous")
