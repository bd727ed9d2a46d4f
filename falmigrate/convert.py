"""The conversion pipeline: source project → AppSpec → rewritten/rendered files → output directory.

``convert`` is pure (reads the source, returns text); ``write_output`` is the only step that touches
the output directory, and it does so atomically: everything is written into a temporary sibling
directory which is renamed into place at the end, so a failure never leaves a half-written output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from falmigrate import codemods, falreqs, importers, progress, routes
from falmigrate.errors import FalmigrateError, OutputExistsError, SourceError, UsageError
from falmigrate.importers.base import ImportRequest
from falmigrate.spec import AppSpec

PLATFORM_CHOICES = ("auto", *importers.PLATFORMS)


@dataclass
class ConvertResult:
    """What a conversion produced: the final spec and every output file's text by relative path."""

    spec: AppSpec
    files: dict[str, str] = field(default_factory=dict)
    rewritten: bool = False  # True when fal_app.py came from a codemod, False when from a template
    # The source project (minus junk) by relative path: the output directory is the image's build
    # context, so `COPY . /app` in the generated Dockerfile ships the user's code. Generated files win.
    sources: dict[str, bytes] = field(default_factory=dict)
    executables: set[str] = field(default_factory=set)  # source files that keep their executable bit
    # the folder the sources come from: the source root, or the build context it names
    src: Path | None = None

    def sources_for(self, out: Path) -> dict[str, bytes]:
        """The sources to write into ``out``; an ``out`` inside the source tree is not copied into itself."""
        if self.src is None:
            return dict(self.sources)
        try:
            inner = Path(out).absolute().relative_to(Path(self.src).absolute()).as_posix()
        except ValueError:
            return dict(self.sources)
        return {k: v for k, v in self.sources.items() if not (k == inner or k.startswith(inner + "/"))}


# Never copied into the output/build context: VCS, caches, virtualenvs, and .env files (secrets).
JUNK_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", ".idea", ".vscode", ".cog", ".modal", ".runpod"})
JUNK_FILES = frozenset({".DS_Store", ".env"})
JUNK_SUFFIXES = (".pyc", ".pyo")


