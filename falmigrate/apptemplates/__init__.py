"""Code that goes into generated apps, kept as real Python modules (ruff-checked, imported by tests).

A codemod never writes helper code from strings: it asks ``falmigrate.render.snippets.emit(module,
names)`` for the top-level definitions it uses from one of these modules, and gets their source plus
exactly the imports they need. Every definition here must work when copied alone into a user's
module: it may use its module's imports and other top-level definitions of the same module (which
``emit`` then copies too), never anything of falmigrate.
"""
