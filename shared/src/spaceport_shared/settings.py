"""Typed, validated stage settings from strings.

SageMaker hands hyperparameters over as a JSON object whose values are all strings, and the local
CLI takes `--set key=value`; both arrive here once, at the edge, and become a frozen dataclass.
A stage declares its settings as

    @dataclass(frozen=True)
    class TrainSettings:
        steps: int = setting(7000, help="optimisation steps", min=1)
        backend: str = setting("auto", help="rasterizer", choices=("auto", "cuda", "cpu"))

and `parse_settings(TrainSettings, {"steps": "3000"})` returns the typed object or raises
`SettingsError` naming the key. A class may also name sets of values, chosen by its `preset`
setting:

        PRESETS: ClassVar[dict[str, dict[str, str]]] = {"demo-cpu": {"steps": "2000"}}
        preset: str = setting("none", help="...", choices=("none", "demo-cpu"))

`{"preset": "demo-cpu", "seed": "7"}` then parses as the preset's values with `seed` on top:
values given explicitly always win. Hand-written rather than pydantic: the rules are few, and the
messages must be one sentence each (they become SageMaker's failure reason).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from spaceport_shared.errors import SettingsError

T = TypeVar("T")

# Keys SageMaker itself may add to hyperparameters.json; they are not ours to validate.
_PLATFORM_PREFIXES = ("sagemaker_", "_tuning_objective_metric")

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def setting(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    choices: Iterable[Any] | None = None,
) -> Any:
    """A dataclass field with its documentation and bounds (inclusive)."""
    metadata = {"help": help, "min": min, "max": max, "choices": tuple(choices or ())}
    return dataclasses.field(default=default, metadata=metadata)


def _field_type(cls: type, field: dataclasses.Field) -> tuple[type, bool]:
    """The field's base type and whether it may be None."""
    hint = typing.get_type_hints(cls)[field.name]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"setting {field.name}: only `X | None` unions are supported")
        return args[0], True
    return hint, False


def _convert(key: str, raw: str, kind: type, optional: bool) -> Any:
    text = raw.strip()
    if optional and text.lower() in {"", "none", "null"}:
        return None
    if kind is bool:
        low = text.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"Setting '{key}' must be true or false, not '{raw}'.")
    if kind is int:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number != int(number):
            raise SettingsError(f"Setting '{key}' must be a whole number, not '{raw}'.")
        return int(number)
    if kind is float:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise SettingsError(f"Setting '{key}' must be a finite number, not '{raw}'.")
        return number
    if kind is str:
        return text
    raise TypeError(f"setting {key}: unsupported type {kind!r}")


def _check(key: str, value: Any, field: dataclasses.Field) -> None:
    if value is None:
        return
    meta = field.metadata
    choices = meta.get("choices") or ()
    if choices and value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise SettingsError(f"Setting '{key}' must be one of {allowed}, not '{value}'.")
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        raise SettingsError(f"Setting '{key}' must be at least {low}, not {value}.")
    if high is not None and value > high:
        raise SettingsError(f"Setting '{key}' must be at most {high}, not {value}.")


def parse_settings(cls: type[T], values: Mapping[str, Any]) -> T:
    """Settings of type `cls` from string values; defaults fill the keys not given.

    Non-string values (a JSON number or boolean from a settings file) are accepted and go
    through the same conversion and checks as their text.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = _with_preset(cls, values)
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        if key.startswith(_PLATFORM_PREFIXES):
            continue
        name = key.replace("-", "_")
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise SettingsError(f"Unknown setting '{key}'; the known settings are: {known}.")
        field = fields[name]
        kind, optional = _field_type(cls, field)
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        value = _convert(key, text, kind, optional)
        _check(key, value, field)
        parsed[name] = value
    for name, field in fields.items():
        if name not in parsed:
            _check(name, field.default, field)
    return cls(**parsed)


def _with_preset(cls: type, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """`values` over the named preset's values (a class without PRESETS: unchanged)."""
    presets: dict[str, dict[str, str]] = getattr(cls, "PRESETS", {})
    name = str(values.get("preset", "")).strip()
    if not presets or name in ("", "none"):
        return values
    if name not in presets:
        known = ", ".join(["none", *sorted(presets)])
        raise SettingsError(f"Setting 'preset' must be one of {known}, not '{name}'.")
    return {**presets[name], **values}


def settings_to_strings(settings: Any) -> dict[str, str]:
    """The inverse of `parse_settings`: every field as the string SageMaker would carry."""
    out = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        out[field.name] = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
    return out


def parse_assignments(pairs: Iterable[str]) -> dict[str, str]:
    """`["steps=3000", "backend=cpu"]` → `{"steps": "3000", "backend": "cpu"}`."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SettingsError(
                f"Setting '{pair}' is not of the form key=value; write e.g. steps=3000."
            )
        out[key.strip()] = value
    return out


def settings_help(cls: type) -> str:
    """One line per setting: name, default, bounds and help, for `--help` output and docs."""
    lines = []
    for field in dataclasses.fields(cls):
        meta = field.metadata
        bounds = []
        if meta.get("choices"):
            bounds.append("one of " + "|".join(str(c) for c in meta["choices"]))
        if meta.get("min") is not None:
            bounds.append(f">= {meta['min']}")
        if meta.get("max") is not None:
            bounds.append(f"<= {meta['max']}")
        extra = f" ({', '.join(bounds)})" if bounds else ""
        lines.append(f"  {field.name}={field.default}{extra}: {meta.get('help', '')}")
    return "\n".join(lines)
