"""``python -m falmigrate.rules [--markdown | --json | --platform NAME]``: same as ``falmigrate rules``."""

import sys

from falmigrate.cli.app import app

app(["rules", *sys.argv[1:]], prog_name="falmigrate rules")
