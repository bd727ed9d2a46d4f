"""What the constant evaluator hands back, and the stand-ins it uses for what Python would only know at
run time.

Results are ``Known`` (a plain Python value: str, bytes, int, float, complex, bool, None, tuple, list,
dict, set, frozenset or ``PurePosixPath``) or ``Unknown`` (a reason a user can read, and the file:line
of the part that could not be evaluated). Both carry every environment-variable read met on the way,
so callers can say "the default of GPU is used".

While evaluating, a few values are *symbols* rather than data: a module, a function, a class, a name
imported from outside the project, an environment variable read without a default, or a container
element that could not be evaluated. They may sit inside containers (``{"DDIM": DDIMScheduler}`` still
has known keys) but any attempt to look at them stops the evaluation with their reason; ``publish``
turns a result that still holds one into ``Unknown``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import libcst as cst

from falmigrate.spec.models import Location

if TYPE_CHECKING:
    from falmigrate.analysis.context import ModuleContext

T = TypeVar("T")

# Bounds on the work one evaluation may do, whatever the user's code looks like.
MAX_STRING = 100_000  # characters of one str / bytes
MAX_ITEMS = 10_000  # items of one container, and nested items of one value
MAX_INT_BITS = 16_384
MAX_STEPS = 200_000  # expression nodes visited, plus the sizes of values produced
MAX_DEPTH = 100  # nested evaluations (sub-expressions, names followed, helper calls)
MAX_CALL_DEPTH = 16  # nested helper-function calls
MAX_FILE_BYTES = 2_000_000

CONTAINER_TYPES = (tuple, list, dict, set, frozenset)


@dataclass(frozen=True)
class EnvRead:
    """One environment-variable read: ``os.environ.get("GPU", "L4")`` at ``app.py:12``.

    ``default`` is the value used in place of the variable; ``has_default`` is False for a read without
    one (``os.environ["X"]``, ``os.getenv("X")``), where ``default`` is None.
    """

    name: str
    default: Any
    has_default: bool
    location: Location


@dataclass(frozen=True)
class Known:
    """A value Python would compute, found without running the code."""

    value: Any
    env_reads: tuple[EnvRead, ...] = ()


@dataclass(frozen=True)
class Unknown:
    """A value that cannot be known statically: why, and where (the innermost part that failed)."""

    reason: str
    location: Location | None = None
    env_reads: tuple[EnvRead, ...] = ()

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason


Result = Known | Unknown
# Python errors an operation on plain data may raise; they become reasons, never escape.
OPERATION_ERRORS = (TypeError, ValueError, ArithmeticError, LookupError, AttributeError)


class Unevaluable(Exception):
    """Internal: raised where evaluation stops; the public API turns it into ``Unknown``."""

    def __init__(self, reason: str, location: Location | None = None, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.location = location
        self.transient = transient  # caused by a bound or a cycle met on this path: not cached as the answer


class Symbol:
    """A value known only by what it is, never by its contents; looking at it raises ``Unevaluable``."""

    def describe(self) -> tuple[str, Location | None]:
        raise NotImplementedError

    def touch(self) -> NoReturn:
        reason, location = self.describe()
        raise Unevaluable(reason, location)

    def _refuse(self) -> NoReturn:
        self.touch()

    def __eq__(self, other: object) -> bool:
        return self._refuse()

    def __lt__(self, other: object) -> bool:
        return self._refuse()

    __le__ = __gt__ = __ge__ = __lt__

    def __hash__(self) -> int:
        return self._refuse()

    def __format__(self, spec: str) -> str:
        return self._refuse()

    def __bool__(self) -> bool:
        return self._refuse()


@dataclass(eq=False)
class ExternalRef(Symbol):
    """Something imported from outside the project (``os.environ``, ``torch.float16``), by dotted name."""

    qualname: str
    location: Location | None = None  # where it was first read (set by the evaluator)

    def describe(self) -> tuple[str, Location | None]:
        shown = self.qualname.removeprefix("builtins.")
        return f"`{shown}` comes from outside the project; its value is not known statically", self.location

    def attribute(self, name: str) -> ExternalRef:
        return ExternalRef(f"{self.qualname}.{name}")


@dataclass(eq=False)
class ModuleRef(Symbol):
    """A module of the project (``import config``): its attributes are its module-level bindings."""

    context: ModuleContext

    def describe(self) -> tuple[str, Location | None]:
        return f"module {self.context.name} is not a constant", None

    def __bool__(self) -> bool:
        return True


@dataclass(eq=False)
class DefinitionRef(Symbol):
    """A function or class defined in the project; functions can be called as helpers."""

    context: ModuleContext
    node: cst.FunctionDef | cst.ClassDef

    def describe(self) -> tuple[str, Location | None]:
        kind = "function" if isinstance(self.node, cst.FunctionDef) else "class"
        return f"{kind} {self.node.name.value} is not a constant", self.context.location(self.node)

    def __bool__(self) -> bool:
        return True


@dataclass(eq=False)
class Missing(Symbol):
    """An environment variable read without a default, or a container element that failed to evaluate.

    An unset variable is falsy and ``is None`` (so ``os.environ.get("X") or "d"`` evaluates); any other use
    stops with the reason.
    """

    reason: str
    location: Location | None
    unset_env: bool = False

    def describe(self) -> tuple[str, Location | None]:
        return self.reason, self.location

    def __bool__(self) -> bool:
        return False if self.unset_env else self._refuse()


@dataclass
class Budget:
    """Work left for one evaluation; shared by everything it follows."""

    steps: int = MAX_STEPS
    depth: int = 0
    calls: int = 0
    env_reads: list[EnvRead] = field(default_factory=list)

    def charge(self, units: int = 1) -> None:
        self.steps -= units
        if self.steps < 0:
            raise Unevaluable(f"evaluation stopped after {MAX_STEPS} steps (the expression is too large)",
                              transient=True)


def fail(reason: str, location: Location | None = None, *, transient: bool = False) -> NoReturn:
    raise Unevaluable(reason, location, transient=transient)


def check_size(value: T, budget: Budget | None = None) -> T:
    """Refuse results larger than the bounds; charge their size to the budget."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_STRING:
            fail(f"the value would be {len(value)} characters long (more than {MAX_STRING})")
        size = len(value) // 64
    elif isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            fail(f"the number would have more than {MAX_INT_BITS} bits")
        size = 0
    elif isinstance(value, CONTAINER_TYPES):
        size = nested_items(value) // 16  # copying items runs at C speed: cheaper than a visited node
    else:
        size = 0
    if budget is not None:
        budget.charge(size)
    return value


