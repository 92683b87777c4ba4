"""A dataset folder holds generations behind one link, so a commit is one rename.

DATASET/
  current -> .generations/000004        the link every reader follows
  images.parquet -> current/images.parquet   stable names for people and other tools: also
  objects.parquet, dataset.yaml, media/, reports/, changes.parquet, ... each -> current/NAME
  .generations/000004/                  the files of the current generation
  .lock                                 held by the command writing the dataset (dataset.lock)
  .staging-<pid>-<random>/              the next generation, while a command builds it

A command builds the next generation in a staging folder inside the dataset, renames it into
.generations/ and replaces `current` with os.replace, so at every instant `current` names a
complete generation: the one before or the one after. Files a step does not change (media) are
hard links, so a generation costs little disk. The previous generation, and staging folders of
commands that died, are removed by the next command that takes the lock (`recover`).

A dataset written by an earlier version (its files directly in DATASET/) is generation 0 and
is read as it is. Its first commit links the new generation in as `current`, then replaces each
old top-level entry by its link: a file with one os.replace, a folder moved aside first. A
command killed half-way through is completed by the next one; readers follow `current` all along.

CURATE_STORE_FAULT=<point> kills the process with SIGKILL at that point of a commit, and
CURATE_STORE_FAULT=<point>:pause=SECONDS sleeps there instead (the crash and concurrency tests
use them); nothing else reads it. The points, in order: staged, renamed, swapped, settling.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from curate.dataset.layout import (
    COMMIT_FILE,
    CURRENT,
    GENERATIONS,
    LINK_PREFIX,
    STAGING_PREFIX,
    TRASH_PREFIX,
    Snapshot,
    absolute,
    changed_since_read,
    check_target,
    current_snapshot,
    is_internal,
    leftovers,
    listdir,
    not_a_dataset,
    target_state,
    user_entries,
)
from curate.dataset.lock import command_name, dataset_lock, holds_lock, release, try_lock
from curate.dataset.schema import IMAGES_FILE, META_FILE, OBJECTS_FILE
from curate.errors import CurateError, display

# Every generation has these folders, so their top-level links always lead somewhere.
ALWAYS = ("media", "reports")
FAULT_ENV = "CURATE_STORE_FAULT"
FAULT_POINTS = ("staged", "renamed", "swapped", "settling")


def fault(point: str) -> None:
    """Die (or pause) here when the crash tests ask for this point."""
    name, _, option = os.environ.get(FAULT_ENV, "").partition(":")
    if name != point:
        return
    if option.startswith("pause="):
        time.sleep(float(option[len("pause="):]))
        return
    os.kill(os.getpid(), signal.SIGKILL)


def remove_path(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Recovery


def recover(path: str | Path) -> list[str]:
    """Complete or remove what interrupted commands left; the caller holds the lock.

    Returns one line per thing removed.
    """
    path = absolute(path)
    done = []
    snap = current_snapshot(path)
    for item in leftovers(path):
        if item.kind in ("old-staging", "old-previous") and snap is None:
            continue  # maybe the only copy of the dataset: the not-a-dataset error says where it is
        remove_path(item.path)
        done.append(f"removed {item.describe()}")
    if snap is not None and snap.generation > 0:
        settle(path, snap, convert=(path / IMAGES_FILE).is_file() and not (path / IMAGES_FILE).is_symlink())
    return done


def recover_if_idle(path: str | Path) -> list[str]:
    """`recover` when no command is writing the dataset (for readers such as `curate info`)."""
    path = absolute(path)
    if not path.is_dir() or holds_lock(path) or not leftovers(path):
        return []
    try:
        fd = try_lock(path)
    except CurateError:
        return []  # a read-only copy: nothing can be removed there anyway
    if fd is None:
        return []
    try:
        return recover(path)
    finally:
        release(fd)


def _link(path: Path, name: str, target: str) -> None:
    """path/name becomes a link to target in one rename (over a file or an older link)."""
    tmp = path / f"{LINK_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    os.symlink(target, tmp)
    os.replace(tmp, path / name)


def settle(path: Path, snap: Snapshot, convert: bool = False) -> None:
    """Link every entry of the current generation at the top level; remove other generations.

    With `convert` (the first commit over the single-folder layout) every other old top-level
    entry belonged to the old dataset too, and goes.
    """
    names = [n for n in listdir(snap.root) if not n.startswith(".")]
    trash = path / f"{TRASH_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
    for name in names:
        top = path / name
        want = f"{CURRENT}/{name}"
        if top.is_symlink() and os.readlink(top) == want:
            continue
        if top.is_dir() and not top.is_symlink():
            trash.mkdir(exist_ok=True)
            os.replace(top, trash / name)
            fault("settling")
        _link(path, name, want)
    for name in listdir(path):
        top = path / name
        if is_internal(name) or name in names:
            continue
        if top.is_symlink() and os.readlink(top).startswith(f"{CURRENT}/"):
            top.unlink()  # an entry the current generation no longer has
        elif convert:
            trash.mkdir(exist_ok=True)
            os.replace(top, trash / name)
    remove_path(trash)
    for name in listdir(path / GENERATIONS):
        if name != snap.root.name:
            remove_path(path / GENERATIONS / name)


# ---------------------------------------------------------------------------------------------
# Writing a generation


def link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def link_tree(source: Path, target: Path) -> None:
    """Hard links of a file, or of every file under a folder (copies across file systems)."""
    if source.is_dir():
        shutil.copytree(source, target, copy_function=link_or_copy, dirs_exist_ok=True, symlinks=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        link_or_copy(source, target)


def carry_entries(source: Snapshot, stage: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Hard-link every entry of a generation but the tables, dataset.yaml and `skip` into `stage`."""
    carried = []
    for name in listdir(source.root):
        if is_internal(name) or name.startswith(".") or name in (IMAGES_FILE, OBJECTS_FILE, META_FILE, *skip):
            continue
        if source.root == source.path and (source.path / name).is_symlink():
            continue
        link_tree(source.root / name, stage / name)
        carried.append(name)
    return carried