def source_files(src: Path) -> dict[str, bytes]:
    """Every regular file under ``src`` worth shipping, sorted; symlinks and junk are skipped."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames
                             if d not in JUNK_DIRS and not (Path(dirpath) / d).is_symlink())
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if (name in JUNK_FILES or name.startswith(".env.") or name.endswith(JUNK_SUFFIXES)
                    or path.is_symlink()):
                continue
            found[path.relative_to(src).as_posix()] = path.read_bytes()
    return dict(sorted(found.items()))


def _merge(spec: AppSpec, findings: list, decisions: list) -> AppSpec:
    if not findings and not decisions:
        return spec
    return spec.model_copy(update={
        "findings": [*spec.findings, *findings],
        "decisions": [*spec.decisions, *decisions],
    })


def convert(src: Path, platform: str = "auto", *, request: ImportRequest | None = None, native: bool = False,
            name: str | None = None, fal_version: str | None = None,
            image_ref: str | None = None) -> ConvertResult:
    """Read ``src`` as a ``platform`` project and return the generated files (nothing is written).

    ``request`` names what to import when the repository has several apps; ``native`` rewrites a server's
    routes as fal endpoints instead of deploying the server image as it is; ``name`` is the fal app name;
    ``fal_version`` the fal the image installs; ``image_ref`` a pushed image to deploy instead of building.
    """
    # lazy: keeps `import falmigrate.convert` cheap
    from falmigrate.render import RenderOptions, preflight_findings, render_files

    src = Path(src)
    if platform not in PLATFORM_CHOICES:
        raise UsageError(f"unknown platform {platform!r}; choose one of: {', '.join(PLATFORM_CHOICES)}")
    if not src.is_dir():
        raise SourceError(f"source directory does not exist: {src}", file=src)
    pinned_fal, version_findings = routes.fal_version(fal_version)
    progress.log(f"reading {src}")
    spec = importers.load(src, platform, request)
    spec = routes.plan(spec, routes.RouteOptions(native=native, name=name))
    # the project inside SRC the importer chose (``SourceInfo.root``, e.g. the folder of one of several
    # cog.yaml files): spec paths are relative to it and it is the image's build context
    project_root = src / spec.source.root
    spec = spec.with_findings([*version_findings, *falreqs.check(spec, project_root, pinned_fal)])
    result = _rewrite(spec, project_root, native)
    app_code = None
    # the output folder is the image's build context: the project's folder, or the subfolder a user's
    # Dockerfile is built from
    context = (project_root / spec.image.dockerfile.context if spec.image.dockerfile is not None
               else project_root)
    project = source_files(context)
    user_dockerfile = _user_dockerfile(spec, project_root)  # as written: the renderer patches it
    if result is not None:
        spec = _merge(spec, list(result.findings), list(result.decisions))
        app_code = result.code
        # files the rewrite changed (keys relative to the project root, which is then the context)
        project.update({name: text.encode("utf-8") for name, text in result.files.items()})
    pyproject = project.get("pyproject.toml")
    options = RenderOptions(
        image_ref=image_ref, registry_credentials=image_ref is not None, fal_version=pinned_fal,
        project_pyproject=pyproject.decode("utf-8") if pyproject is not None else None,
        project_dockerignore=".dockerignore" in project,
        user_dockerfile=user_dockerfile,
        context_files=frozenset(project))
    generated = {"fal_app.py", "pyproject.toml", ".dockerignore", "Dockerfile"}
    spec = spec.with_findings(preflight_findings(spec, options, generated))
    files = render_files(spec, app_code, options)
    if result is not None:  # files the rewrite wrote are part of the output (a package's modules, redactions)
        for path, text in result.files.items():
            files.setdefault(path, text)
    sources = {k: v for k, v in project.items() if k not in files}
    executables = {name for name in sources if os.access(context / name, os.X_OK)}
    return ConvertResult(spec=spec, files=files, rewritten=app_code is not None, sources=sources,
                         executables=executables, src=context.absolute())


def _user_dockerfile(spec: AppSpec, src: Path) -> str | None:
    """The text of the user's Dockerfile the spec patches (as bytes decode: line endings kept)."""
    if spec.image.dockerfile is None:
        return None
    path = src / spec.image.dockerfile.path
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {spec.image.dockerfile.path}: {exc}",
                          file=spec.image.dockerfile.path) from exc


def _rewrite(spec: AppSpec, src: Path, native: bool) -> codemods.RewriteResult | None:
    """The platform's codemod, or None (template app) when this build has no codemod for it."""
    try:
        return codemods.rewrite(spec, src, native=native)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("falmigrate.codemods."):
            raise
        progress.log(f"no code rewrite for {spec.source.platform} in this build: fal_app.py "
                     "delegates to the module")
        return None


def _check_target(out: Path, force: bool) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputExistsError("output path exists and is not a directory", file=out)
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExistsError("output directory is not empty", file=out,
                                hint="pass --force to replace it")


def _safe_relpath(name: str) -> Path:
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise FalmigrateError(f"refusing to write generated file outside the output directory: {name}")
    return rel


def write_output(result: ConvertResult, out: Path, force: bool = False) -> Path:
    """Write ``result.files`` into ``out`` atomically; refuse a non-empty ``out`` unless ``force``."""
    out = Path(out).absolute()
    if result.src is not None and Path(result.src).absolute().resolve().is_relative_to(out.resolve()):
        raise UsageError("the output directory would replace the source project", file=out,
                         hint="choose an --out outside the source directory's ancestors")
    _check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        for name, data in sorted(result.sources_for(out).items()):
            if name not in result.files:
                _write(tmp, name, data, executable=name in result.executables)
        for name in sorted(result.files):
            _write(tmp, name, result.files[name].encode("utf-8"))
        os.chmod(tmp, 0o755)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write(root: Path, name: str, data: bytes, *, executable: bool = False) -> None:
    path = root / _safe_relpath(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if executable:
        path.chmod(0o755)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` (allowed by force) is moved aside first."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
