"""Where a command's output file may never go: the pipeline's data (warehouse, lake, raw zone and everything else in
PINTEREST_ETL_HOME), Dagster's instance, token and accounts files, `.env` files.

Used by `pinterest-etl sql --csv/--parquet` and `pinterest-etl report --output`; both refuse such a path before they
write anything, whatever symlink, relative path, hard link or bind mount leads there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pipelines import settings
from pipelines.data_locations import data_locations


class OutputRefusedError(ValueError):
    """An output file would be written where the pipeline keeps its data or secrets, onto something that is not a
    plain file, or (without --force) onto an existing file; the message names it and what to do instead."""


def resolved_output(given: str | Path) -> Path:
    """`given` with every symlink followed (so a link to the warehouse is seen as the warehouse); a path that loops
    through symlinks is refused, as nothing can be written there."""
    try:
        return Path(given).resolve()
    except (RuntimeError, OSError) as error:  # Python 3.11 raises RuntimeError for a symlink loop
        raise OutputRefusedError(f"refusing to write {given}: its path cannot be followed ({error}); give another "
                                 "file name") from None


def refuse_protected(given: str, real: Path, home: Path, env: Mapping[str, str],
                     reports_in_home: bool = False) -> None:
    """Refuse a path the pipeline owns: its data directory, DAGSTER_HOME, its secrets, a `.env` file. Folders are
    compared by device and inode as well as by name, so neither a symlink nor a bind mount of the lake leads in.
    `real` is `given` resolved. With `reports_in_home`, an `.html` file directly in the data directory (where the
    report goes by default) is allowed; its folders (lake, raw zone, credentials, tmp...) and other files never are."""
    from pipelines.accounts import load_accounts

    home = home.resolve()
    warehouse = [home / "warehouse.duckdb", home / "warehouse.duckdb.wal"]
    if real in warehouse or any(same_file(real, f) for f in warehouse):
        raise OutputRefusedError(f"refusing to write {given}: it is the warehouse ({real}); give another file name")
    locations = data_locations(home, env)
    folders = {"lake": locations.lake, "raw zone": locations.raw, "default lake": home / "lake",
               "default raw zone": home / "raw",
               "data directory (PINTEREST_ETL_HOME: warehouse, lake, raw zone, credentials, run lock)": home,
               "Dagster instance (DAGSTER_HOME)": Path(env.get("DAGSTER_HOME") or settings.DEFAULT_DAGSTER_HOME)}
    if reports_in_home and _report_beside_the_warehouse(real, home):
        del folders["data directory (PINTEREST_ETL_HOME: warehouse, lake, raw zone, credentials, run lock)"]
    existing = [folder for folder in (real, *real.parents) if folder.exists()]  # the file, if there, and its folders
    for zone, folder in folders.items():
        if real.is_relative_to(folder.resolve()) or any(same_file(f, folder) for f in existing):
            raise OutputRefusedError(f"refusing to write {given}: it is inside the {zone} ({folder}), which only "
                                     "the pipeline writes; give a file outside it")
    if real.name == ".env" or same_file(real, Path(".env")):
        raise OutputRefusedError(f"refusing to write {given}: it is a .env file, which may hold tokens; give another "
                                 "file name")
    secrets = {"the token file": settings.token_file_path(env)}
    if env.get("PINTEREST_ACCOUNTS_FILE"):
        secrets["the accounts file (PINTEREST_ACCOUNTS_FILE)"] = Path(env["PINTEREST_ACCOUNTS_FILE"])
    try:
        accounts = load_accounts(env)
    except settings.SettingsError:  # an accounts file that cannot be read names no token file; queries need none
        accounts = []
    secrets.update({f"the token file of {a.describe()}": a.token_file_path(env) for a in accounts})
    for what, path in secrets.items():
        if real == path.resolve() or same_file(real, path):
            raise OutputRefusedError(f"refusing to write {given}: it is {what}; give another file name")


def _report_beside_the_warehouse(real: Path, home: Path) -> bool:
    """Whether `real` is an `.html` file directly in the data directory (by name or, for a folder reached by a bind
    mount, by inode)."""
    return real.suffix.lower() == ".html" and (real.parent == home or same_file(real.parent, home))


def mode_without_following(path: str | Path) -> int | None:
    """The file type and mode of the path itself (a symlink is a symlink), None when nothing is there (nor can be:
    a part of the path is a file)."""
    try:
        return os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


def same_file(a: Path, b: Path) -> bool:
    """Whether both paths name one file (a hard link included)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