@dataclass
class Stage:
    """The next generation being built: write its files into `path`; `base` is what it replaces."""

    path: Path
    dataset: Path
    base: Snapshot | None
    command: str | None
    carried: list[str] = field(default_factory=list)
    adopted: bool = False  # the base is a plain folder becoming a dataset (its files are kept)

    def carry(self, skip: tuple[str, ...] = ()) -> None:
        """Hard-link what the base generation has but the tables and dataset.yaml."""
        if self.base is not None:
            self.carried += carry_entries(self.base, self.path, skip)


def _make_folder(path: Path) -> bool:
    """Create the dataset folder (and its parents); True when this call created it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
        return True
    except FileExistsError:
        return False
    except PermissionError as exc:
        blocked = Path(exc.filename).parent if exc.filename else path.parent
        raise CurateError.at(path, f"cannot create the dataset folder: permission denied in {display(blocked)}") from None
    except OSError as exc:
        raise CurateError.at(path, f"cannot create the dataset folder: {exc.strerror}") from None


def _new_stage(path: Path) -> Path:
    stage = path / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        stage.mkdir()
        for name in ALWAYS:
            (stage / name).mkdir()
    except OSError as exc:
        raise CurateError.at(path, f"cannot write in the dataset folder: {exc.strerror}") from None
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)
    return stage


@contextmanager
def write_generation(
    path: str | Path,
    *,
    fresh: bool,
    overwrite: bool = True,
    expect_generation: int | None = None,
    command: str | None = None,
    on_recover: Callable[[str], None] | None = None,
    adopt: bool = False,
) -> Iterator[Stage]:
    """Build the next generation of `path` in a staging folder; make it current on success.

    fresh=True starts empty (import, build): the dataset is created when absent, and an
    existing one is replaced only with `overwrite`. fresh=False needs an existing dataset, and
    the block carries what it keeps (`stage.carry()`). With `adopt`, a folder that is not a
    dataset yet (media written first, tables last) becomes one: its files are the base, carried
    into the first generation. If the block raises, nothing changes, and a folder this call
    created is removed again.
    """
    path = absolute(path)
    command = command or command_name()
    state = target_state(path)
    adopting = adopt and state == "other" and path.is_dir()
    if fresh and not adopting:
        check_target(path, overwrite=overwrite)
    if not fresh and state != "dataset":
        raise not_a_dataset(path)
    created = _make_folder(path) if state == "absent" else False
    try:
        with dataset_lock(path, command):
            try:
                for line in recover(path):
                    (on_recover or (lambda _line: None))(line)
                if fresh and not adopting:
                    check_target(path, overwrite=overwrite)  # again: now no other writer can change it
                base = current_snapshot(path)
                if base is None and not fresh:
                    raise not_a_dataset(path)
                if expect_generation is not None and (base.generation if base else None) != expect_generation:
                    raise changed_since_read(path, expect_generation, base)
                if adopting and base is None:
                    stage = Stage(_new_stage(path), path, Snapshot(path, path, 0), command, adopted=True)
                else:
                    stage = Stage(_new_stage(path), path, base, command)
                try:
                    yield stage
                    _commit(stage)
                finally:
                    remove_path(stage.path)
            except BaseException:
                if current_snapshot(path) is None:
                    _undo_creation(path, remove_folder=created or state == "unfinished")
                raise
    except BaseException:
        if created and path.is_dir() and not os.listdir(path):
            path.rmdir()
        raise


def _undo_creation(path: Path, remove_folder: bool) -> None:
    """Leave no trace of a dataset never completed: its folder when this command made it, else
    only curate's own files (an empty folder the user gave stays, empty)."""
    if user_entries(path):
        return
    for name in listdir(path):
        remove_path(path / name)
    if remove_folder:
        try:
            path.rmdir()
        except OSError:
            pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _commit(stage: Stage) -> None:
    path, base = stage.dataset, stage.base
    now = current_snapshot(path)
    if (now.root if now else None) != (base.root if base and not stage.adopted else None):
        raise changed_since_read(path, base.generation if base and not stage.adopted else None, now)
    number = max([int(n) for n in listdir(path / GENERATIONS) if n.isdigit()] + [now.generation if now else 0]) + 1
    (path / GENERATIONS).mkdir(exist_ok=True)
    (stage.path / COMMIT_FILE).write_text(json.dumps({"generation": number, "command": stage.command, "pid": os.getpid(), "at": time.time()}))
    fault("staged")
    target = path / GENERATIONS / f"{number:06d}"
    os.rename(stage.path, target)
    stage.path = target  # until `current` names it, a failure removes it
    fault("renamed")
    trash = None
    if (path / CURRENT).is_dir() and not (path / CURRENT).is_symlink():
        # a copy made with links followed: its `current` is a folder, which a link cannot replace
        trash = path / f"{TRASH_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        trash.mkdir()
        os.replace(path / CURRENT, trash / CURRENT)
    _link(path, CURRENT, f"{GENERATIONS}/{target.name}")  # the swap: one rename
    stage.path = path / f"{STAGING_PREFIX}committed"  # nothing of ours is left to remove
    _fsync_dir(path)
    if trash is not None:
        remove_path(trash)
    fault("swapped")
    settle(path, Snapshot(path, target, number), convert=base is not None and base.generation == 0)
