"""Rewrites of the user's own module into a fal app (libcst; comments and formatting kept).

Each platform has one ``rewrite(spec, root) -> RewriteResult`` (named by its entry in
``falmigrate.platforms``) that applies that platform's rules (ids in the platform's range of the rule
registry, explicit order, import edits at the end). Servers (plain Docker servers unless ``--native``,
web servers of the other platforms) are not rewritten: their ``fal_app.py`` comes from a template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from falmigrate import platforms
from falmigrate.spec import AppSpec, Decision, Finding


@dataclass
class RewriteResult:
    """The whole new ``fal_app.py`` (without the generated-file header) and what the rewrite found.
    ``files``: project files the output must hold rewritten instead of copied as they are (relative
    path → text), e.g. modules whose literal keys were replaced by secret reads."""

    code: str
    findings: list[Finding] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    # Other files the rewrite replaces in the output, by path relative to the source root (e.g. the
    # rewritten modules of a package whose entry module fal_app.py imports).
    files: dict[str, str] = field(default_factory=dict)


def rewrite(spec: AppSpec, root: Path, **options: object) -> RewriteResult | None:
    """Run the platform's rewrite, or return None when the app is rendered from a template."""
    target = platforms.get(spec.source.platform).codemod
    if target is None or not any(app.route == "entry_point" for app in spec.served_apps()):
        return None  # only image-only apps: the image runs the source as it is
    if spec.server is not None and not options.get("native") and not spec.more_apps:
        return None  # a server not rewritten as fal endpoints (a spec routes.plan has not seen yet)
    return platforms.resolve(target)(spec, root, **options)