def nested_items(value: Any) -> int:
    """How many items a value holds at every depth, refused above MAX_ITEMS (shared parts count each time)."""
    total = 0
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            total += len(current)
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, CONTAINER_TYPES):
            total += len(current)
            pending.extend(current)
        if total > MAX_ITEMS:
            fail(f"the value would hold more than {MAX_ITEMS} items")
    return total


def first_symbol(value: Any) -> Symbol | None:
    """The first symbol inside a value, in the order the value lists its items (keys before values)."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, Symbol):
            return current
        if isinstance(current, dict):
            pending.extend(part for pair in reversed(current.items()) for part in reversed(pair))
        elif isinstance(current, CONTAINER_TYPES):
            pending.extend(reversed(list(current)))
    return None


def require_plain(value: Any) -> Any:
    """The value itself when it holds only data; otherwise stop with the reason of its first symbol."""
    symbol = first_symbol(value)
    if symbol is not None:
        symbol.touch()
    return value


def unique_reads(env_reads: list[EnvRead]) -> tuple[EnvRead, ...]:
    """Each read once (a constant used twice is read once), in the order met."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for read in env_reads:
        key = (read.name, str(read.location))
        if key not in seen:
            seen.add(key)
            unique.append(read)
    return tuple(unique)


def publish(value: Any, env_reads: list[EnvRead]) -> Result:
    """The public result of an evaluation: data as ``Known`` (a private copy), symbols as ``Unknown``."""
    reads = unique_reads(env_reads)
    symbol = first_symbol(value)
    if symbol is not None:
        reason, location = symbol.describe()
        return Unknown(reason, location, reads)
    return Known(copy.deepcopy(value), reads)
