"""One writer per dataset: an OS advisory lock on DATASET/.lock, held for a whole command.

flock(2) locks belong to the open file: the kernel drops them when the process exits, however
it exits (kill -9 included), so a crashed writer never leaves a dataset locked. Forked workers
close their copy of the descriptor (os.register_at_fork), so a pool that outlives its parent
cannot keep the lock either. The holder writes its pid, command and start time into the file;
a second writer is told "locked by pid N (curate autobox, since HH:MM:SS)" and fails at once,
or waits up to CURATE_LOCK_WAIT seconds. Within one process the lock is re-entrant.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from curate.errors import CurateError, display

LOCK_FILE = ".lock"
LOCK_WAIT_ENV = "CURATE_LOCK_WAIT"


@dataclass
class _Held:
    fd: int
    count: int = 1


_HELD: dict[str, _Held] = {}


def _close_in_child() -> None:
    for held in _HELD.values():
        try:
            os.close(held.fd)
        except OSError:
            pass
    _HELD.clear()


os.register_at_fork(after_in_child=_close_in_child)


def command_name() -> str:
    """The running command as a person typed it: 'curate autobox'."""
    argv = sys.argv or ["python"]
    words = [Path(argv[0]).name] + [a for a in argv[1:2] if not a.startswith("-")]
    return " ".join(words)


def holder(path: str | Path) -> str:
    """'locked by pid N (curate autobox, since HH:MM:SS)' from the lock file's contents."""
    try:
        info = json.loads((Path(path) / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "locked by another process"
    since = _dt.datetime.fromtimestamp(float(info.get("since", 0))).strftime("%H:%M:%S")
    return f"locked by pid {info['pid']} ({info.get('command') or 'curate'}, since {since})"


def holds_lock(path: str | Path) -> bool:
    """True when this process holds the dataset's lock."""
    return os.path.realpath(path) in _HELD


def lock_wait_seconds() -> float:
    raw = os.environ.get(LOCK_WAIT_ENV) or "0"
    try:
        value = float(raw)
    except ValueError:
        raise CurateError(f"{LOCK_WAIT_ENV} must be a number of seconds, found '{raw}'") from None
    return max(0.0, value)


def try_lock(path: str | Path, command: str | None = None) -> int | None:
    """Take the lock without waiting: the locked descriptor, or None when another process holds it."""
    lock_path = Path(path) / LOCK_FILE
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            raise CurateError.at(path, "not a dataset: no such folder") from None
        except NotADirectoryError:
            raise CurateError.at(path, "not a dataset: it is a file") from None
        except OSError as exc:
            raise CurateError.at(lock_path, f"cannot open the dataset's lock file: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:  # a holder that finished may have removed the file: the lock must be on the one at the path
            same = os.fstat(fd).st_ino == os.stat(lock_path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            info = json.dumps({"pid": os.getpid(), "command": command or command_name(), "since": time.time()})
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
            return fd
        os.close(fd)


def lock_status(path: str | Path) -> str | None:
    """Who holds the dataset's lock now ("locked by pid N (...)"), or None when nobody does."""
    if holds_lock(path):
        return f"locked by this process (pid {os.getpid()})"
    if not (Path(path) / LOCK_FILE).exists():
        return None
    try:
        fd = try_lock(path)
    except CurateError:
        return None  # cannot even open the lock file (read-only copy): nobody can write there
    if fd is None:
        return holder(path)
    release(fd)
    return None


def release(fd: int) -> None:
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _note(message: str) -> None:
    sys.stderr.write(f"note: {message}\n")
    sys.stderr.flush()


@contextmanager
def dataset_lock(path: str | Path, command: str | None = None, *, wait: float | None = None, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the dataset's lock for the block (the folder must exist)."""
    key = os.path.realpath(path)
    if key in _HELD:
        _HELD[key].count += 1
        try:
            yield
        finally:
            _HELD[key].count -= 1
        return
    wait = lock_wait_seconds() if wait is None else wait
    deadline = time.monotonic() + wait
    told = False
    while (fd := try_lock(path, command)) is None:
        who = holder(path)
        if time.monotonic() >= deadline:
            advice = f"gave up after waiting {wait:g} s" if wait else f"try again when it has finished, or set {LOCK_WAIT_ENV}=SECONDS to wait for it"
            raise CurateError.at(display(path), f"{who}; {advice}")
        if not told:
            (on_wait or _note)(f"{display(path)} is {who}; waiting up to {wait:g} s")
            told = True
        time.sleep(0.1)
    _HELD[key] = _Held(fd)
    try:
        yield
    finally:
        del _HELD[key]
        release(fd)
