"""Saving and loading fitted estimators: tensors in safetensors, everything else in JSON.

An estimator is saved as a folder holding

* ``estimator.json``: its class, the semalign version, its hyper-parameters and its fitted state as
  a JSON skeleton in which every tensor is a reference ``{"__tensor__": key}``;
* ``tensors.safetensors``: the referenced tensors (complex tensors as their real view, flagged in
  the skeleton).

The skeleton encodes numbers (``inf`` and ``nan`` included), strings, lists, tuples, dicts with any
hashable keys, torch dtypes and devices, semalign dataclasses (rebuilt through their constructor, so
they validate again) and plain semalign objects (attributes restored as saved). Only classes of the
``semalign`` package are rebuilt, so loading a folder never imports or runs foreign code. Writes are
atomic: the folder appears only once both files are complete.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semalign._version import __version__

FORMAT = 1
_SKELETON, _TENSORS = "estimator.json", "tensors.safetensors"


def _class_path(obj_or_cls) -> str:
    cls = obj_or_cls if isinstance(obj_or_cls, type) else type(obj_or_cls)
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve(path: str) -> type:
    """The semalign class named ``module:qualname``; anything else (a function, a class of another
    package, a name with dunders) is refused, so loading never calls foreign code."""
    module, _, qualname = path.partition(":")
    refused = ValueError(f"refusing to load {path!r}: only semalign classes can be rebuilt from a saved estimator")
    if (module != "semalign" and not module.startswith("semalign.")) or not qualname or any(p.startswith("__") for p in qualname.split(".")):
        raise refused
    try:
        target: Any = importlib.import_module(module)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        raise ValueError(f"{path!r} names no class of this semalign version") from None
    if not isinstance(target, type) or not (target.__module__ == "semalign" or target.__module__.startswith("semalign.")):
        raise refused
    return target


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self._seen: dict[int, tuple[torch.Tensor, dict]] = {}  # one entry per tensor object, kept alive

    def tensor(self, value: torch.Tensor) -> dict:
        # The same tensor object is stored once and comes back as one object (so, e.g., a link's
        # design channel that *is* its channel stays so).
        if id(value) in self._seen:
            return self._seen[id(value)][1]
        original, key = value, f"t{len(self.tensors)}"
        value = value.detach()
        conj = value.is_conj()  # a lazily conjugated view: store the data under it, view it again on load
        base = value.conj() if conj else value
        data = base.to("cpu").resolve_neg().clone().contiguous()  # a copy: no two entries share memory
        complex_ = data.is_complex()
        self.tensors[key] = torch.view_as_real(data).contiguous() if complex_ else data
        reference = {"__tensor__": key, "complex": complex_}
        # The memory layout is restored on load, so products take the same kernels and round alike.
        if not base.is_contiguous() and _dense(base):
            reference["stride"] = list(base.stride())
        if conj:
            reference["conj"] = True
        if value.device.type != "cpu":
            reference["device"] = str(value.device)
        self._seen[id(original)] = (original, reference)
        return reference

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, np.ndarray):  # settings given as NumPy arrays come back as tensors
            return self.tensor(torch.from_numpy(value))
        if isinstance(value, torch.dtype):
            return {"__dtype__": str(value).removeprefix("torch.")}
        if isinstance(value, torch.device):
            return {"__device__": str(value)}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            return {"__dict__": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # NumPy scalars
            return self.encode(value.item())
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            return {"__dataclass__": _class_path(value), "fields": fields}
        if type(value).__module__.startswith("semalign.") and hasattr(value, "__dict__"):
            transient = getattr(type(value), "_transient", ())
            attributes = {k: self.encode(v) for k, v in vars(value).items() if k not in transient}
            return {"__object__": _class_path(value), "attributes": attributes}
        raise TypeError(f"cannot save a value of type {type(value).__name__}")


def _dense(tensor: torch.Tensor) -> bool:
    """Whether ``tensor``'s memory is a permutation of a contiguous layout (e.g. a transpose): no
    gaps, no overlap (expanded dimensions), no negative steps."""
    expected = 1
    for size, stride in sorted(((n, st) for n, st in zip(tensor.shape, tensor.stride()) if n > 1), key=lambda p: p[1]):
        if stride != expected:
            return False
        expected *= size
    return True


def _decode(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        data = tensors[value["__tensor__"]]
        return data.conj() if value.get("conj") else data
    if "__float__" in value:
        return float(value["__float__"])
    if "__dtype__" in value:
        return getattr(torch, value["__dtype__"])
    if "__device__" in value:
        return torch.device(value["__device__"])
    if "__tuple__" in value:
        return tuple(_decode(v, tensors) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_hashable(_decode(k, tensors)): _decode(v, tensors) for k, v in value["__dict__"]}
    if "__dataclass__" in value:
        cls = _resolve(value["__dataclass__"])
        if not dataclasses.is_dataclass(cls):
            raise ValueError(f"{value['__dataclass__']!r} is not a dataclass")
        return cls(**{k: _decode(v, tensors) for k, v in value["fields"].items()})
    if "__object__" in value:
        cls = _resolve(value["__object__"])
        obj = object.__new__(cls)
        obj.__dict__.update({k: _decode(v, tensors) for k, v in value["attributes"].items()})
        return obj
    raise ValueError(f"unknown entry in a saved estimator: {sorted(value)}")


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def save_object(path: str | os.PathLike, class_path: str, params: dict, state: dict) -> Path:
    """Write ``params`` and ``state`` of the object of class ``class_path`` to the folder ``path``
    (replacing an earlier save there); returns the folder."""
    from safetensors.torch import save_file

    path = Path(path)
    encoder = _Encoder()
    skeleton = {
        "format": FORMAT,
        "class": class_path,
        "semalign_version": __version__,
        "params": encoder.encode(params),
        "state": encoder.encode(state),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        save_file(encoder.tensors, str(staging / _TENSORS))
        (staging / _SKELETON).write_text(json.dumps(skeleton, indent=1))
        if path.exists():
            if not (path / _SKELETON).is_file():
                raise ValueError(f"{path} exists and is not a saved semalign estimator; choose another path")
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def load_object(path: str | os.PathLike, device: str | torch.device | None = None) -> tuple[type, dict, dict, bool]:
    """``(class, params, state, moved)`` of the object saved in the folder ``path``.

    Tensors come back on the device they were saved from, or on ``device`` when one is given; a CUDA
    tensor comes back on the CPU where CUDA is not available (``moved`` says whether any did).
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / _SKELETON).is_file() or not (path / _TENSORS).is_file():
        raise ValueError(f"{path} is not a saved semalign estimator (expected {_SKELETON} and {_TENSORS} in it)")
    skeleton = json.loads((path / _SKELETON).read_text())
    if skeleton.get("format") != FORMAT:
        raise ValueError(f"{path} was saved in format {skeleton.get('format')!r}; this semalign reads format {FORMAT}")
    references = {}
    _collect_references(skeleton, references)
    tensors, moved = {}, False
    for key, data in load_file(str(path / _TENSORS)).items():
        reference = references.get(key, {})
        target = torch.device(device) if device is not None else torch.device(reference.get("device", "cpu"))
        if target.type == "cuda" and not torch.cuda.is_available():
            target, moved = torch.device("cpu"), True
        # Cloned first: the file's entries share one buffer at offsets a complex view cannot read.
        data = torch.view_as_complex(data.clone().contiguous()) if reference.get("complex") else data
        # Fresh storage per entry in the saved layout; one object per entry, so shared tensors stay one.
        restored = torch.empty_strided(data.shape, reference.get("stride", data.stride()), dtype=data.dtype, device=target)
        tensors[key] = restored.copy_(data)
    return _resolve(skeleton["class"]), _decode(skeleton["params"], tensors), _decode(skeleton["state"], tensors), moved


def _collect_references(node: Any, out: dict[str, dict]) -> None:
    """Every tensor reference of the skeleton, by key."""
    if isinstance(node, list):
        for item in node:
            _collect_references(item, out)
    elif isinstance(node, dict):
        if "__tensor__" in node:
            out[node["__tensor__"]] = node
        else:
            for item in node.values():
                _collect_references(item, out)
