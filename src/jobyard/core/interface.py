"""A job type's interface: its named, typed inputs and outputs; no I/O.

A type that declares an interface gets its jobs' args checked at enqueue: every required input
present, no input it does not declare, each value of its declared type. A type without one
(``None``) takes any JSON args, as before interfaces existed.

Types of a parameter:

============  ===============================================================================
``string``    a JSON string (Scale calls it ``property``)
``integer``   a whole number (not a boolean)
``number``    any finite number
``boolean``   true or false
``object``    a JSON object
``array``     a JSON array
``file``      a file: a non-empty string (a path or URI), or a non-negative integer file id
``files``     a non-empty list of files
============  ===============================================================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jobyard.core.errors import Invalid

MAX_PARAMS = 200


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    FILE = "file"
    FILES = "files"


def _is_file(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, str) and bool(value)) or (isinstance(value, int) and value >= 0)


def _matches(kind: ParamType, value: object) -> bool:
    if kind is ParamType.STRING:
        return isinstance(value, str)
    if kind is ParamType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is ParamType.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return ok and math.isfinite(value)  # type: ignore[arg-type]
    if kind is ParamType.BOOLEAN:
        return isinstance(value, bool)
    if kind is ParamType.OBJECT:
        return isinstance(value, dict)
    if kind is ParamType.ARRAY:
        return isinstance(value, list)
    if kind is ParamType.FILE:
        return _is_file(value)
    return isinstance(value, list) and bool(value) and all(_is_file(v) for v in value)


_ARTICLE = {
    ParamType.INTEGER: "an integer",
    ParamType.ARRAY: "an array",
    ParamType.OBJECT: "an object",
}
_PARAM_KEYS = frozenset({"name", "type", "required", "description", "media_types"})


@dataclass(frozen=True, slots=True)
class Param:
    """One named input or output of a job type."""

    name: str  # the key in the job's args (inputs) or result (outputs)
    type: ParamType = ParamType.STRING
    required: bool = True  # inputs only: a job must give it
    description: str = ""
    media_types: tuple[str, ...] = ()  # file(s): what kinds of file it takes (documentation)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not 0 < len(self.name) <= 200:
            raise Invalid("a parameter name is a string of 1-200 characters", field="name")
        if not self.name.isprintable():
            raise Invalid(f"parameter name {self.name!r} has control characters", field="name")
        try:
            object.__setattr__(self, "type", ParamType(self.type))
        except ValueError as exc:
            names = ", ".join(t.value for t in ParamType)
            raise Invalid(
                f"parameter {self.name!r}: type {self.type!r} is not one of {names}", field="type"
            ) from exc
        if not isinstance(self.required, bool):
            raise Invalid(f"parameter {self.name!r}: required is true or false", field="required")
        if not isinstance(self.description, str):
            raise Invalid(f"parameter {self.name!r}: description is text", field="description")
        if not all(isinstance(m, str) and m for m in self.media_types):
            raise Invalid(
                f"parameter {self.name!r}: media_types are non-empty strings", field="media_types"
            )

    def check(self, value: object, field: str) -> None:
        """Invalid naming ``field`` unless ``value`` is of this parameter's type."""
        if not _matches(self.type, value):
            what = _ARTICLE.get(self.type, f"a {self.type.value}")
            if self.type is ParamType.FILE:
                what = "a file (a path or URI, or a file id)"
            elif self.type is ParamType.FILES:
                what = "a non-empty list of files (paths or URIs, or file ids)"
            raise Invalid(f"{field} must be {what}", field=field)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type.value}
        if not self.required:
            d["required"] = False
        if self.description:
            d["description"] = self.description
        if self.media_types:
            d["media_types"] = list(self.media_types)
        return d

    @classmethod
    def from_dict(cls, data: object, field: str) -> Param:
        if not isinstance(data, Mapping):
            raise Invalid(f"{field} must be an object {{name, type, ...}}", field=field)
        unknown = set(data) - _PARAM_KEYS
        if unknown:
            name = sorted(unknown)[0]
            raise Invalid(f"{field}: unknown parameter option {name!r}", field=f"{field}.{name}")
        media = data.get("media_types", ())
        if isinstance(media, str) or not isinstance(media, Sequence):
            raise Invalid(f"{field}.media_types must be a list", field=f"{field}.media_types")
        try:
            return cls(
                name=data.get("name"),  # type: ignore[arg-type]
                type=data.get("type", "string"),
                required=data.get("required", True),
                description=data.get("description", ""),
                media_types=tuple(media),
            )
        except Invalid as exc:
            inner = exc.field or "name"
            raise Invalid(exc.message, field=f"{field}.{inner}") from exc


def _params(values: object, field: str) -> tuple[Param, ...]:
    if values is None:
        return ()
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise Invalid(f"{field} must be a list of parameters", field=field)
    if len(values) > MAX_PARAMS:
        raise Invalid(f"{field}: at most {MAX_PARAMS} parameters", field=field)
    params = tuple(Param.from_dict(v, f"{field}[{i}]") for i, v in enumerate(values))
    seen: set[str] = set()
    for p in params:
        if p.name in seen:
            raise Invalid(f"{field}: parameter {p.name!r} is declared twice", field=field)
        seen.add(p.name)
    return params


@dataclass(frozen=True, slots=True)
class Interface:
    """What a job type takes (inputs, checked at enqueue) and gives (outputs, documented)."""

    inputs: tuple[Param, ...] = ()
    outputs: tuple[Param, ...] = ()

    def input(self, name: str) -> Param | None:
        return next((p for p in self.inputs if p.name == name), None)

    def check_args(self, args: object, field: str = "args") -> None:
        """Invalid naming the first field at fault: ``args.<input>``."""
        if not isinstance(args, dict):
            raise Invalid(f"{field} must be an object of the type's inputs", field=field)
        for name in args:
            if self.input(name) is None:
                declared = ", ".join(p.name for p in self.inputs) or "none"
                raise Invalid(
                    f"{field}.{name} is not an input of this type (inputs: {declared})",
                    field=f"{field}.{name}",
                )
        for p in self.inputs:
            if p.name in args:
                p.check(args[p.name], f"{field}.{p.name}")
            elif p.required:
                raise Invalid(f"{field}.{p.name} is required", field=f"{field}.{p.name}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [p.to_dict() for p in self.inputs],
            "outputs": [p.to_dict() for p in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: object, field: str = "interface") -> Interface:
        if not isinstance(data, Mapping):
            raise Invalid(f"{field} must be an object {{inputs, outputs}}", field=field)
        unknown = set(data) - {"inputs", "outputs"}
        if unknown:
            name = sorted(unknown)[0]
            raise Invalid(f"{field}: unknown option {name!r}", field=f"{field}.{name}")
        return cls(
            inputs=_params(data.get("inputs"), f"{field}.inputs"),
            outputs=_params(data.get("outputs"), f"{field}.outputs"),
        )
