"""The part of Python's library the evaluator knows: builtins (``int``, ``sorted``, ``len``...), methods
of str/bytes/dict/list/tuple/path values, ``pathlib.Path`` (as ``PurePosixPath``: the app runs on Linux)
and ``os.path``, and the module constants whose value is fixed (``os.sep``, ``typing.TYPE_CHECKING``).

Each function takes the evaluator first (for iteration and the budget) and plain arguments after; a
wrong call raises the same TypeError Python would, which the evaluator turns into a reason.
"""

from __future__ import annotations

import builtins
import posixpath
import string
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from falmigrate.analysis.formatting import format_map, format_method
from falmigrate.analysis.values import MAX_STRING, Symbol, check_size, fail, require_plain

if TYPE_CHECKING:
    from falmigrate.analysis.evaluator import Evaluator

BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))

EXTERNAL_CONSTANTS: dict[str, Any] = {
    "typing.TYPE_CHECKING": False, "typing_extensions.TYPE_CHECKING": False,
    "os.sep": "/", "os.path.sep": "/", "os.pathsep": ":", "os.linesep": "\n", "os.curdir": ".",
    "os.pardir": "..", "os.extsep": ".", "os.name": "posix",
    "string.ascii_lowercase": string.ascii_lowercase, "string.ascii_uppercase": string.ascii_uppercase,
    "string.ascii_letters": string.ascii_letters, "string.digits": string.digits,
}


def _plain(value: Any) -> Any:
    if isinstance(value, Symbol):
        value.touch()
    return value


def _all_plain(values: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for value in (*values, *kwargs.values()):
        require_plain(value)


def _int(ev: Evaluator, value: Any = 0, base: Any = None) -> int:
    _plain(value)
    if isinstance(value, (str, bytes)) and len(value) > 4300:
        fail("int() of a string longer than 4300 digits")
    return int(value) if base is None else int(value, base)


def _str(ev: Evaluator, value: Any = "", *args: Any) -> str:
    require_plain(value)
    return check_size(str(value, *args) if args else str(value))


def _sorted(ev: Evaluator, iterable: Any, *, key: Any = None, reverse: Any = False) -> list[Any]:
    if key is not None:
        fail("sorted(key=...) is not evaluated")
    return sorted(ev.iterate(iterable), reverse=bool(reverse))


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(ev: Evaluator, *args: Any, key: Any = None, **default: Any) -> Any:
        if key is not None:
            fail(f"{pick.__name__}(key=...) is not evaluated")
        items = ev.iterate(args[0]) if len(args) == 1 else list(args)
        return pick(items, **default)

    return extreme


def _dict(ev: Evaluator, *args: Any, **kwargs: Any) -> dict[Any, Any]:
    if len(args) > 1:
        fail("dict() takes at most one positional argument")
    source = args[0] if args else {}
    pairs = source if isinstance(source, dict) else [tuple(ev.iterate(item)) for item in ev.iterate(source)]
    return dict(pairs, **kwargs)


def _range(ev: Evaluator, *args: Any) -> range:
    for value in args:
        _plain(value)
    return range(*args)


def _path(ev: Evaluator, *parts: Any) -> PurePosixPath:
    for part in parts:
        if not isinstance(part, (str, PurePosixPath)):
            _plain(part)
            fail(f"a path part must be a str, not {type(part).__name__}")
    return PurePosixPath(*parts)


def _strings(function: Callable[..., Any]) -> Callable[..., Any]:
    """``os.path`` functions: paths and strings in, as posixpath computes them."""
    def call(ev: Evaluator, *args: Any) -> Any:
        for value in args:
            if not isinstance(_plain(value), (str, PurePosixPath)):
                fail(f"os.path.{function.__name__}() of a {type(value).__name__} value")
        return function(*[str(value) for value in args])

    return call


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "builtins.int": _int,
    "builtins.float": lambda ev, value=0.0: float(_plain(value)),
    "builtins.str": _str,
    "builtins.bool": lambda ev, value=False: bool(value),
    "builtins.list": lambda ev, iterable=(): list(ev.iterate(iterable)),
    "builtins.tuple": lambda ev, iterable=(): tuple(ev.iterate(iterable)),
    "builtins.set": lambda ev, iterable=(): set(ev.iterate(iterable)),
    "builtins.frozenset": lambda ev, iterable=(): frozenset(ev.iterate(iterable)),
    "builtins.dict": _dict,
    "builtins.sorted": _sorted,
    "builtins.len": lambda ev, value: len(_plain(value)),
    "builtins.min": _extreme(min),
    "builtins.max": _extreme(max),
    "builtins.sum": lambda ev, iterable, start=0: sum(ev.iterate(iterable), _plain(start)),
    "builtins.abs": lambda ev, value: abs(_plain(value)),
    "builtins.round": lambda ev, value, digits=None: round(_plain(value), _plain(digits)),
    "builtins.range": _range,
    "builtins.enumerate": lambda ev, iterable, start=0: list(enumerate(ev.iterate(iterable), _plain(start))),
    "builtins.zip": lambda ev, *its: list(zip(*[ev.iterate(it) for it in its], strict=False)),
    "builtins.reversed": lambda ev, sequence: list(reversed(ev.iterate(sequence))),
    "builtins.any": lambda ev, iterable: any(ev.iterate(iterable)),
    "builtins.all": lambda ev, iterable: all(ev.iterate(iterable)),
    "builtins.repr": lambda ev, value: repr(require_plain(value)),
    "builtins.ord": lambda ev, value: ord(_plain(value)),
    "builtins.chr": lambda ev, value: chr(_plain(value)),
    "pathlib.Path": _path, "pathlib.PurePath": _path, "pathlib.PosixPath": _path,
    "pathlib.PurePosixPath": _path,
    "os.path.join": _strings(posixpath.join), "os.path.basename": _strings(posixpath.basename),
    "os.path.dirname": _strings(posixpath.dirname), "os.path.splitext": _strings(posixpath.splitext),
    "os.path.split": _strings(posixpath.split), "os.path.normpath": _strings(posixpath.normpath),
    "os.path.isabs": _strings(posixpath.isabs), "os.fspath": _strings(str),
}

