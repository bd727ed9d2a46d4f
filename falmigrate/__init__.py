"""falmigrate: move ML apps to fal and build fast-pulling FlashPack images."""

__version__ = "0.1.0"

__all__ = ["__version__"]
