"""Checkpoints: save and load state_dicts (and whatever metadata rides along) as .npz files.

Read nn/module.py (state_dict) first. A checkpoint is a NumPy .npz archive -- a zip of .npy
arrays -- so any NumPy can open it, nothing in it is pickled, and loading it cannot run code
(np.load with allow_pickle=False). What is stored:
  - each array under its path in the object: a plain state_dict keeps its own keys ("0.weight",
    "encoder.fc1.bias"), so `{k: torch.from_numpy(v)}` of what load() returns fits the same
    architecture in PyTorch; a nested checkpoint {"model": sd, ...} stores "model/0.weight";
  - everything else (numbers, strings, lists, dicts: epoch, config, metric history) as one JSON
    document in the entry "__nanogen__", which also records the structure, so load() returns
    the object that was saved.
The file is written to a temporary name in the same folder and renamed over the target
(os.replace is atomic), so a crash mid-save never leaves a half-written checkpoint behind.
"""

import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np

from .tensor import Tensor

FORMAT = "nanogen-checkpoint"
VERSION = 1
META_KEY = "__nanogen__"


class CheckpointError(ValueError):
    """The file is not a nanogen checkpoint (foreign, truncated or corrupt), or cannot be saved."""


# ---------------------------------------------------------------------------- object <-> (JSON tree, arrays)


def _encode(obj, path, arrays):
    """JSON-able tree for `obj`; every array goes into `arrays` under its "/"-joined path.

    Containers are tagged ({"t": "dict", "items": [[key, value], ...]}) so dict key types, key
    order, lists and tuples all come back as they were.
    """
    where = "/".join(path) or "the top level"
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise CheckpointError(f"save: the array at {where!r} has dtype object, which needs pickle; "
                                  "store numbers, or convert it first")
        key = "/".join(path) if path else "__array__"
        if key in arrays:
            raise CheckpointError(f"save: two entries map to the same name {key!r}")
        arrays[key] = obj
        return {"t": "array", "key": key}
    if isinstance(obj, np.generic):
        return obj.item()  # a NumPy scalar (np.float32 loss) becomes a Python number
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise CheckpointError(f"save: dict keys must be str or int, got {k!r} at {where!r}")
            if isinstance(k, str) and ("/" in k or k == META_KEY):
                raise CheckpointError(f"save: the key {k!r} at {where!r} may not contain '/' or be {META_KEY!r}")
            items.append([k, _encode(v, path + [str(k)], arrays)])
        return {"t": "dict", "items": items}
    if isinstance(obj, (list, tuple)):
        items = [_encode(v, path + [str(i)], arrays) for i, v in enumerate(obj)]
        return {"t": "list" if isinstance(obj, list) else "tuple", "items": items}
    raise CheckpointError(f"save: cannot store a {type(obj).__name__} at {where!r}; a checkpoint holds arrays, "
                          "numbers, strings, None, lists, tuples and dicts (for a dataclass use "
                          "dataclasses.asdict)")


def _decode(node, arrays):
    if not isinstance(node, dict):
        return node
    tag = node.get("t")
    if tag == "array":
        return arrays[node["key"]]
    if tag == "dict":
        return {k: _decode(v, arrays) for k, v in node["items"]}
    if tag == "list":
        return [_decode(v, arrays) for v in node["items"]]
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in node["items"])
    raise KeyError(f"unknown node {tag!r}")


# ---------------------------------------------------------------------------- save / load


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside `path` for writing; when the block ends without an error, the
    file is flushed to disk and renamed over `path` (os.replace is atomic), else it is removed.

    Readers therefore see the old file or the new one, never half of one. Missing folders are
    made. Every file nanogen writes (checkpoints, caches, figures, configs) goes through here, and
    gets the permissions a plain open() would give it (0666 less the umask), so runs can be shared.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets what open() would give
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # on disk before the rename makes it visible
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask():
    """The process's file-mode creation mask (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save(obj, path):
    """Write `obj` (a state_dict, or a dict nesting state_dicts with metadata) to `path`, atomically.

    The file name is used as given (no suffix is added). Returns the path.
    """
    path = os.fspath(path)
    arrays = {}
    tree = _encode(obj, [], arrays)
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays[META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load(path):
    """Read a checkpoint written by save(): the same structure, with ndarrays where arrays were.

    Raises CheckpointError ("not a nanogen checkpoint: ...") for a file that is not one: not a
    zip/npz, truncated, corrupt, or an .npz written by something else.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no checkpoint at {path}")
    with open(path, "rb") as f:
        head = f.read(6)
    if not head.startswith(b"PK\x03\x04") and head != b"\x93NUMPY":  # the zip and .npy magic numbers
        raise CheckpointError(f"not a nanogen checkpoint: {path} is not an .npz archive "
                              f"(it starts with {head!r}, an .npz starts with b'PK\\x03\\x04')")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise CheckpointError(f"not a nanogen checkpoint: {path} is a single .npy array, not an .npz archive")
        with npz:
            if META_KEY not in npz.files:
                raise CheckpointError(f"not a nanogen checkpoint: {path} is an .npz without the {META_KEY!r} "
                                      f"entry (it holds {npz.files[:5]}); read it with numpy.load")
            arrays = {k: npz[k] for k in npz.files}  # reads (and CRC-checks) every entry now
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"not a nanogen checkpoint: {path} could not be read as an .npz archive "
                              f"(truncated or corrupt?): {type(e).__name__}: {e}") from None
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
        if meta.get("version", 0) > VERSION:
            raise CheckpointError(f"{path} was written by a newer nanogen (checkpoint version "
                                  f"{meta['version']} > {VERSION}); upgrade nanogen to read it")
        return _decode(meta["tree"], arrays)
    except CheckpointError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"not a nanogen checkpoint: {path} has an unreadable {META_KEY!r} entry "
                              f"({type(e).__name__}: {e})") from None
