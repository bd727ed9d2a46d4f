"""Media types of OCI and Docker image objects; readers accept both families.

The constants are plain strings (they go into JSON and HTTP headers as they are); ``MediaType``
is a ``str`` that also answers what kind of object it names, so code asks ``media_type.is_index``
instead of repeating membership tests against the sets below.
"""

from __future__ import annotations

from typing import Self

from falmigrate.errors import ImageError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
LAYER_TYPES = frozenset({OCI_LAYER_TAR, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR})

# Accept header for manifest GETs: every manifest and index type we can read.
MANIFEST_ACCEPT = f"{OCI_INDEX}, {OCI_MANIFEST}, {DOCKER_MANIFEST_LIST}, {DOCKER_MANIFEST}"

# zstd:chunked annotations (containers/storage); both the old and the current prefix are read.
ZSTD_CHUNKED_MANIFEST_CHECKSUM = "io.github.containers.zstd-chunked.manifest-checksum"
ZSTD_CHUNKED_MANIFEST_POSITION = "io.github.containers.zstd-chunked.manifest-position"
ZSTD_CHUNKED_TARSPLIT_POSITION = "io.github.containers.zstd-chunked.tarsplit-position"
ZSTD_CHUNKED_MANIFEST_CHECKSUM_OLD = "io.containers.zstd-chunked.manifest-checksum"
ZSTD_CHUNKED_MANIFEST_POSITION_OLD = "io.containers.zstd-chunked.manifest-position"

# Our own: marks files a lazy puller should fetch first (from a startup profile).
FLASHPACK_PREFETCH = "dev.falmigrate.flashpack.prefetch-count"


def compression_of(media_type: str) -> str:
    """'gzip', 'zstd' or 'none' for a layer media type."""
    if media_type.endswith(("+gzip", ".tar.gzip")):
        return "gzip"
    if media_type.endswith("+zstd"):
        return "zstd"
    return "none"


_LAYER_COMPRESSION_SUFFIXES = {"gzip": ("+gzip", ".tar.gzip"), "zstd": ("+zstd",)}


class MediaType(str):
    """A media type string (``type/subtype``) that knows whether it names an index, manifest, config
    or layer, in either the OCI or the Docker family."""

    __slots__ = ()

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or value.count("/") != 1 or not all(value.split("/")):
            raise ImageError(f"not a media type: {value!r}",
                             hint="expected type/subtype, e.g. " + OCI_MANIFEST)
        return super().__new__(cls, value)

    @property
    def is_index(self) -> bool:
        return self in INDEX_TYPES

    @property
    def is_manifest(self) -> bool:
        return self in MANIFEST_TYPES

    @property
    def is_config(self) -> bool:
        return self in CONFIG_TYPES

    @property
    def is_layer(self) -> bool:
        return self in LAYER_TYPES

    @property
    def is_docker(self) -> bool:
        return self.startswith("application/vnd.docker.")

    @property
    def compression(self) -> str:
        """'gzip', 'zstd' or 'none' (for layer types)."""
        return compression_of(self)
