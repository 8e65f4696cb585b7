"""Command-line overrides in the style of Hydra: ``key=value`` pairs, comma lists for sweeps, and
YAML config files.

A run's settings are a frozen dataclass of scalar fields (one value each). An override
``snr_db=-10`` sets one field; with multirun (``-m``) a comma list ``snr_db=-20,-10,0`` or a range
``n_antennas=range(1,9)`` makes that field a sweep dimension, and :func:`expand` takes the Cartesian
product of every dimension. Values are parsed by the field's declared type (``int``, ``float``,
``str``, ``bool``, optionally ``None``), so a bad value fails before anything runs, naming the key,
the value and what is expected; an unknown key fails listing the valid keys.

A YAML file holds a mapping of the same keys; a list value is a sweep dimension. Command-line
overrides win over the file.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import types
import typing
from pathlib import Path
from typing import Any

_RANGE = re.compile(r"^range\(\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?\)$")
_NONE = ("none", "null", "~")
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def field_types(config_type: type) -> dict[str, tuple[type, bool]]:
    """``{name: (scalar type, accepts None)}`` of a dataclass's fields, in declaration order."""
    hints = typing.get_type_hints(config_type)
    out = {}
    # A run's own settings first, then those it shares with other runs (inherited), in order.
    own = list(vars(config_type).get("__annotations__", {}))
    for f in sorted(dataclasses.fields(config_type), key=lambda f: f.name not in own):
        hint = hints[f.name]
        optional = False
        if typing.get_origin(hint) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            optional = len(args) < len(typing.get_args(hint))
            if len(args) != 1:
                raise TypeError(f"field {f.name!r} of {config_type.__name__} must have one scalar type, got {hint}")
            hint = args[0]
        if hint not in (int, float, str, bool):
            raise TypeError(f"field {f.name!r} of {config_type.__name__} must be int, float, str or bool, got {hint}")
        out[f.name] = (hint, optional)
    return out


def parse_value(key: str, text: Any, kind: type, optional: bool) -> Any:
    """One value of field ``key`` from its text (or a YAML scalar), checked against ``kind``.

    Raises:
        ValueError: the value does not parse as ``kind`` (the message names key, value and type).
    """
    expected = kind.__name__ + (" or none" if optional else "")
    if isinstance(text, str) and not text.strip():
        raise ValueError(f"{key}={text!r}: a value is required (expected {expected})")
    # "none"/"null" mean None only where None is allowed: for a plain string field they are values
    # (e.g. pu_protection=none).
    if text is None or (optional and isinstance(text, str) and text.strip().lower() in _NONE):
        if optional:
            return None
        raise ValueError(f"{key}={text!r}: a value is required (expected {expected})")
    if kind is bool:
        if isinstance(text, bool):
            return text
        word = str(text).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"{key}={text!r}: expected a boolean (true/false)")
    if isinstance(text, (dict, list)):
        raise ValueError(f"{key}={text!r}: expected one {expected} value, not a {type(text).__name__}")
    if kind is int:
        if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
            raise ValueError(f"{key}={text!r}: expected an integer")
        try:
            return int(text) if not isinstance(text, str) else int(text.strip())
        except ValueError:
            raise ValueError(f"{key}={text!r}: expected an integer") from None
    if kind is float:
        if isinstance(text, bool):
            raise ValueError(f"{key}={text!r}: expected a number")
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{key}={text!r}: expected a number such as 20 or -10.5") from None
    return str(text).strip()


def _split_values(key: str, text: str) -> list[str]:
    """The items of a comma list or ``range(start, stop[, step])`` (stop excluded, as in Python)."""
    match = _RANGE.match(text.strip())
    if match:
        start, stop, step = int(match[1]), int(match[2]), int(match[3] or 1)
        if step == 0:
            raise ValueError(f"{key}={text}: range step must not be 0")
        items = [str(v) for v in range(start, stop, step)]
        if not items:
            raise ValueError(f"{key}={text}: the range is empty")
        return items
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise ValueError(f"{key}={text!r}: empty item in the comma list")
    return items


def parse_overrides(tokens: list[str], config_type: type, *, multirun: bool) -> dict[str, list[Any]]:
    """``{key: [values]}`` from command-line tokens ``key=value``.

    Without ``multirun`` every key takes exactly one value; with it, a comma list or ``range(...)``
    gives several (a sweep dimension). A key given twice keeps the last, as in Hydra.

    Raises:
        ValueError: a token without ``=``, an unknown key (the valid keys are listed), a value of
            the wrong type, or a list without ``multirun``.
    """
    kinds = field_types(config_type)
    out: dict[str, list[Any]] = {}
    for token in tokens:
        key, sep, text = token.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"override {token!r} is not key=value (valid keys: {', '.join(kinds)})")
        if key not in kinds:
            raise ValueError(f"unknown key {key!r}; valid keys: {', '.join(kinds)}")
        items = _split_values(key, text) if text.strip() else [text]
        if len(items) > 1 and not multirun:
            raise ValueError(f"{key}={text}: a list of values sweeps {key}; add -m (multirun) to sweep")
        kind, optional = kinds[key]
        out[key] = [parse_value(key, item, kind, optional) for item in items]
    return out


def read_config_file(path: str | Path, config_type: type) -> dict[str, list[Any]]:
    """``{key: [values]}`` from a YAML mapping (a list value is a sweep dimension).

    Raises:
        ValueError: unreadable file, not a mapping, unknown keys or values of the wrong type.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {str(path)!r} does not exist") from None
    except yaml.YAMLError as error:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of key: value, got {type(data).__name__}")
    kinds = field_types(config_type)
    out = {}
    for key, value in data.items():
        if key not in kinds:
            raise ValueError(f"unknown key {key!r} in {str(path)!r}; valid keys: {', '.join(kinds)}")
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"{key} in {str(path)!r} is an empty list")
        kind, optional = kinds[key]
        out[key] = [parse_value(key, v, kind, optional) for v in values]
    return out


def expand(config_type: type, sweep: dict[str, list[Any]]) -> list[Any]:
    """Every configuration of the Cartesian product of ``sweep`` (unswept fields keep their
    defaults), in a stable order: the first key varies slowest.

    Raises:
        ValueError: a configuration the dataclass rejects (its message is kept).
    """
    keys = list(sweep)
    configs = []
    for values in itertools.product(*(sweep[k] for k in keys)):
        configs.append(config_type(**dict(zip(keys, values))))
    return configs
