"""Run inside a venv that has only ``fal``, with the working directory at a converted app's folder:
read every ``[tool.fal.apps.<name>]`` with fal's own reader and prepare its deployment the way
``fal deploy <name>`` does, then print one JSON object describing what fal would send.

Nothing is sent (the caller runs this without a network); the report says which modules of the app
folder got imported (there must be none: fal imports the app only inside the image).
"""

import json
import sys
import tomllib
from pathlib import Path


def _app_modules(folder: Path) -> set[str]:
    names = {path.stem for path in folder.glob("*.py")}
    names |= {path.name for path in folder.iterdir() if path.is_dir() and (path / "__init__.py").is_file()}
    return names


def _describe(name: str) -> dict:
    from fal import project
    from fal.api.client import SyncServerlessClient
    from fal.api.deploy import prepare_deployment
    from fal.cli._utils import get_app_data_from_toml

    project.find_project_root.cache_clear()
    project._load_toml.cache_clear()
    data = get_app_data_from_toml(name)
    environment = dict(data.options.environment)
    image = environment.pop("image", None) or {}
    prepared = prepare_deployment(SyncServerlessClient(), name)
    return {
        "name": data.name,
        "auth": data.auth,
        "python_entry_point": data.python_entry_point,
        "ref": data.ref,
        "reset_scale": data.reset_scale,
        "host": {key: value for key, value in data.options.host.items() if key != "health_check_config"},
        "health_check": (data.options.host.get("health_check_config").__dict__
                         if data.options.host.get("health_check_config") else None),
        "gateway": dict(data.options.gateway),
        "environment": environment,
        "image": {key: value for key, value in image.items() if key in
                  ("dockerfile_str", "image", "registries", "secrets", "use_isolate", "docker_files_list")},
        "prepared": type(prepared.loaded).__name__,
    }


def main() -> None:
    folder = Path.cwd()
    before = set(sys.modules)
    apps = tomllib.loads((folder / "pyproject.toml").read_text())["tool"]["fal"]["apps"]
    report = {"apps": {name: _describe(name) for name in apps}}
    imported = {name.split(".")[0] for name in set(sys.modules) - before}
    report["imported_app_modules"] = sorted(imported & _app_modules(folder))
    print(json.dumps(report, default=str))


if __name__ == "__main__":
    main()
