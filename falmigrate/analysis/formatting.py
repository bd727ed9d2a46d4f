"""String formatting the way Python does it: f-strings (conversions, nested format specs, ``=``),
``str.format`` (positional, keyword and index fields; attribute fields are refused) and ``%``.

Widths and precisions are checked before formatting, and the running length of the result is bounded,
so ``f"{x:>999999999}"`` or ``"{0}{0}{0}".format(big)`` stop with a reason instead of allocating.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis.values import MAX_STRING, Budget, Symbol, check_size, fail, require_plain

if TYPE_CHECKING:
    from falmigrate.analysis.evaluator import Evaluator
    from falmigrate.analysis.frames import Frame

_NUMBERS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
_BRACKETS = re.compile(r"\[[^\]]*\]")


def check_spec(spec: str) -> None:
    """Refuse a format spec whose width or precision would build a huge string."""
    for number in _NUMBERS.findall(spec):
        if len(number) > 6 or int(number) > MAX_STRING:
            fail(f"the format spec {spec!r} asks for more than {MAX_STRING} characters")


def format_value(value: Any, spec: str) -> str:
    check_spec(spec)
    require_plain(value)
    return format(value, spec)


def convert(value: Any, conversion: str | None) -> Any:
    """``!r`` / ``!s`` / ``!a`` of a plain value (containers are checked for symbols first)."""
    if conversion is None:
        return value
    require_plain(value)
    converters: dict[str, Callable[[Any], str]] = {"r": repr, "s": str, "a": ascii}
    if conversion not in converters:
        fail(f"unknown conversion !{conversion}")
    return converters[conversion](value)


def formatted_string(evaluator: Evaluator, node: cst.FormattedString, frame: Frame) -> str:
    if "b" in node.prefix.lower() or "t" in node.prefix.lower():
        fail("byte and template f-strings are not evaluated")
    raw = "r" in node.prefix.lower()
    pieces = _Pieces(evaluator.budget)
    for part in node.parts:
        if isinstance(part, cst.FormattedStringText):
            pieces.add(_text(part.value, raw, node.start[len(node.prefix):]))
        else:
            assert isinstance(part, cst.FormattedStringExpression)
            pieces.add(_expression(evaluator, part, frame, raw, node.start[len(node.prefix):]))
    return pieces.text()


class _Pieces:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.parts: list[str] = []
        self.length = 0

    def add(self, text: str) -> None:
        self.length += len(text)
        if self.length > MAX_STRING:
            fail(f"the formatted string would be longer than {MAX_STRING} characters")
        self.budget.charge(len(text) // 64)
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)


def _text(source: str, raw: bool, quote: str) -> str:
    """The value of literal f-string text: escapes decoded (unless raw), ``{{``/``}}`` undoubled."""
    text = source.replace("{{", "{").replace("}}", "}")
    if raw:
        return text
    if "\\" not in text:
        return text
    literal = ast.literal_eval(f"{quote}{text}{quote}")
    assert isinstance(literal, str)
    return literal


def _expression(evaluator: Evaluator, part: cst.FormattedStringExpression, frame: Frame, raw: bool,
                quote: str) -> str:
    value = evaluator.eval(part.expression, frame)
    spec = ""
    if part.format_spec is not None:
        inner = [_text(p.value, raw, quote) if isinstance(p, cst.FormattedStringText)
                 else _expression(evaluator, p, frame, raw, quote)  # type: ignore[arg-type]
                 for p in part.format_spec]
        spec = "".join(inner)
    conversion = part.conversion
    prefix = ""
    if part.equal is not None:
        prefix = (part.whitespace_before_expression.value + cst.Module([]).code_for_node(part.expression)  # type: ignore[attr-defined]
                  + part.whitespace_after_expression.value + part.equal.whitespace_before.value  # type: ignore[attr-defined]
                  + "=" + part.equal.whitespace_after.value)  # type: ignore[attr-defined]
        if conversion is None and part.format_spec is None:
            conversion = "r"
    return prefix + format_value(convert(value, conversion), spec)


class _Formatter(string.Formatter):
    """``str.format`` without attribute fields, with checked specs and a bounded result."""

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self.pieces = _Pieces(budget)

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if "." in _BRACKETS.sub("", field_name):
            fail(f"the format field {{{field_name}}} reads an attribute, which is not evaluated")
        return super().get_field(field_name, args, kwargs)

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return convert(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        text = format_value(value, format_spec)
        self.pieces.add(text)
        return text


def format_method(template: str, args: Sequence[Any], kwargs: Mapping[str, Any], budget: Budget) -> str:
    """``template.format(*args, **kwargs)``."""
    for key in kwargs:
        if not isinstance(key, str):
            fail("format() keywords must be strings")
    try:
        result = _Formatter(budget).vformat(template, args, kwargs)
    except (IndexError, KeyError) as error:
        fail(f"format() has no argument for field {error}")
    return check_size(result, budget)


def format_map(template: str, mapping: Any, budget: Budget) -> str:
    if not isinstance(mapping, dict):
        fail("format_map() of a value that is not a dict")
    return format_method(template, (), mapping, budget)


def percent(template: str | bytes, values: Any, budget: Budget) -> str | bytes:
    """``template % values``, after checking each conversion's width and the size of the result."""
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    specs = _PERCENT_SPEC.findall(text)
    longest = 0
    for width, precision, _ in specs:
        if "*" in (width, precision):
            fail("`*` widths in % formatting are not evaluated")
        check_spec(f"{width}.{precision}")
        longest = max(longest, int(width or 0))
    items = values if isinstance(values, tuple) else (values,)
    if isinstance(values, Symbol):
        values.touch()
    require_plain(values)
    largest = max([len(repr(item)) for item in items] + [longest, 1])
    if len(text) + len(specs) * largest > MAX_STRING:
        fail(f"the formatted string could be longer than {MAX_STRING} characters")
    try:
        result: str | bytes = template % values
        return check_size(result, budget)
    except (TypeError, ValueError, KeyError) as error:
        fail(f"% formatting raises {type(error).__name__}: {error}")
