"""Static constant evaluation of Python source, shared by the importers (never imports or runs user code).

Real apps compute their settings: ``TAG = f"{CUDA_VERSION}-devel-ubuntu22.04"``,
``GPU = os.environ.get("GPU", "L4")``, ``choices=list(SCHEDULERS.keys())``, ``from .config import IMAGE``,
``image = make_image()``. This package evaluates such expressions as far as Python allows without running
anything, and says exactly why and where it stops otherwise, so an importer never falls back to a
silent default.

``falmigrate.analysis.secrets`` (import it directly) answers the other question every importer has about
code and settings: which names hold secrets, and which literal keys are written into the code; it
replaces those by reads of fal secrets without ever copying a value.

API::

    project = Project(root)                         # one per source tree; shares parsed modules
    ctx = project.module("app.py", main=False)      # SourceError (exit 2) if it cannot be parsed
    ctx = project.adopt(tree, "app.py")             # over a tree the caller parsed (its nodes work)
    ctx = ModuleContext.load(path, root)            # = Project(root).module(path)
    ctx = ModuleContext.from_module(tree, path, root)   # = Project(root).adopt(tree, path)

    ctx.evaluate(node, within=None) -> Known | Unknown
    ctx.evaluate_name("GPU", at=node, within=None) -> Known | Unknown
    ctx.binding("image", at=node, within=None, follow_imports=True) -> Binding | Unknown
    ctx.expression_of(node, within=None, follow_calls=True) -> Expression | Unknown
    ctx.expand_call(call, within=None) -> Expression | Unknown
    ctx.location(node) -> Location

Nodes passed in must belong to ``ctx.module`` (or to ``within.context.module``); a node of another tree
is read as if it came after the module's last statement.

- ``Known(value, env_reads)``: ``value`` is plain data (str, bytes, int, float, complex, bool, None,
  tuple, list, dict, set, frozenset, range, ``PurePosixPath`` for ``pathlib.Path``); ``dict.keys()`` and
  friends, ``zip``/``enumerate``/``reversed`` and generator expressions give lists.
- ``Unknown(reason, location, env_reads)``: a sentence for the user and the file:line (relative to the
  root) of the innermost part that could not be evaluated.
- ``EnvRead(name, default, has_default, location)``: every ``os.environ.get`` / ``os.getenv`` /
  ``os.environ[...]`` met (recognised by binding, also through ``from os import environ, getenv``).
  The literal default is the value used; a read without a default is Unknown, except where Python
  only tests it (``os.environ.get("X") or "d"``, ``... is None``). A variable the module's own code set
  earlier (``os.environ["HF_HOME"] = "/data"``, ``update``, ``setdefault``, ``del``) has that value.
- ``Binding``: the statement that binds a name at a point (``kind``, ``node``, ``value``, ``context``,
  ``location``); ``Expression``: a node with its module and, inside a helper, its parameters bound to
  the call's arguments; pass it as ``within=`` to evaluate or follow nodes of that helper's body.

Names resolve to the binding in effect at ``at`` (module code in order: ``BASE = BASE + "-cu121"`` reads
the previous ``BASE``); code inside a function body reads the module as it is after loading. Imports of
project modules (next to the importing file, then at the root; relative imports) are followed; nothing
outside the root is read. ``__name__`` is ``"__main__"`` only for a module loaded with ``main=True``.
Work is bounded (see the limits in ``values``): huge repeats, self-references and import cycles end
in ``Unknown``.

Next to the evaluator: ``gpu`` (GPU evidence → machine type) and ``sidecars`` (side services, extra
processes, missing data files), shared by the importers the same way.
"""

from falmigrate.analysis.bindings import Binding
from falmigrate.analysis.context import ModuleContext
from falmigrate.analysis.frames import Expression
from falmigrate.analysis.project import Project
from falmigrate.analysis.values import EnvRead, Known, Result, Unknown

__all__ = ["Binding", "EnvRead", "Expression", "Known", "ModuleContext", "Project", "Result", "Unknown"]
