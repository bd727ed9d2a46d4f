"""The image variant of ``cog_io._falmigrate_upload``, for apps whose file outputs the importer typed
fal ``Image`` (``falmigrate.importers.cog.outputs``): every returned path becomes an Image, which is a
File too, so it also fits any File field of the same response.
"""

import mimetypes

from fal.toolkit import Image


def _falmigrate_upload(path):
    """A returned image file, uploaded: the response carries its URL and size (fal shows it as a picture)."""
    return Image.from_path(path, content_type=mimetypes.guess_type(path)[0])
