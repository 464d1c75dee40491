"""JSON for fitted preprocessing state (normalizers, encoders, scalers): no pickle anywhere.

Objects are rebuilt only from an explicit allow-list of classes, by setting their attributes;
anything else in a file fails closed with ArtifactError.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pandas as pd

from ml.errors import ArtifactError

ALLOWED_CLASSES = {
    "pytorch_forecasting.data.encoders.GroupNormalizer",
    "pytorch_forecasting.data.encoders.NaNLabelEncoder",
    "pytorch_forecasting.data.encoders.EncoderNormalizer",
    "pytorch_forecasting.data.encoders.TorchNormalizer",
    "pytorch_forecasting.data.encoders.MultiNormalizer",
    "sklearn.preprocessing._data.StandardScaler",
}


def _class_path(obj: Any) -> str:
    cls = type(obj)
    path = f"{cls.__module__}.{cls.__qualname__}"
    # pytorch-forecasting defines its encoders in ml-internal modules but exports them here.
    if path.startswith("pytorch_forecasting.data.encoders"):
        return f"pytorch_forecasting.data.encoders.{cls.__qualname__}"
    return path


def _is_tensor(obj: Any) -> bool:
    return type(obj).__module__ == "torch" and type(obj).__name__ in {"Tensor", "Parameter"}


def encode(obj: Any) -> Any:
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v) for v in obj]}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": {k: encode(v) for k, v in obj.items()}}
        return {"__items__": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": encode(obj.tolist()), "dtype": str(obj.dtype)}
    if _is_tensor(obj):
        array = obj.detach().cpu().numpy()
        return {"__tensor__": encode(array.tolist()), "dtype": str(array.dtype)}
    if isinstance(obj, pd.DataFrame):
        return {"__dataframe__": encode(obj.to_dict(orient="split"))}
    if isinstance(obj, pd.Series):
        return {"__series__": encode(obj.to_dict()), "name": encode(obj.name)}
    path = _class_path(obj)
    if path in ALLOWED_CLASSES:
        return {"__object__": path, "state": encode(vars(obj))}
    raise ArtifactError(f"Cannot serialise {path} to JSON; add an explicit encoding for it.")


def decode(node: Any) -> Any:
    if isinstance(node, list):
        return [decode(v) for v in node]
    if not isinstance(node, dict):
        return node
    if "__tuple__" in node:
        return tuple(decode(v) for v in node["__tuple__"])
    if "__dict__" in node:
        return {k: decode(v) for k, v in node["__dict__"].items()}
    if "__items__" in node:
        return {_hashable(decode(k)): decode(v) for k, v in node["__items__"]}
    if "__ndarray__" in node:
        return np.asarray(decode(node["__ndarray__"]), dtype=node["dtype"])
    if "__tensor__" in node:
        import torch

        return torch.as_tensor(np.asarray(decode(node["__tensor__"]), dtype=node["dtype"]))
    if "__dataframe__" in node:
        split = decode(node["__dataframe__"])
        return pd.DataFrame(split["data"], index=split["index"], columns=split["columns"])
    if "__series__" in node:
        return pd.Series(decode(node["__series__"]), name=decode(node["name"]))
    if "__object__" in node:
        return _rebuild(node["__object__"], decode(node["state"]))
    raise ArtifactError(f"Unrecognised JSON node with keys {sorted(node)}.")


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def _rebuild(path: str, state: dict) -> Any:
    if path not in ALLOWED_CLASSES:
        raise ArtifactError(f"Refusing to rebuild {path!r}: not an allowed class.")
    module_name, _, class_name = path.rpartition(".")
    cls = getattr(importlib.import_module(module_name), class_name)
    obj = cls.__new__(cls)
    # torch.nn.Module-based normalizers need their module bookkeeping before attributes land.
    import torch

    if issubclass(cls, torch.nn.Module):
        torch.nn.Module.__init__(obj)
    obj.__dict__.update(state)
    return obj
