"""Where an expression is evaluated: its module, the point at which module names are read, and the values
its local names have (helper parameters, comprehension variables).

``Expression`` is the public face of the same thing: an expression node together with what its names
mean, as ``ModuleContext.expression_of`` hands it back (a helper's return expression with its
parameters bound to the call's arguments).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import libcst as cst

from falmigrate.analysis.source import END, Position
from falmigrate.analysis.values import Known, Result
from falmigrate.spec.models import Location

if TYPE_CHECKING:
    from falmigrate.analysis.context import ModuleContext


@dataclass(frozen=True, eq=False)
class Frame:
    """Evaluation state of one scope; immutable, a comprehension or helper call makes a new one."""

    context: ModuleContext
    position: Position = END  # where module-level names are read from code that runs later (function bodies)
    function: cst.FunctionDef | None = None  # the helper whose parameters ``arguments`` binds
    arguments: Mapping[str, Expression | Known] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)  # comprehension variables

    def with_values(self, values: Mapping[str, Any]) -> Frame:
        return replace(self, values={**self.values, **values})


@dataclass(frozen=True, eq=False)
class Expression:
    """An expression node, its module, and the parameters bound while reading a helper function's body.

    ``arguments`` maps each parameter of ``function`` to the argument expression of the call (or a
    ``Known`` value for ``*args``/``**kwargs`` and packed arguments); defaults are expressions of the
    function's own module. ``position`` is where the body reads module-level names (the call site).
    """

    node: cst.BaseExpression
    context: ModuleContext
    function: cst.FunctionDef | None = None
    arguments: Mapping[str, Expression | Known] = field(default_factory=dict)
    position: Position = END

    @property
    def location(self) -> Location:
        return self.context.location(self.node)

    def evaluate(self) -> Result:
        """The value of the expression, with its parameters bound."""
        return self.context.evaluate(self.node, within=self)

    def frame(self) -> Frame:
        return Frame(self.context, self.position, self.function, self.arguments)

    @property
    def code(self) -> str:
        """The expression's source text."""
        return self.context.module.code_for_node(self.node)

    def __repr__(self) -> str:
        bound = f" with {', '.join(self.arguments)}" if self.arguments else ""
        return f"<Expression {self.code!r} at {self.location}{bound}>"
