"""Stand-ins for cog names that have no fal equivalent, defined in the converted module itself: cog is
not installed in the fal image, so importing them would fail at startup. Each does what cog's own
version does outside a cog prediction (record nothing); every use keeps a ``TODO(falmigrate FM109)``.

Copied by ``falmigrate.render.snippets``; ``record_metric`` is inserted as a method of the app class.
"""

__version__ = "unknown"  # cog's version; cog is not installed in the fal image


class ExperimentalFeatureWarning(Warning):
    """Stand-in for cog's warning category, so warnings filters keep working."""


class _FalmigrateMetrics(dict):
    """Stand-in for a cog scope's ``metrics``: values are kept for the request's code, never reported."""

    def record(self, key, value, mode="replace"):
        return None


class _FalmigrateScope:
    """Stand-in for cog's prediction scope: metrics are accepted and dropped."""

    def __init__(self):
        self.metrics = _FalmigrateMetrics()

    def record_metric(self, key, value, mode="replace"):
        return None


def current_scope():
    """Stand-in for cog's current_scope(): fal keeps no per-prediction metrics."""
    return _FalmigrateScope()


def emit_metric(name, value):
    """Stand-in for cog's emit_metric: fal keeps no per-prediction metrics, so this does nothing."""


def record_metric(self, key, value, mode="replace"):
    """Stand-in for cog's BaseRunner.record_metric: fal keeps no per-prediction metrics."""
