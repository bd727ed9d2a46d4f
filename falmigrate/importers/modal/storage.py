"""``volumes=`` / ``secrets=`` / old ``mounts=`` and ``shared_volumes=`` keywords → fal data mounts,
secret names and files in the image.

Values are followed by binding (``VOLS = {"/models": weights}`` with ``weights = modal.Volume.from_name(
f"{PREFIX}-weights")`` in a sibling module) and evaluated statically; secret *values* are never read,
only the names of their keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import libcst as cst

from falmigrate.analysis import Expression, Unknown
from falmigrate.importers.modal.legacy import mapped
from falmigrate.importers.modal.reader import Call, ModalModule, NotLiteral
from falmigrate.spec import Finding, Location, VolumeSpec

if TYPE_CHECKING:
    from falmigrate.importers.modal.knobs import Settings

VOLUME_CONSTRUCTORS = ("from_name", "persisted", "persist", "new", "lookup")
LEGACY_STORAGE = {"shared_volumes": "volumes= with modal.Volume",
                  "network_file_systems": "volumes= with modal.Volume"}


def _followed(mod: ModalModule, expr: cst.BaseExpression,
              within: Expression | None) -> tuple[cst.BaseExpression, Expression | None]:
    found = mod.follow(expr, within)
    return (expr, within) if isinstance(found, Unknown) else (found.node, found)


def volume_name(mod: ModalModule, expr: cst.BaseExpression, within: Expression | None = None) -> str:
    """The name of a Modal Volume / SharedVolume / NetworkFileSystem / CloudBucketMount expression."""
    node, where = _followed(mod, expr, within)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        call = Call("", node, 0, where)
        if (node.func.attr.value in VOLUME_CONSTRUCTORS
                or (mod.dotted(node.func, where) or "").endswith("CloudBucketMount")):
            first = call.positional(0) or call.kw("name") or call.kw("label") or call.kw("bucket_name")
            try:
                if first is not None:
                    return str(mod.literal(first, where))
            except NotLiteral:
                pass
        if isinstance(node.func.value, cst.Call):  # modal.SharedVolume().persist("name")
            return volume_name(mod, node.func.value, where)
    return cst.helpers.get_full_name_for_node(expr) or "volume"


def read_volumes(mod: ModalModule, key: str, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    loc = mod.location(expr, call.within)
    if key in LEGACY_STORAGE:
        out.findings.append(mapped(f"{key}=", LEGACY_STORAGE[key], loc))
    node, where = _followed(mod, expr, call.within)
    if not isinstance(node, cst.Dict):
        out.findings.append(Finding(rule="FM206", severity="error", location=loc,
                                    message=f"{key} cannot be read statically: no data_mounts for it",
                                    remediation="add the /data paths to data_mounts in "
                                                "pyproject.toml by hand"))
        return
    for el in node.elements:
        if not isinstance(el, cst.DictElement):
            continue
        try:
            path = str(mod.literal(el.key, where))
        except NotLiteral as exc:
            out.findings.append(Finding(rule="FM206", severity="error", location=exc.location or loc,
                                        message=f"a {key} path cannot be evaluated statically: {exc.reason}",
                                        remediation="add its /data path to data_mounts in "
                                                    "pyproject.toml by hand"))
            continue
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", volume_name(mod, el.value, where)).strip("-") or "volume"
        fal_path = f"/data/{name}"
        out.volumes.append(VolumeSpec(name=name, source_path=path, fal_path=fal_path))
        out.findings.append(Finding(rule="FM206", severity="info", location=mod.location(el, where),
                                    message=f"Modal volume {name!r} at {path} → fal "
                                            f"persistent storage {fal_path}",
                                    remediation=f"copy the volume's data to {fal_path} (e.g. "
                                                "`modal volume get` then upload); "
                                                "vol.commit()/reload() are not needed"))


def _items(mod: ModalModule, expr: cst.BaseExpression,
           within: Expression | None) -> list[tuple[cst.BaseExpression, Expression | None]]:
    node, where = _followed(mod, expr, within)
    if isinstance(node, (cst.List, cst.Tuple)):
        return [_followed(mod, e.value, where) for e in node.elements]
    return [(node, where)]


def _secret(mod: ModalModule, item: cst.BaseExpression,
            where: Expression | None) -> tuple[str, list[str] | None]:
    """(Modal secret name, its env var names or None when the code does not say)."""
    if not isinstance(item, cst.Call):
        return cst.helpers.get_full_name_for_node(item) or "secret", None
    call = Call(mod.dotted(item.func, where) or "", item, 0, where)
    method = call.target.rsplit(".", 1)[-1]
    try:
        if method == "from_name":
            keys = call.kw("required_keys")
            return (str(mod.literal(call.positional(0) or call.kw("name"), where)),
                    [str(k) for k in mod.literal(keys, where)] if keys is not None else None)
        if method == "from_dict":  # only the keys are read: the values never leave the user's code
            value = call.positional(0) or call.kw("env_dict")
            node, _ = _followed(mod, value, where) if value is not None else (None, None)
            if isinstance(node, cst.Dict):
                return "from_dict", [str(mod.literal(el.key, where)) for el in node.elements
                                     if isinstance(el, cst.DictElement)]
        if method == "from_dotenv":
            return "from_dotenv", None
    except NotLiteral:
        pass
    return method, None


def read_secrets(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    loc = mod.location(expr, call.within)
    for item, where in _items(mod, expr, call.within):
        name, keys = _secret(mod, item, where)
        if keys is None:
            out.secrets_without_keys.append(name)
            message = (f"Modal secret {name!r}: the code does not name its keys, so "
                       "pyproject.toml sets no `secrets` list for this app (fal then exposes all the "
                       "team's secrets to it)")
            remediation = (f"create each key of {name!r} with `fal secrets set KEY=…`; to "
                           "restrict the app to its secrets, list them in `secrets` in pyproject.toml")
        else:
            out.secrets += [k for k in keys if k not in out.secrets]
            shown = ", ".join(keys) or "none"
            message = f"Modal secret {name!r} (keys {shown}) becomes fal secrets of the same names"
            remediation = (" ".join(f"`fal secrets set {k}=…`" for k in keys) or "nothing to create")
            remediation += (" before deploying; fal exposes them as environment variables "
                            "(values are never copied)")
        out.findings.append(Finding(rule="FM207", severity="warning" if keys is None else "info",
                                    location=loc, message=message, remediation=remediation))


def read_mounts(mod: ModalModule, expr: cst.BaseExpression, call: Call, out: Settings) -> None:
    """Old ``mounts=[modal.Mount.from_local_dir(local, remote_path=...)]``: the files
    are copied into the image."""
    for item, where in _items(mod, expr, call.within):
        loc = mod.location(item, where)
        mount = (Call(mod.dotted(item.func, where) or "", item, 0, where)
                 if isinstance(item, cst.Call) else None)
        method = mount.target.rsplit(".", 1)[-1] if mount is not None else ""
        try:
            if mount is not None and method in ("from_local_dir", "from_local_file"):
                local = str(mod.literal(mount.positional(0) or mount.kw("local_path"), where))
                remote = str(mod.literal(mount.kw("remote_path") or mount.positional(1), where))
                out.copies.append((local, remote))
                out.findings.append(mapped(f"modal.Mount.{method}({local!r})",
                                           f"Image.add_local_{method.rsplit('_', 1)[1]} (a COPY to {remote})",
                                           loc))
                continue
            if mount is not None and method == "from_local_python_packages":
                out.findings.append(mapped("modal.Mount.from_local_python_packages", "the project copy", loc))
                continue
        except NotLiteral as exc:
            out.findings.append(_mount_error(exc.location or loc,
                                             f"cannot be evaluated statically: {exc.reason}"))
            continue
        code = cst.Module([]).code_for_node(item)
        out.findings.append(_mount_error(loc, f"`{code}` is not a local mount falmigrate can copy"))


def _mount_error(loc: Location, why: str) -> Finding:
    return Finding(rule="FM242", severity="error", location=loc,
                   message=f"old Modal API mounts=: a mount {why}",
                   remediation="add a COPY of those files to the Dockerfile by hand")
