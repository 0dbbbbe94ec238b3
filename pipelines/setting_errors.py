"""The error of a refused setting, and the path check every path setting shares: a module of its own so that the
modules that parse a setting (pipelines/settings.py, pipelines/data_locations.py) need not import each other."""

from __future__ import annotations

from pathlib import Path


class SettingsError(ValueError):
    """An environment setting is invalid; the message names the variable and the expected form."""


def looked_up(path: Path, variable: str) -> Path:
    """`path`, or SettingsError naming `variable` when the file system cannot even look it up (a name longer
    than it allows: a token pasted as the path?), without showing the path."""
    try:
        path.exists()
    except OSError as error:
        raise SettingsError(f"{variable} names a path the file system cannot look up ({error.strerror or error}); "
                            "give another path (the value is not shown)") from None
    return path
