"""The module's own Modal calls (``f.remote(x)``, ``self.m.local(x)``, ``f.map(xs)``…) → direct calls.

Found by binding (libcst ScopeProvider / ParentNodeProvider over the original module): only a name
bound to one of the module's own Modal functions, ``self.<method>`` inside one of its Modal classes, or
an instance of one of those classes counts. ``.remote``/``.local``/``.call`` (old) become plain calls,
``.map``/``.starmap``/``.for_each`` become ``map``/``itertools.starmap``; what has no direct form
(``.spawn``, ``.remote.aio`` of a sync function, a method of a class that became a ``fal.App`` called
from outside it, ``map(..., order_outputs=...)``) stays as written with an error finding and a TODO.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import ParentNodeProvider, ScopeProvider

from falmigrate.importers.modal.reader import ModalModule
from falmigrate.spec import Finding

RULE = "FM245"
DIRECT = ("remote", "local", "call")
MAPS = ("map", "starmap", "for_each")
NO_DIRECT_FORM = ("spawn", "spawn_map", "remote_gen", "get_raw_f", "keep_warm",
                  "update_autoscaler", "with_options")


@dataclass
class CallRewrite:
    kind: str  # direct | map | starmap | for_each
    depth: int = 1  # how many attribute levels to strip (2 for ``.remote.aio``)


@dataclass
class CallPlan:
    rewrites: dict[int, CallRewrite] = field(default_factory=dict)  # id(original Call) -> rewrite
    todos: dict[int, list[str]] = field(default_factory=dict)  # id(original statement) -> TODO lines
    findings: list[Finding] = field(default_factory=list)
    count: int = 0
    itertools: bool = False


class _Finder(cst.CSTVisitor):
    def __init__(self, mod: ModalModule, fal_classes: set[str], plan: CallPlan) -> None:
        self.mod, self.fal_classes, self.plan = mod, fal_classes, plan
        self.scopes = mod.wrapper.resolve(ScopeProvider)
        self.parents = mod.wrapper.resolve(ParentNodeProvider)
        self.functions = {id(m.node) for m in mod.functions}
        self.classes = {id(c.node): c for c in mod.classes}

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        verb, receiver, depth = func.attr.value, func.value, 1
        if verb == "aio" and isinstance(receiver, cst.Attribute):
            verb, receiver, depth = f"{receiver.attr.value}.aio", receiver.value, 2
        if verb.split(".")[0] not in (*DIRECT, *MAPS, *NO_DIRECT_FORM):
            return
        owner = self._owner(receiver)
        if owner is None:
            return
        self._plan(node, verb, receiver, depth, owner)

    def _plan(self, node: cst.Call, verb: str, receiver: cst.BaseExpression, depth: int,
              owner: tuple[str, Any]) -> None:
        kind, target = owner
        code = self.mod.module.code_for_node(node).splitlines()[0]
        problem = None
        if verb.split(".")[0] in NO_DIRECT_FORM:
            problem = f"`.{verb}()` (a Modal call handle) has no direct-call form on fal"
        elif verb.endswith(".aio") and not getattr(target, "asynchronous", None):
            problem = f"`.{verb}()` awaits a synchronous function"
        elif kind == "instance" and target in self.fal_classes:
            problem = f"{target} is now a fal.App, which is not instantiated by user code"
        elif verb in MAPS and any(a.keyword is not None for a in node.args):
            problem = (f"`.{verb}(...)` options "
                       f"({', '.join(a.keyword.value for a in node.args if a.keyword)}) have no map() form")
        if problem is not None:
            self._todo(node, code, problem)
            return
        rewrite = "direct" if verb.split(".")[0] in DIRECT else verb
        self.plan.rewrites[id(node)] = CallRewrite(rewrite, depth)
        self.plan.itertools |= rewrite == "starmap"
        self.plan.count += 1

    def _todo(self, node: cst.Call, code: str, problem: str) -> None:
        statement = self._statement(node)
        message = f"`{code}`: {problem}"
        self.plan.findings.append(Finding(
            rule=RULE, severity="error", location=self.mod.location(node), message=message,
            remediation="call the function directly, or call the fal app's endpoint "
                        "(fal_client) from outside it"))
        if statement is not None:
            self.plan.todos.setdefault(id(statement), []).append(f"# TODO(falmigrate {RULE}): {message}")

    def _statement(self, node: cst.CSTNode) -> cst.CSTNode | None:
        current: cst.CSTNode | None = node
        while (current is not None
               and not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement))):
            current = self.parents.get(current)
        return current

    def _owner(self, receiver: cst.BaseExpression) -> tuple[str, Any] | None:
        """("function", FunctionDef) | ("method", FunctionDef) | ("instance",
        class name) for own Modal code."""
        if isinstance(receiver, cst.Name):
            bound = self._bound(receiver)
            if bound is not None and id(bound) in self.functions:
                return "function", bound
            return None
        if not isinstance(receiver, cst.Attribute):
            return None
        base, method = receiver.value, receiver.attr.value
        if isinstance(base, cst.Name) and base.value == "self":
            cls = self._enclosing_class(receiver)
            member = cls.member(method) if cls is not None else None
            return ("method", member.node) if member is not None else None
        instance = self._instance_of(base)
        if instance is not None:
            member = instance.member(method)
            return ("instance", instance.name) if member is not None else None
        return None

    def _bound(self, name: cst.Name) -> cst.CSTNode | None:
        scope = self.scopes.get(name)
        if scope is None or name.value not in scope:
            return None
        found = [a.node for a in scope[name.value] if hasattr(a, "node")]
        return found[0] if len(found) == 1 else None

    def _enclosing_class(self, node: cst.CSTNode) -> Any:
        current: cst.CSTNode | None = node
        while current is not None:
            if isinstance(current, cst.ClassDef):
                return self.classes.get(id(current))
            current = self.parents.get(current)
        return None

    def _instance_of(self, base: cst.BaseExpression) -> Any:
        """The own Modal class ``Model()`` / a name bound once to ``Model(...)`` creates."""
        if isinstance(base, cst.Name):
            bound = self._bound(base)
            statement = self.parents.get(self.parents.get(bound)) if isinstance(bound, cst.Name) else None
            if isinstance(self.parents.get(bound), cst.AnnAssign):
                statement = self.parents.get(bound)
            if isinstance(statement, (cst.Assign, cst.AnnAssign)) and statement.value is not None:
                base = statement.value
            elif isinstance(bound, cst.ClassDef):
                # Model.method.remote(): the class itself (Modal 1.x allows it)
                return self.classes.get(id(bound))
        if isinstance(base, cst.Call) and isinstance(base.func, cst.Name):
            bound = self._bound(base.func)
            return self.classes.get(id(bound)) if bound is not None else None
        return None


def plan_calls(mod: ModalModule, fal_classes: set[str]) -> CallPlan:
    """Which own Modal calls of ``mod`` become direct calls (``fal_classes``: classes that become fal.App)."""
    plan = CallPlan()
    mod.module.visit(_Finder(mod, fal_classes, plan))
    return plan


def rewrite_call(call: cst.Call, rewrite: CallRewrite) -> cst.BaseExpression:
    """The direct form of one planned call (``updated`` node: inner rewrites already applied)."""
    func: cst.BaseExpression = call.func
    for _ in range(rewrite.depth):
        assert isinstance(func, cst.Attribute)
        func = func.value
    if rewrite.kind == "direct":
        return call.with_changes(func=func)
    mapper = (cst.Attribute(cst.Name("itertools"), cst.Name("starmap")) if rewrite.kind == "starmap"
              else cst.Name("map"))
    inner = cst.Call(func=mapper, args=[cst.Arg(func), *(a.with_changes(comma=cst.MaybeSentinel.DEFAULT)
                                                         for a in call.args)])
    # Modal's .map()/.starmap() give an iterator of results, as map() does; .for_each() runs them all now
    return cst.Call(func=cst.Name("list"), args=[cst.Arg(inner)]) if rewrite.kind == "for_each" else inner
