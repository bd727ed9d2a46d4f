"""Read-only OCI objects: ``Descriptor``, ``Manifest``, ``Index``, ``ImageConfig``, ``Layer``, ``Image``.

Why: manifests and descriptors were hand-built dicts in several places; a misspelt key went unnoticed
until a third-party reader refused the image. These classes are frozen (nested JSON objects become
read-only mappings, lists become tuples); a change (``with_tag``, ``with_annotations``,
``with_diff_ids``…) returns a new object.

Bytes and digests: a document parsed from bytes keeps those exact bytes, so its ``digest`` is the
digest of what is on disk or in a registry, never of a re-serialisation (a Docker config written with
other spacing keeps its digest). A document built or changed in code serialises to canonical JSON
(sorted keys, no whitespace), so equal content always gives the same digest. Keys these classes do
not model are kept in ``extra`` and written back. Docker's media types are accepted next to OCI's.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO, Self, cast

import zstandard

from falmigrate.errors import ImageError
from falmigrate.oci import mediatypes
from falmigrate.oci.digest import Digest
from falmigrate.oci.mediatypes import MediaType

REF_NAME = "org.opencontainers.image.ref.name"
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def canonical_json(obj: Any) -> bytes:
    """The one serialisation of new documents: sorted keys, no whitespace, ASCII."""
    return json.dumps(_thaw(obj), separators=(",", ":"), sort_keys=True).encode()


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Descriptor | Digest):
        return value.to_dict() if isinstance(value, Descriptor) else str(value)
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    return value


def _load(data: bytes, where: str) -> dict:
    try:
        obj = json.loads(data)
    except json.JSONDecodeError as exc:
        raise ImageError(f"not valid JSON: {exc.msg}", file=where, line=exc.lineno,
                         column=exc.colno) from exc
    except UnicodeDecodeError as exc:
        raise ImageError(f"{where}: not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ImageError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _need(data: Mapping, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ImageError(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ImageError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _string_map(value: Any, where: str) -> Mapping[str, str]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in value.items()):
        raise ImageError(f"{where}: annotations must map strings to strings")
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Descriptor:
    """A typed, sized, content-addressed reference to a blob."""

    media_type: MediaType
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    urls: tuple[str, ...] = ()
    platform: Mapping[str, Any] | None = field(default=None, hash=False)
    artifact_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "media_type", MediaType(self.media_type))
        if isinstance(self.digest, str):
            set_(self, "digest", Digest.parse(self.digest))
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise ImageError(f"descriptor {self.digest}: size must be a non-negative "
                             f"integer, got {self.size!r}")
        set_(self, "annotations", _string_map(self.annotations, f"descriptor {self.digest}"))
        set_(self, "urls", tuple(self.urls))
        set_(self, "platform", None if self.platform is None else _freeze(self.platform))
        set_(self, "extra", _freeze(self.extra))

    @classmethod
    def of_bytes(cls, media_type: str, data: bytes,
                 annotations: Mapping[str, str] | None = None) -> Descriptor:
        return cls(MediaType(media_type), Digest.of_bytes(data), len(data), annotations or _EMPTY)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "descriptor") -> Descriptor:
        if not isinstance(data, Mapping):
            raise ImageError(f"{where}: expected an object, got {type(data).__name__}")
        known = {"mediaType", "digest", "size", "annotations", "urls", "platform", "artifactType"}
        try:
            digest = Digest.parse(_need(data, "digest", str, where))
        except ImageError as exc:
            raise ImageError(f"{where}: {exc}") from exc
        return cls(
            media_type=_need(data, "mediaType", str, where),
            digest=digest,
            size=_need(data, "size", int, where),
            annotations=_string_map(data.get("annotations"), where),
            urls=tuple(data.get("urls") or ()),
            platform=data.get("platform"),
            artifact_type=data.get("artifactType"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**_thaw(self.extra), "mediaType": str(self.media_type),
                               "digest": str(self.digest), "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.urls:
            out["urls"] = list(self.urls)
        if self.platform is not None:
            out["platform"] = _thaw(self.platform)
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out

    @property
    def ref_name(self) -> str | None:
        return self.annotations.get(REF_NAME)

    def with_annotations(self, changes: Mapping[str, str]) -> Descriptor:
        return dataclasses.replace(self, annotations={**self.annotations, **changes})

    def with_ref_name(self, tag: str) -> Descriptor:
        return self.with_annotations({REF_NAME: tag})


class _Document:
    """A JSON document stored as a blob: keeps the bytes it was parsed from (see module docstring)."""

    _media_types: frozenset[str] = frozenset()
    media_type: MediaType

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Self:
        raise NotImplementedError

    @classmethod
    def parse(cls, data: bytes, where: str | None = None) -> Self:
        where = where or cls.__name__
        obj = cls.from_dict(_load(data, where), where)
        object.__setattr__(obj, "_raw", bytes(data))
        return obj

    def to_bytes(self) -> bytes:
        raw = self.__dict__.get("_raw")
        return raw if raw is not None else canonical_json(self.to_dict())

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.to_bytes())

    def descriptor(self, annotations: Mapping[str, str] | None = None) -> Descriptor:
        return Descriptor.of_bytes(self.media_type, self.to_bytes(), annotations)

    @classmethod
    def _media_type(cls, data: Mapping, default: str, where: str) -> MediaType:
        value = data.get("mediaType", default)
        if value not in cls._media_types:
            raise ImageError(f"{where}: media type {value!r} is not one of {sorted(cls._media_types)}")
        return MediaType(value)


def _schema_version(data: Mapping, where: str) -> None:
    if _need(data, "schemaVersion", int, where) != 2:
        raise ImageError(f"{where}: schemaVersion {data['schemaVersion']} is not supported (only 2)")


@dataclass(frozen=True)
class Manifest(_Document):
    """An image manifest: one config descriptor and the layer descriptors, lowest layer first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: MediaType = mediatypes.OCI_MANIFEST  # type: ignore[assignment]
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)
    _media_types = mediatypes.MANIFEST_TYPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_type", MediaType(self.media_type))
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "annotations", _string_map(self.annotations, "manifest"))
        object.__setattr__(self, "extra", _freeze(self.extra))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "manifest") -> Manifest:
        _schema_version(data, where)
        media_type = cls._media_type(data, mediatypes.OCI_MANIFEST, where)
        layers = _need(data, "layers", list, where)
        subject = data.get("subject")
        known = {"schemaVersion", "mediaType", "config", "layers", "annotations", "subject", "artifactType"}
        return cls(
            config=Descriptor.from_dict(_need(data, "config", dict, where), f"{where}: config"),
            layers=tuple(Descriptor.from_dict(d, f"{where}: layers[{i}]") for i, d in enumerate(layers)),
            media_type=media_type,
            annotations=_string_map(data.get("annotations"), where),
            subject=Descriptor.from_dict(subject, f"{where}: subject") if subject is not None else None,
            artifact_type=data.get("artifactType"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**_thaw(self.extra), "schemaVersion": 2, "mediaType": str(self.media_type),
                               "config": self.config.to_dict(), "layers": [d.to_dict() for d in self.layers]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        return out


@dataclass(frozen=True)
class Index(_Document):
    """An image index (also ``index.json`` of a layout, where ref.name annotations are the tags)."""

    manifests: tuple[Descriptor, ...] = ()
    media_type: MediaType = mediatypes.OCI_INDEX  # type: ignore[assignment]
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)
    _media_types = mediatypes.INDEX_TYPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "media_type", MediaType(self.media_type))
        object.__setattr__(self, "manifests", tuple(self.manifests))
        object.__setattr__(self, "annotations", _string_map(self.annotations, "index"))
        object.__setattr__(self, "extra", _freeze(self.extra))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "index") -> Index:
        _schema_version(data, where)
        entries = _need(data, "manifests", list, where)
        known = {"schemaVersion", "mediaType", "manifests", "annotations"}
        return cls(
            manifests=tuple(Descriptor.from_dict(d, f"{where}: manifests[{i}]")
                            for i, d in enumerate(entries)),
            media_type=cls._media_type(data, mediatypes.OCI_INDEX, where),
            annotations=_string_map(data.get("annotations"), where),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**_thaw(self.extra), "schemaVersion": 2, "mediaType": str(self.media_type),
                               "manifests": [d.to_dict() for d in self.manifests]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @property
    def tags(self) -> list[str]:
        return [d.ref_name for d in self.manifests if d.ref_name is not None]

    def find(self, tag: str | None) -> Descriptor | None:
        """The descriptor tagged ``tag`` or with that digest (the first entry when
        ``tag`` is None), or None."""
        for desc in self.manifests:
            if tag is None or desc.ref_name == tag or str(desc.digest) == tag:
                return desc
        return None

    def with_tag(self, descriptor: Descriptor, tag: str) -> Index:
        """This index with ``tag`` pointing at ``descriptor`` (an older entry of that tag dropped)."""
        kept = self.without_tag(tag).manifests
        return dataclasses.replace(self, manifests=(*kept, descriptor.with_ref_name(tag)))

    def without_tag(self, tag: str) -> Index:
        return dataclasses.replace(self, manifests=tuple(d for d in self.manifests if d.ref_name != tag))


@dataclass(frozen=True)
class ImageConfig(_Document):
    """An image configuration; ``diff_ids`` are the digests of the layers' uncompressed tars."""

    diff_ids: tuple[Digest, ...]
    architecture: str = "amd64"
    os: str = "linux"
    config: Mapping[str, Any] | None = field(default=None, hash=False)  # the runtime config (Env, Cmd…)
    media_type: MediaType = mediatypes.OCI_CONFIG  # type: ignore[assignment]
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False)  # history, created, author…
    _media_types = mediatypes.CONFIG_TYPES

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "media_type", MediaType(self.media_type))
        set_(self, "diff_ids", tuple(d if isinstance(d, Digest) else Digest.parse(d) for d in self.diff_ids))
        set_(self, "config", None if self.config is None else _freeze(self.config))
        set_(self, "extra", _freeze(self.extra))

    @classmethod
    def new(cls, diff_ids: Iterable[Digest | str], architecture: str = "amd64",
            os: str = "linux") -> ImageConfig:
        parsed = tuple(d if isinstance(d, Digest) else Digest.parse(d) for d in diff_ids)
        return cls(diff_ids=parsed, architecture=architecture, os=os, config={})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "config") -> ImageConfig:
        rootfs = _need(data, "rootfs", dict, where)
        if rootfs.get("type") != "layers":
            raise ImageError(f"{where}: rootfs.type must be 'layers', got {rootfs.get('type')!r}")
        diff_ids = _need(rootfs, "diff_ids", list, f"{where}: rootfs")
        runtime = data.get("config")
        if runtime is not None and not isinstance(runtime, dict):
            raise ImageError(f"{where}: 'config' must be an object")
        try:
            parsed = tuple(Digest.parse(d) for d in diff_ids)
        except ImageError as exc:
            raise ImageError(f"{where}: rootfs.diff_ids: {exc}") from exc
        known = {"architecture", "os", "rootfs", "config", "mediaType"}
        return cls(diff_ids=parsed, architecture=_need(data, "architecture", str, where),
                   os=_need(data, "os", str, where), config=runtime,
                   extra={k: v for k, v in data.items() if k not in known})

    @classmethod
    def parse(cls, data: bytes, where: str | None = None,
              media_type: str = mediatypes.OCI_CONFIG) -> ImageConfig:
        """A config's media type lives in the manifest's descriptor, not in the JSON: pass it along."""
        parsed = super().parse(data, where)
        if media_type not in cls._media_types:
            raise ImageError(f"{where or 'config'}: media type {media_type!r} is not an image config type")
        object.__setattr__(parsed, "media_type", MediaType(media_type))
        return parsed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**_thaw(self.extra), "architecture": self.architecture, "os": self.os,
                               "rootfs": {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}}
        if self.config is not None:
            out["config"] = _thaw(self.config)
        return out

    def with_diff_ids(self, diff_ids: Iterable[Digest | str]) -> ImageConfig:
        """A config with these diff_ids; ``self`` (and so its original bytes) when they are the same."""
        new = tuple(d if isinstance(d, Digest) else Digest.parse(d) for d in diff_ids)
        return self if new == self.diff_ids else dataclasses.replace(self, diff_ids=new)


