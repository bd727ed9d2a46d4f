"""The ``modal`` package where a converted image still needs it, pinned to one version.

An image imports the user's Modal module unchanged in three cases: the image-only route serves an
ASGI/WSGI/web_server function through Modal's own local-call path (``apptemplates/modal_serve.py``),
``Image.run_function`` calls a function of the module while the image builds, and code that uses
Modal at run time (``modal.Dict``, ``Function.from_name``…) is kept. The pin is the modal the user
converts with (the SDK their app was written for), else the release the launcher is checked against.
"""

from __future__ import annotations

from importlib import metadata

from falmigrate.spec import Finding

# modal_serve.py's use of Modal's local-call path is checked against this release
CHECKED_MODAL_VERSION = "1.6.4"
NO_LOCAL_MODAL_RULE = "FM249"


def modal_version() -> str:
    try:
        version = metadata.version("modal")
    except metadata.PackageNotFoundError:
        return CHECKED_MODAL_VERSION
    return (version if version.split(".")[0].isdigit() and int(version.split(".")[0]) >= 1
            else CHECKED_MODAL_VERSION)


def modal_requirement() -> str:
    return f"modal=={modal_version()}"


def version_findings() -> list[Finding]:
    """A note when the pin is not the modal installed here (nothing to compare the app against)."""
    try:
        metadata.version("modal")
    except metadata.PackageNotFoundError:
        return [Finding(rule=NO_LOCAL_MODAL_RULE, severity="info",
                        message=f"modal is not installed here; images that import the Modal module install "
                                f"modal=={CHECKED_MODAL_VERSION}",
                        remediation="install the modal version your app uses before "
                                    "converting, to pin that one")]
    return []