# Methods that read their receiver and build a new value; looked up on the receiver's own type.
_PURE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset({
        "upper", "lower", "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith",
        "removeprefix", "removesuffix", "title", "capitalize", "casefold", "swapcase", "splitlines",
        "partition", "rpartition", "find", "rfind", "index", "rindex", "count", "isdigit", "isalpha",
        "isalnum", "isnumeric", "isdecimal", "isspace", "islower", "isupper", "istitle", "isidentifier",
        "encode",
    }),
    bytes: frozenset({"decode", "upper", "lower", "strip", "lstrip", "rstrip", "split", "startswith",
                      "endswith", "count", "find"}),
    dict: frozenset({"get", "copy"}),
    list: frozenset({"index", "count", "copy"}),
    tuple: frozenset({"index", "count"}),
    PurePosixPath: frozenset({"joinpath", "with_name", "with_suffix", "with_stem", "as_posix", "is_absolute",
                              "relative_to", "is_relative_to", "match"}),
}


def call_method(ev: Evaluator, receiver: Any, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``receiver.name(*args, **kwargs)`` for the methods above, the size-checked ones and dict views."""
    _plain(receiver)
    special = _special_method(ev, receiver, name, args, kwargs)
    if special is not None:
        return check_size(special[0], ev.budget)
    if name not in _PURE_METHODS.get(type(receiver), frozenset()):
        fail(f"the {type(receiver).__name__} method {name}() is not evaluated")
    if not isinstance(receiver, dict):
        _all_plain(tuple(args), kwargs)
    return check_size(getattr(receiver, name)(*args, **kwargs), ev.budget)


def _special_method(ev: Evaluator, receiver: Any, name: str, args: list[Any],
                    kwargs: dict[str, Any]) -> tuple[Any] | None:
    """Methods that need more than a plain call: dict views as lists, size-checked string builders."""
    if isinstance(receiver, dict) and name in ("keys", "values", "items") and not args and not kwargs:
        return (list(getattr(receiver, name)()),)
    if isinstance(receiver, str) and name == "format":
        return (format_method(receiver, args, kwargs, ev.budget),)
    if isinstance(receiver, str) and name == "format_map" and len(args) == 1:
        return (format_map(receiver, args[0], ev.budget),)
    if not isinstance(receiver, (str, bytes)):
        return None
    if name == "join" and len(args) == 1 and not kwargs:
        return (_join(ev, receiver, args[0]),)
    if name in ("replace", "zfill", "ljust", "rjust", "center"):
        _all_plain(tuple(args), kwargs)
        _check_growth(receiver, name, args)
        return (getattr(receiver, name)(*args, **kwargs),)
    return None


def _check_growth(receiver: str | bytes, name: str, args: list[Any]) -> None:
    if name == "replace":
        if len(args) >= 2 and isinstance(args[0], type(receiver)) and isinstance(args[1], type(receiver)):
            hits = receiver.count(args[0]) if args[0] else len(receiver) + 1  # type: ignore[arg-type]
            if len(receiver) + hits * len(args[1]) > MAX_STRING:
                fail(f"replace() would make a string longer than {MAX_STRING} characters")
    elif args and isinstance(args[0], int) and args[0] > MAX_STRING:
        fail(f"{name}({args[0]}) would make a string longer than {MAX_STRING} characters")


def _join(ev: Evaluator, separator: str | bytes, iterable: Any) -> str | bytes:
    items = ev.iterate(iterable)
    for item in items:
        _plain(item)
    total = sum(len(item) for item in items if isinstance(item, (str, bytes)))
    if total + len(separator) * max(len(items) - 1, 0) > MAX_STRING:
        fail(f"the joined string would be longer than {MAX_STRING} characters")
    return separator.join(items)


def value_attribute(receiver: Any, name: str) -> Any:
    """Attributes of plain values: path parts (``.name``, ``.parent``...) and complex parts."""
    allowed = {PurePosixPath: {"name", "stem", "suffix", "suffixes", "parent", "parts", "anchor", "root"},
               complex: {"real", "imag"}}
    if name in allowed.get(type(receiver), set()):
        return getattr(receiver, name)
    fail(f"attribute {name} of a {type(receiver).__name__} value is not evaluated")