class _OwningGzip(gzip.GzipFile):
    """A GzipFile that closes the file it reads when it is closed (GzipFile leaves a passed one open)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__(fileobj=raw)
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def decompressing(raw: BinaryIO) -> BinaryIO:
    """``raw`` (seekable) decompressed by its magic bytes: gzip, zstd (all frames) or plain tar; closing
    the result closes ``raw``."""
    head = raw.read(4)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        return cast(BinaryIO, _OwningGzip(raw))  # a binary file; typeshed's is BufferedIOBase
    if head == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


@dataclass(frozen=True)
class Layer:
    """One layer: its descriptor (compressed blob), its diff_id, and how to open its bytes."""

    descriptor: Descriptor
    diff_id: Digest
    opener: Callable[[], BinaryIO] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.diff_id, str):
            object.__setattr__(self, "diff_id", Digest.parse(self.diff_id))

    digest = property(lambda self: self.descriptor.digest)
    size = property(lambda self: self.descriptor.size)
    media_type = property(lambda self: self.descriptor.media_type)
    annotations = property(lambda self: self.descriptor.annotations)
    compression = property(lambda self: self.descriptor.media_type.compression)

    def open_compressed(self) -> BinaryIO:
        if self.opener is None:
            raise ImageError(f"layer {self.digest}: no blob source attached")
        return self.opener()

    def open_uncompressed(self) -> BinaryIO:
        """The layer tar as a stream (the caller closes it); decompressed by magic bytes."""
        return decompressing(self.open_compressed())


@dataclass(frozen=True)
class Image:
    """A single-platform image: manifest, config and layers, checked to agree with each other."""

    manifest: Manifest
    config: ImageConfig
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if self.manifest.config.digest != self.config.digest:
            raise ImageError(f"manifest {self.manifest.digest}: config descriptor names "
                             f"{self.manifest.config.digest}, config bytes hash to {self.config.digest}")
        if tuple(layer.descriptor for layer in self.layers) != self.manifest.layers:
            raise ImageError(f"manifest {self.manifest.digest}: layers differ from the "
                             "manifest's descriptors")
        if tuple(layer.diff_id for layer in self.layers) != self.config.diff_ids:
            raise ImageError(f"manifest {self.manifest.digest}: {len(self.manifest.layers)} layers but "
                             f"config diff_ids {[str(d) for d in self.config.diff_ids]} do not match them")

    @classmethod
    def build(cls, config: ImageConfig, layers: Sequence[Layer],
              annotations: Mapping[str, str] | None = None) -> Image:
        """A new image of ``layers`` (config diff_ids replaced by the layers'), canonical manifest."""
        config = config.with_diff_ids(layer.diff_id for layer in layers)
        manifest = Manifest(config=config.descriptor(), layers=tuple(layer.descriptor for layer in layers),
                            annotations=annotations or _EMPTY)
        return cls(manifest, config, tuple(layers))

    @classmethod
    def from_parts(cls, manifest: Manifest, config: ImageConfig,
                   opener_for: Callable[[Descriptor], Callable[[], BinaryIO]] | None = None) -> Image:
        """Pair the manifest's layer descriptors with the config's diff_ids (``opener_for`` gives the
        blob source of each layer)."""
        if len(manifest.layers) != len(config.diff_ids):
            raise ImageError(f"manifest {manifest.digest}: {len(manifest.layers)} layers but "
                             f"{len(config.diff_ids)} diff_ids in the config")
        layers = tuple(Layer(desc, diff_id, opener_for(desc) if opener_for else None)
                       for desc, diff_id in zip(manifest.layers, config.diff_ids, strict=True))
        return cls(manifest, config, layers)

    @property
    def digest(self) -> Digest:
        return self.manifest.digest

    def descriptor(self, annotations: Mapping[str, str] | None = None) -> Descriptor:
        return self.manifest.descriptor(annotations)
