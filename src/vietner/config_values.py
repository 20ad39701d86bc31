"""Config values read into typed dataclasses: YAML mappings and ``--set section.key=value`` overrides.

Every value is converted to its field's type (``"null"`` is None for optional fields, ``"true"``/``"false"``
booleans, ``"3e-5"`` a float, YAML flow text for mappings and lists), and an unknown key or a value of the
wrong type is a :class:`~vietner.settings.ConfigError` whose message is one line naming the dotted key.
:mod:`vietner.config` holds the dataclasses themselves and the checks of their values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

import yaml

from .schema import parse_label_map
from .settings import ConfigError

__all__ = ["build_dataclass", "convert_value", "parse_override", "apply_overrides"]


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_dataclass_type(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def convert_value(value: Any, kind: Any, key: str) -> Any:
    """Return ``value`` converted to ``kind`` (str, int, float, bool, or one of them | None)."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("null", "none", "~")):
            return None
        kind = next(arg for arg in args if arg is not type(None))
    if value is None:
        raise ConfigError(f"config key {key!r} cannot be null")
    if typing.get_origin(kind) is dict:
        return _convert_mapping(value, key)
    if typing.get_origin(kind) is list:
        return _convert_list(value, typing.get_args(kind)[0], key)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.strip().lower() in ("true", "yes", "on", "1")
        raise ConfigError(f"config key {key!r} must be true or false, not {value!r}")
    if kind is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"config key {key!r} must be an integer, not {value!r}")
        try:
            return int(value) if not isinstance(value, str) else int(value.strip())
        except ValueError:
            raise ConfigError(f"config key {key!r} must be an integer, not {value!r}") from None
    if kind is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key {key!r} must be a number, not {value!r}")
        try:
            # float() also reads "3e-5", which YAML 1.1 leaves as a string.
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"config key {key!r} must be a number, not {value!r}") from None
    if kind is str:
        if isinstance(value, bool):
            # YAML reads unquoted no/yes/off/on as booleans.
            raise ConfigError(f"config key {key!r} must be a string, not {value!r}; quote it in YAML, e.g. \"no\"")
        if isinstance(value, (dict, list)):
            raise ConfigError(f"config key {key!r} must be a string, not {value!r}")
        return str(value)
    raise ConfigError(f"config key {key!r} has an unsupported type {kind!r}")


def _convert_mapping(value: Any, key: str) -> dict[str, str]:
    """Return a mapping of strings: YAML's ``{NAME: PER}`` (in a file or from ``--set``), or
    ``NAME=PER,LOCATION=LOC`` from ``--set``."""
    if isinstance(value, str):
        try:
            value = _yaml_flow(value, key) if value.lstrip().startswith("{") else parse_label_map(value)
        except ValueError as error:
            raise ConfigError(f"config key {key!r}: {error}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"config key {key!r} must be a mapping (e.g. {{NAME: PER}}), not {value!r}")
    return {convert_value(k, str, f"{key}.{k}"): convert_value(v, str, f"{key}.{k}") for k, v in value.items()}


def _yaml_flow(text: str, key: str) -> Any:
    """Read ``--set`` YAML flow text (``{NAME: PER}``, ``[{path: a.conll}]``); a ``ConfigError`` naming ``key``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"config key {key!r}: not valid YAML: {text!r}") from None


def _convert_list(value: Any, kind: Any, key: str) -> list[Any]:
    """Return a list of ``kind`` items; from ``--set`` the value is YAML flow text (``[{path: a.conll}]``)."""
    if isinstance(value, str):
        value = _yaml_flow(value, key)
    if not isinstance(value, list):
        raise ConfigError(f"config key {key!r} must be a list, not {value!r}")
    return [
        build_dataclass(kind, item, f"{key}[{i}].") if _is_dataclass_type(kind) else convert_value(item, kind, f"{key}[{i}]")
        for i, item in enumerate(value)
    ]


def build_dataclass(cls: type, values: Any, prefix: str) -> Any:
    """Return a ``cls`` instance from the mapping ``values``, checking every key and converting every value;
    ``prefix`` is the dotted key of ``values`` (``""`` at the top, ``"data."`` below it), for messages."""
    where = prefix.rstrip(".") or "the config"
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, not {values!r}")
    types_ = _field_types(cls)
    kwargs = {}
    for key, value in values.items():
        full = f"{prefix}{key}"
        # ``name`` is no key a file may set: ``Config.name`` is the config file's stem.
        if key not in types_ or key == "name":
            known = ", ".join(name for name in types_ if name != "name")
            raise ConfigError(f"unknown config key {full!r} (keys of {where}: {known})")
        kind = types_[key]
        kwargs[key] = build_dataclass(kind, value, f"{full}.") if _is_dataclass_type(kind) else convert_value(value, kind, full)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[str, str]:
    """Split ``"train.lr=3e-5"`` into its dotted key and its value text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like section.key=value (e.g. train.lr=3e-5)")
    return key.strip(), value.strip()


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return the raw config mapping ``values`` with ``section.key=value`` overrides written into it.

    Values are converted to the field's type when the config is built ("null" is None for optional fields,
    "true"/"false" for booleans, "3e-5" a float), and an unknown key is reported then.
    """
    values = dict(values)
    for text in overrides:
        # The value stays text: the field's type decides how it is read, so "no" stays a string for
        # train.mixed_precision (YAML would read it as false) and "3e-5" becomes a float.
        key, parsed = parse_override(text)
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            node[part] = dict(child) if isinstance(child, dict) else {}
            node = node[part]
        node[parts[-1]] = parsed
    return values
