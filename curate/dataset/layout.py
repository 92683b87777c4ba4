"""What is in a dataset folder: which generation is current, what an interrupted command left,
and whether an output path may receive a new dataset (curate.dataset.generations explains the
layout)."""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path

from curate.dataset.lock import LOCK_FILE
from curate.dataset.schema import IMAGES_FILE, OBJECTS_FILE
from curate.errors import CurateError, display

CURRENT = "current"
GENERATIONS = ".generations"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
LINK_PREFIX = ".link-"
COMMIT_FILE = ".commit.json"


def is_internal(name: str) -> bool:
    """curate's own entries in a dataset folder (never a user's file, never linked or carried)."""
    return name in (CURRENT, GENERATIONS, LOCK_FILE) or name.startswith((STAGING_PREFIX, TRASH_PREFIX, LINK_PREFIX))


def absolute(path: str | Path) -> Path:
    """The path made absolute without resolving links: the dataset as the user names it."""
    return Path(os.path.abspath(os.fspath(path)))


def listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def user_entries(path: Path) -> list[str]:
    return [n for n in listdir(path) if not is_internal(n)]


@dataclass(frozen=True)
class Snapshot:
    """One generation: `root` holds its files, `path` is the dataset as named."""

    path: Path
    root: Path
    generation: int


def current_snapshot(path: str | Path) -> Snapshot | None:
    """The generation `current` names; a dataset in the single-folder layout (generation 0); or None."""
    path = absolute(path)
    try:
        target = os.readlink(path / CURRENT)
    except (FileNotFoundError, NotADirectoryError):
        target = None
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: `current` is a folder (a copy made with links followed)
            raise CurateError.at(path, f"cannot read the dataset: {exc.strerror}") from None
        target = None
    if target is not None:
        parts = Path(target).parts
        if len(parts) != 2 or parts[0] != GENERATIONS or not parts[1].isdigit():
            raise CurateError.at(path / CURRENT, f"expected a link to {GENERATIONS}/NNNNNN, found a link to '{target}'")
        return Snapshot(path, path / GENERATIONS / parts[1], int(parts[1]))
    if (path / IMAGES_FILE).is_file() and (path / OBJECTS_FILE).is_file():
        return Snapshot(path, path, 0)
    return None


def commit_info(snapshot: Snapshot) -> dict:
    """Who wrote a generation and when ({} for the single-folder layout)."""
    try:
        return json.loads((snapshot.root / COMMIT_FILE).read_text())
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------------------------
# What interrupted commands leave


@dataclass(frozen=True)
class Leftover:
    path: Path
    kind: str  # staging | generation | trash | link | old-staging | old-previous

    def describe(self) -> str:
        what = {
            "staging": "staging folder of an interrupted command",
            "generation": "generation that is not current",
            "trash": "files replaced by the conversion to generations",
            "link": "temporary link",
            "old-staging": "staging folder left by an earlier curate version",
            "old-previous": "dataset moved aside by an earlier curate version",
        }[self.kind]
        return f"{display(self.path)} ({what})"


def leftovers(path: str | Path) -> list[Leftover]:
    """Staging folders, stale generations and the like: in the dataset, and beside it (earlier versions)."""
    path = absolute(path)
    try:
        snap = current_snapshot(path)
    except CurateError:
        snap = None
    found = []
    for name in listdir(path):
        for prefix, kind in ((STAGING_PREFIX, "staging"), (TRASH_PREFIX, "trash"), (LINK_PREFIX, "link")):
            if name.startswith(prefix):
                found.append(Leftover(path / name, kind))
    for name in listdir(path / GENERATIONS):
        if snap is None or snap.root.name != name:
            found.append(Leftover(path / GENERATIONS / name, "generation"))
    for name in listdir(path.parent):
        if name.startswith(f".{path.name}.staging-"):
            found.append(Leftover(path.parent / name, "old-staging"))
        elif name.startswith(f".{path.name}.previous-"):
            found.append(Leftover(path.parent / name, "old-previous"))
    return found


# ---------------------------------------------------------------------------------------------
# What is at an output path


def target_state(path: str | Path) -> str:
    """absent | empty | unfinished (only curate's own files) | dataset | file | other."""
    path = absolute(path)
    if not path.exists():
        return "other" if path.is_symlink() else "absent"
    if not path.is_dir():
        return "file"
    try:
        names = os.listdir(path)
    except OSError as exc:
        raise CurateError.at(path, f"cannot list the folder: {exc.strerror}") from None
    if current_snapshot(path) is not None:
        return "dataset"
    if not names:
        return "empty"
    return "unfinished" if all(is_internal(n) for n in names) else "other"


def _contents(path: Path, limit: int = 3) -> str:
    names = user_entries(path)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_target(path: str | Path, *, overwrite: bool, option: str = "--out") -> str:
    """Refuse an output whose contents a new dataset would destroy; returns what is there."""
    path = absolute(path)
    state = target_state(path)
    if state == "file":
        raise CurateError.at(path, f"{option} is a file, not a dataset folder: give a new or empty folder (the file is left as it is)")
    if state == "other":
        if path.is_symlink() and not path.exists():
            raise CurateError.at(path, f"{option} is a broken link: give a new or empty folder")
        raise CurateError.at(path, f"{option} exists and is not a curate dataset (it holds {_contents(path)}): give a new or empty folder; nothing in it is replaced")
    if state == "dataset" and not overwrite:
        raise CurateError.at(path, f"{option} is an existing curate dataset: add --overwrite to replace it")
    return state


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def check_not_input(out: str | Path, inputs: list[str | Path], option: str = "--out") -> None:
    """Refuse an output that is an input, lies inside one or holds one."""
    target = os.path.realpath(out)
    for item in inputs:
        source = os.path.realpath(item)
        if target == source:
            raise CurateError.at(out, f"{option} is the input {display(item)}: write the dataset somewhere else")
        if _inside(target, source):
            raise CurateError.at(out, f"{option} lies inside the input {display(item)}: write the dataset somewhere else")
        if _inside(source, target):
            raise CurateError.at(out, f"{option} holds the input {display(item)}: write the dataset somewhere else")


def not_a_dataset(path: str | Path) -> CurateError:
    path = absolute(path)
    state = target_state(path)
    detail = {
        "absent": "no such folder",
        "file": "it is a file",
        "empty": "the folder is empty",
        "unfinished": "it holds only what an interrupted command left (the next command that writes there removes it)",
    }.get(state, f"expected {IMAGES_FILE} and {OBJECTS_FILE} in this folder")
    old = [item for item in leftovers(path) if item.kind == "old-previous"]
    if old and state != "dataset":
        detail += f"; an earlier curate version left the dataset at {display(old[0].path)}: move it back to {display(path)}"
    return CurateError.at(path, f"not a dataset: {detail}")


def changed_since_read(path: Path, expected: int | None, now: Snapshot | None) -> CurateError:
    was = f"generation {expected}" if expected is not None else "no dataset"
    info = commit_info(now) if now else {}
    by = f" written by {info['command']} (pid {info.get('pid')})" if info.get("command") else ""
    is_now = f"generation {now.generation}{by}" if now else "no dataset"
    return CurateError.at(path, f"the dataset changed since it was read ({was}, now {is_now}); nothing was written: read it again and redo the change")
