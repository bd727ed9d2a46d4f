"""Which of an app's own pins ``pip install fal`` (the last dependency step of an entry-point image)
would replace, reported at convert time so the user learns it before the image misbehaves.

Two sources: fal's own requirements (``data/fal_requirements.txt``, fal's metadata for the targeted
release plus the notable requirements of its dependencies) checked against every exact or capped pin
of the app (``torch==2.1``, ``pillow<10``); and a short table of packages whose old releases need
something fal moves past (an old TensorFlow and the protobuf fal's gRPC stack needs). What is not
known here still shows at build time: our tests run ``pip check`` in every built image.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from falmigrate.spec import AppSpec, Finding, ImageSpec, Location

RULE = "FM012"

# package, its releases that need what fal replaces, what they need, why it matters
_OLD_NEEDS = (
    ("tensorflow", "<2.12", "protobuf<3.20", "TensorFlow before 2.12 fails to import with protobuf 4"),
    ("tensorflow-cpu", "<2.12", "protobuf<3.20", "TensorFlow before 2.12 fails to import with protobuf 4"),
    ("onnx", "<1.13", "protobuf<4", "onnx before 1.13 fails to import with protobuf 4"),
    ("mediapipe", "<0.10", "protobuf<4", "mediapipe before 0.10 fails to import with protobuf 4"),
)

# package, its first release that needs what fal excludes, what it needs, the last release that does not.
# pip takes the newest release a requirement allows, so an unpinned ``runpod`` (how most RunPod workers list
# their SDK) lands on one of these; fal's FastAPI cap then leaves it broken in the image.
_NEW_NEEDS = (
    ("runpod", "1.10.1", "fastapi>=0.138.1", "1.10.0"),
)


@dataclass(frozen=True)
class Pin:
    """One requirement line of the app, where it was written."""

    text: str
    location: Location | None = None


@cache
def fal_requirements(python: str) -> dict[str, SpecifierSet]:
    """Package → what fal needs of it, for an image with Python ``python`` (markers evaluated)."""
    environment = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}
    needs: dict[str, SpecifierSet] = {}
    text = resources.files("falmigrate.data").joinpath("fal_requirements.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            name = canonicalize_name(requirement.name)
            needs[name] = needs.get(name, SpecifierSet()) & requirement.specifier
    return needs


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _exact(specifier: SpecifierSet) -> Version | None:
    """The release an exact pin (``==``, ``===``, ``~=``) names, if the requirement is one."""
    for spec in specifier:
        if spec.operator in ("==", "===", "~=") and "*" not in spec.version:
            return _version(spec.version)
    return None


def _excludes(pin: SpecifierSet, wanted: SpecifierSet) -> bool:
    """True when no release the pin allows can satisfy ``wanted``: an exact pin outside it, or a cap
    (``<``, ``<=``) at or below one of its lower bounds."""
    exact = _exact(pin)
    if exact is not None:
        return not wanted.contains(exact, prereleases=True)
    lows = [(v, spec.operator) for spec in wanted if spec.operator in (">=", ">", "==")
            if (v := _version(spec.version)) is not None]
    for spec in pin:
        cap = _version(spec.version) if spec.operator in ("<", "<=") else None
        if cap is None:
            continue
        for low, operator in lows:
            if cap < low or (cap == low and (spec.operator == "<" or operator == ">")):
                return True
    return False


def _parse(pin: Pin) -> Requirement | None:
    try:
        return Requirement(pin.text.split("#", 1)[0].strip())
    except InvalidRequirement:
        return None  # options (-r, --index-url), URLs and editables are not pins


def conflicts(pins: list[Pin], python: str, fal_version: str) -> list[Finding]:
    """A warning for each pin ``pip install fal`` would break (see the module docstring)."""
    needs = fal_requirements(python)
    found = []
    for pin in pins:
        requirement = _parse(pin)
        if requirement is None:
            continue
        name = canonicalize_name(requirement.name)
        wanted = needs.get(name)
        if wanted is not None and _excludes(requirement.specifier, wanted):
            found.append(_finding(pin, f"fal=={fal_version} needs {name}{wanted}, so installing it replaces "
                                       f"{pin.text.strip()}", f"check the app with {name}{wanted}"))
        found += _old_needs(pin, name, _exact(requirement.specifier), needs, fal_version)
        found += _new_needs(pin, name, requirement.specifier, needs, fal_version)
    return found


def _admits_from(specifier: SpecifierSet, first: Version) -> bool:
    """Whether the newest release ``specifier`` allows can be ``first`` or later: no exact pin below it and no
    cap (``<``, ``<=``, ``~=``'s and ``==X.*``'s implied ones) at or below it."""
    for spec in specifier:
        text = spec.version.removesuffix(".*")
        version = _version(text)
        if version is None:
            continue
        if spec.operator == "~=" or spec.version.endswith(".*"):
            # ~=1.10 allows <2, ~=1.10.0 allows <1.11; ==1.9.* allows <1.10
            prefix = version.release[:-1] if spec.operator == "~=" else version.release
            capped = bool(prefix) and Version(".".join(map(str, [*prefix[:-1], prefix[-1] + 1]))) <= first
        else:
            capped = {"==": version < first, "===": version < first, "<": version <= first,
                      "<=": version < first}.get(spec.operator, False)
        if capped:
            return False
    return True


def _new_needs(pin: Pin, name: str, specifier: SpecifierSet, needs: dict[str, SpecifierSet],
               fal_version: str) -> list[Finding]:
    found = []
    for package, first, needed, last_fit in _NEW_NEEDS:
        if name != package or not _admits_from(specifier, Version(first)):
            continue
        need = Requirement(needed)
        fal_need = needs.get(canonicalize_name(need.name), SpecifierSet())
        if not _excludes(fal_need, need.specifier):
            continue  # fal's own requirement moved on: the two fit again
        found.append(_finding(pin,
                              f"{pin.text.strip()} lets pip install {package} {first} or later, which needs "
                              f"{needed}, but fal=={fal_version} needs "
                              f"{need.name}{fal_need}: installing fal replaces that {need.name} and "
                              f"leaves {package}'s requirement broken",
                              f"pin {package}=={last_fit}, the last release that fits fal's {need.name}"))
    return found


def _old_needs(pin: Pin, name: str, version: Version | None, needs: dict[str, SpecifierSet],
               fal_version: str) -> list[Finding]:
    found = []
    for package, releases, needed, why in _OLD_NEEDS:
        if (name != package or version is None
                or not SpecifierSet(releases).contains(version, prereleases=True)):
            continue
        need = Requirement(needed)
        fal_need = needs.get(canonicalize_name(need.name), SpecifierSet())
        found.append(_finding(pin, f"{pin.text.strip()} needs {needed} but fal=={fal_version} needs "
                                   f"{need.name}{fal_need}: {why}",
                              f"move to {package}{releases.replace('<', '>=')}, or keep the "
                              "app on the image-only route (no fal in the image)"))
    return found


def pins(image: ImageSpec, root: Path) -> list[Pin]:
    """The app's requirement lines: the image's pip packages and its requirements file, with lines."""
    found = [Pin(text) for text in image.python_requirements]
    if image.requirements_file:
        path = root / image.requirements_file
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            lines = []
        found += [Pin(line, Location(file=image.requirements_file, line=number))
                  for number, line in enumerate(lines, start=1)
                  if line.strip() and not line.lstrip().startswith("#")]
    return found


def check(spec: AppSpec, root: Path, fal_version: str) -> list[Finding]:
    """``conflicts`` for an image fal is installed into (any entry-point app), else nothing."""
    if not spec.image.fal_runtime or all(app.route != "entry_point" for app in spec.served_apps()):
        return []
    return conflicts(pins(spec.image, root), spec.image.python or "3.11", fal_version)


def _finding(pin: Pin, message: str, remediation: str) -> Finding:
    return Finding(rule=RULE, severity="warning", message=message, remediation=remediation,
                   location=pin.location)
