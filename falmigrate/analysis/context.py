"""``ModuleContext``: one module of a project, and the public entry points of the constant evaluator.

Every public method runs on a fresh budget, never raises for what user code looks like, and answers
with ``Known``/``Unknown`` (values), ``Binding``/``Unknown`` (which statement binds a name) or
``Expression``/``Unknown`` (which expression a name or helper call stands for).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst

from falmigrate.analysis.frames import Expression, Frame
from falmigrate.analysis.source import END, SourceModule
from falmigrate.analysis.values import (
    OPERATION_ERRORS,
    Budget,
    Result,
    Unevaluable,
    Unknown,
    publish,
    unique_reads,
)
from falmigrate.spec.models import Location

if TYPE_CHECKING:
    from falmigrate.analysis.bindings import Binding
    from falmigrate.analysis.evaluator import Evaluator
    from falmigrate.analysis.project import Project

T = TypeVar("T")


class ModuleContext:
    """A parsed module of a project; see the package docstring for the API."""

    def __init__(self, project: Project, path: Path, module: cst.Module, *, main: bool = False) -> None:
        self.project = project
        self.path = path
        self.main = main
        self.source = SourceModule(module)
        self.file = project.relative(path)  # relative to the project root, posix
        self.name = project.dotted_name(path)
        self.cache: dict[Any, tuple[Any, tuple[Any, ...]]] = {}  # evaluated module/class bindings

    @classmethod
    def load(cls, path: str | Path, root: str | Path, *, main: bool = False) -> ModuleContext:
        """Parse ``path`` in a new project rooted at ``root`` (``SourceError`` if it cannot be parsed)."""
        from falmigrate.analysis.project import Project

        return Project(root).module(path, main=main)

    @classmethod
    def from_module(cls, module: cst.Module, path: str | Path, root: str | Path, *,
                    main: bool = False) -> ModuleContext:
        """A context over a module the caller already parsed: its nodes can be passed to the methods."""
        from falmigrate.analysis.project import Project

        return Project(root).adopt(module, path, main=main)

    @property
    def module(self) -> cst.Module:
        return self.source.module

    def location(self, node: cst.CSTNode | None) -> Location:
        """Where a node is (file relative to the root, 1-based line); the file alone for other nodes."""
        found = self.source.range(node) if node is not None else None
        return Location(file=self.file, line=found.start.line if found else None)

    # -- values -------------------------------------------------------------------------------------

    def evaluate(self, node: cst.BaseExpression, *, within: Expression | None = None) -> Result:
        """The value of an expression of this module (or of ``within``'s helper body, parameters bound)."""
        frame = within.frame() if within is not None else self._frame(node)
        return self._run(lambda ev: ev.eval(node, frame), frame.context.location(node))

    def evaluate_name(self, name: str, *, at: cst.CSTNode | None = None,
                      within: Expression | None = None) -> Result:
        """The value ``name`` has at ``at`` (a node of this module; default: after the module ran)."""
        frame = within.frame() if within is not None else self._frame(at)
        position = self.source.start(at) if at is not None else END
        return self._run(lambda ev: ev.name_value(name, position, frame), self.location(at))

    # -- bindings and expressions -------------------------------------------------------------------

    def binding(self, name: str, *, at: cst.CSTNode | None = None, within: Expression | None = None,
                follow_imports: bool = True) -> Binding | Unknown:
        """The binding of ``name`` in effect at ``at``; imports of project modules are followed to the
        binding in that module when ``follow_imports``."""
        from falmigrate.analysis.follow import find_binding

        frame = within.frame() if within is not None else self._frame(at)
        position = self.source.start(at) if at is not None else END
        return self._answer(lambda ev: find_binding(ev, name, position, frame, follow_imports),
                            self.location(at))

    def expression_of(self, node: cst.BaseExpression, *, within: Expression | None = None,
                      follow_calls: bool = True) -> Expression | Unknown:
        """The expression ``node`` stands for: names and ``module.NAME`` followed to the expression they
        are bound to, and (``follow_calls``) helper calls to their return expression with parameters bound.
        Stops at the first expression that is none of these (a literal, an SDK call, a method chain)."""
        from falmigrate.analysis.follow import follow_expression

        frame = within.frame() if within is not None else self._frame(node)
        return self._answer(lambda ev: follow_expression(ev, node, frame, follow_calls), self.location(node))

    def expand_call(self, call: cst.Call, *, within: Expression | None = None) -> Expression | Unknown:
        """A call of a project function as its return expression, parameters bound to the call's arguments."""
        from falmigrate.analysis.follow import expand_call

        frame = within.frame() if within is not None else self._frame(call)
        return self._answer(lambda ev: expand_call(ev, call, frame), self.location(call))

    # -- project ------------------------------------------------------------------------------------

    def import_resolves(self, statement: cst.Import | cst.ImportFrom) -> bool:
        """True when every module and name the import statement names exists in the project."""
        from falmigrate.analysis.follow import import_resolves

        return import_resolves(self, statement)

    def star_import_binds(self, statement: cst.ImportFrom, name: str) -> bool:
        from falmigrate.analysis.follow import star_import_binds

        return star_import_binds(self, statement, name)

    def submodule(self, name: str) -> ModuleContext | None:
        """``pkg.name`` when this module is a package's ``__init__`` and ``name.py`` (or ``name/``) exists."""
        if self.path.name != "__init__.py":
            return None
        return self.project.sibling(self, f".{name}")

    # -- internals ----------------------------------------------------------------------------------

    def _frame(self, node: cst.CSTNode | None) -> Frame:
        """Module code reads names where it is; code inside a function body runs after the module loaded."""
        if node is None:
            return Frame(self, END)
        position = self.source.start(node)
        in_function = any(isinstance(r.node, cst.FunctionDef) for r in self.source.regions_at(position))
        return Frame(self, END if in_function else position)

    def _run(self, work: Callable[[Evaluator], Any], where: Location) -> Result:
        from falmigrate.analysis.evaluator import Evaluator

        evaluator = Evaluator(Budget())
        try:
            value = work(evaluator)
        except Unevaluable as error:
            return Unknown(error.reason, error.location or where, unique_reads(evaluator.budget.env_reads))
        except Exception as error:  # noqa: BLE001 - a user's code shape must never crash an importer
            return Unknown(_failure(error), where, unique_reads(evaluator.budget.env_reads))
        return publish(value, evaluator.budget.env_reads)

    def _answer(self, work: Callable[[Evaluator], T], where: Location) -> T | Unknown:
        from falmigrate.analysis.evaluator import Evaluator

        try:
            return work(Evaluator(Budget()))
        except Unevaluable as error:
            return Unknown(error.reason, error.location or where)
        except Exception as error:  # noqa: BLE001 - a user's code shape must never crash an importer
            return Unknown(_failure(error), where)

    def __repr__(self) -> str:
        return f"ModuleContext({self.file!r})"


def _failure(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "the expression is nested too deeply to evaluate"
    if isinstance(error, OPERATION_ERRORS):
        return f"evaluating this raises {type(error).__name__}: {error}"
    return f"the evaluator failed on this expression ({type(error).__name__}: {error})"
