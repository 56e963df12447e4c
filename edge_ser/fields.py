"""Type and bounds checks for the frozen option and metadata dataclasses.

Every field of a dataclass passed to :func:`check_fields` is checked against its type
annotation (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``tuple[X, ...]``,
``Mapping``, ``X | None``), and against the bounds declared with :func:`bounded`. A field
added later gets the type check without doing anything; a numeric field must also declare
its bounds (a test checks this), so nothing a JSON file says can allocate without limit.

Values are normalised on the way: numpy scalars become Python ``int`` / ``float``, an
``int`` for a ``float`` field becomes a ``float``, a list for a tuple field becomes a
tuple. A wrong value raises the caller's :class:`~edge_ser.errors.EdgeSerError` subclass
with a message naming the field, the value and what is accepted.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union, get_args, get_origin

import numpy as np

from .errors import EdgeSerError

__all__ = ["BOUNDS_KEY", "Bounds", "bounded", "check_fields", "field_bounds", "needs_bounds"]

BOUNDS_KEY = "edge_ser_bounds"
_MISSING: Any = dataclasses.MISSING


@dataclass(frozen=True)
class Bounds:
    """Limits of a field's value: numbers in ``[lo, hi]`` (``lo_open``: ``lo`` excluded),
    one of ``choices``, or a length (strings, tuples) within ``length``."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[Any, ...] | None = None
    length: tuple[int, int] | None = None

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None and not self.lo_open and not self.hi_open:
            return f"from {_num(lo)} to {_num(hi)}"
        parts = []
        if lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {_num(lo)}")
        if hi is not None:
            parts.append(f"{'<' if self.hi_open else '<='} {_num(hi)}")
        return " and ".join(parts)

    def admits(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))


def bounded(
    default: Any = _MISSING,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    choices: tuple[Any, ...] | None = None,
    length: tuple[int, int] | None = None,
    default_factory: Any = _MISSING,
) -> Any:
    """A dataclass field with declared bounds (see :class:`Bounds`)."""
    bounds = Bounds(lo, hi, lo_open, hi_open, choices, length)
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={BOUNDS_KEY: bounds}
    )


def field_bounds(f: dataclasses.Field[Any]) -> Bounds | None:
    bounds = f.metadata.get(BOUNDS_KEY)
    return bounds if isinstance(bounds, Bounds) else None


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def needs_bounds(cls: type) -> list[str]:
    """The numeric (or length-limited) fields of ``cls`` that declare no bounds."""
    hints = _hints(cls)
    missing = []
    for f in dataclasses.fields(cls):
        base = _strip_none(hints[f.name])
        numeric = base in (int, float) or get_origin(base) is tuple
        if numeric and field_bounds(f) is None:
            missing.append(f.name)
    return missing


def check_fields(obj: Any, prefix: str, error: type[EdgeSerError]) -> None:
    """Check (and normalise in place) every field of the frozen dataclass ``obj``."""
    hints = _hints(type(obj))  # type: ignore[arg-type]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}.{f.name}"
        checked = _check(value, hints[f.name], name, field_bounds(f), error)
        if checked is not value:
            object.__setattr__(obj, f.name, checked)


def _strip_none(hint: Any) -> Any:
    if _is_union(hint):
        rest = [a for a in get_args(hint) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fail(
    name: str, value: Any, accepted: str, error: type[EdgeSerError], bounds: Bounds | None = None
) -> EdgeSerError:
    if bounds is not None and bounds.choices is not None:
        accepted = bounds.describe()
    elif bounds is not None and (bounds.lo is not None or bounds.hi is not None):
        accepted = f"{accepted} {bounds.describe()}"
    return error(f"{name} must be {accepted}, got {_short(value)} ({type(value).__name__})")


def _check(
    value: Any, hint: Any, name: str, bounds: Bounds | None, error: type[EdgeSerError]
) -> Any:
    if _is_union(hint):
        args = get_args(hint)
        if value is None and type(None) in args:
            return value
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            try:
                return _check(value, rest[0], name, bounds, error)
            except EdgeSerError as exc:
                if type(None) in args:
                    raise error(str(exc).replace(", got ", " or null, got ", 1)) from None
                raise
        return value  # a union of several types: the class's own checks decide
    origin = get_origin(hint)
    if origin is Literal:
        choices = get_args(hint)
        if not any(type(value) is type(c) and value == c for c in choices):
            raise _fail(name, value, "", error, Bounds(choices=choices))
        return value
    if hint is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise _fail(name, value, "true or false", error)
        return bool(value)
    if hint is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise _fail(name, value, "an integer", error, bounds)
        value = int(value)
    elif hint is float:
        ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
            value, (bool, np.bool_)
        )
        if not ok or not math.isfinite(float(value)):
            raise _fail(name, value, "a finite number", error, bounds)
        value = float(value)
    elif hint is str:
        if not isinstance(value, str):
            raise _fail(name, value, "a string", error)
        _check_length(value, name, bounds, error, "a string")
        return value
    elif origin is tuple:
        args = get_args(hint)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else Any
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _fail(name, value, f"a list of {_kind(item)}", error)
        items = tuple(
            _check(v, item, f"{name}[{i}]", None, error) if item is not Any else v
            for i, v in enumerate(value)
        )
        _check_length(items, name, bounds, error, f"a list of {_kind(item)}")
        return items
    elif origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise _fail(name, value, "an object (a mapping)", error)
        return value
    else:
        return value  # nested dataclasses validate themselves
    if bounds is not None and not bounds.admits(value):
        raise _fail(name, value, "an integer" if hint is int else "a number", error, bounds)
    return value


def _check_length(
    value: Any, name: str, bounds: Bounds | None, error: type[EdgeSerError], accepted: str
) -> None:
    if bounds is None or bounds.length is None:
        return
    lo, hi = bounds.length
    if not lo <= len(value) <= hi:
        raise error(
            f"{name} must be {accepted} of length {lo} to {hi}, got {_short(value)} "
            f"(length {len(value)})"
        )


def _kind(item: Any) -> str:
    return {str: "strings", int: "integers", float: "numbers"}.get(item, "values")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
