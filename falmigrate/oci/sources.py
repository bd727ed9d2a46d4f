"""Where an image's layers come from, read without any transport logic: the readers of an OCI layout
(``oci:PATH[:TAG]``), a ``docker save`` archive (legacy ``<id>/layer.tar`` and OCI-style
``blobs/sha256/…`` entries alike) and a directory tree (one layer). ``transports`` dispatches to them;
the ``docker://`` and ``docker-daemon:`` transports fetch into a layout or archive and read it here, so
none of them imports ``transports`` back.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from falmigrate.errors import ImageError, UsageError
from falmigrate.oci.layout import Layout, parse_reference
from falmigrate.oci.objects import ImageConfig
from falmigrate.oci.tarstream import owned_member_stream


@dataclass(frozen=True)
class SourceLayer:
    diff_id: str
    opener: Callable[[], BinaryIO]  # a stream of the compressed-or-plain layer bytes


@dataclass
class SourceImage:
    config_bytes: bytes
    layers: list[SourceLayer]
    cleanup: list[Path] = field(default_factory=list)

    @property
    def config(self) -> dict:
        config: dict = json.loads(self.config_bytes)
        return config


def _file_opener(path: Path) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")


def from_layout(ref: str) -> SourceImage:
    """``oci:PATH[:TAG]``."""
    path, tag = parse_reference(ref)
    if not (path / "oci-layout").exists():
        raise ImageError(f"{path}: not an OCI image layout (no oci-layout file)")
    image = Layout(path).image(tag)
    layers = [SourceLayer(str(layer.diff_id), layer.open_compressed) for layer in image.layers]
    return SourceImage(image.config.to_bytes(), layers)


def _archive_member(tar: tarfile.TarFile, path: Path, name: str) -> bytes:
    try:
        member = tar.extractfile(name)
    except KeyError:
        member = None
    if member is None:
        raise ImageError(f"{path}: docker-archive has no file {name!r}",
                         hint="make it with `docker save IMAGE -o FILE` or `skopeo copy … "
                              "docker-archive:FILE`")
    return member.read()


def from_archive(ref: str) -> SourceImage:
    """``docker-archive:PATH``."""
    path = Path(ref.removeprefix("docker-archive:"))
    try:
        with tarfile.open(path) as tar:
            entries = json.loads(_archive_member(tar, path, "manifest.json"))
            if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
                raise ImageError(f"{path}: manifest.json lists no image")
            manifest = entries[0]
            if not isinstance(manifest.get("Config"), str) or not isinstance(manifest.get("Layers"), list):
                raise ImageError(f"{path}: manifest.json entry needs 'Config' and 'Layers'")
            config_bytes = _archive_member(tar, path, manifest["Config"])
            missing = [m for m in manifest["Layers"] if m not in tar.getnames()]
    except (OSError, tarfile.TarError) as exc:
        raise ImageError(f"{path}: cannot read docker-archive: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ImageError(f"not valid JSON: {exc.msg}", file=f"{path}:manifest.json",
                         line=exc.lineno) from exc
    if missing:
        raise ImageError(f"{path}: layers named in manifest.json are missing: {missing}")
    diff_ids = [str(d) for d in ImageConfig.parse(config_bytes, f"{path}:{manifest['Config']}").diff_ids]
    if len(diff_ids) != len(manifest["Layers"]):
        raise ImageError(f"{path}: {len(manifest['Layers'])} layers but {len(diff_ids)} "
                         "diff_ids in the config")

    def opener(member: str) -> Callable[[], BinaryIO]:
        def open_member() -> BinaryIO:
            tar = tarfile.open(path)  # noqa: SIM115 - lives as long as the member stream
            return owned_member_stream(tar, member)
        return open_member

    layers = [SourceLayer(d, opener(m)) for d, m in zip(diff_ids, manifest["Layers"], strict=True)]
    return SourceImage(config_bytes, layers)


def from_tree(ref: str, workdir: Path, first: list[str] | None = None) -> SourceImage:
    """``dir-tree:PATH`` as a one-layer image (its tar written to ``workdir``; ``first`` paths lead)."""
    from falmigrate.oci.tarwriter import tree_tar

    root = Path(ref.removeprefix("dir-tree:"))
    if not root.is_dir():
        raise UsageError(f"dir-tree: {root} is not a directory")
    tar = tree_tar(root, workdir / "tree.tar", first)
    with open(tar, "rb") as handle:
        diff_id = "sha256:" + hashlib.file_digest(handle, "sha256").hexdigest()
    return SourceImage(ImageConfig.new([diff_id]).to_bytes(), [SourceLayer(diff_id, _file_opener(tar))])
