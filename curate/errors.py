"""One error type for bad input, which always says where, what was expected and what was found."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def display(path: str | os.PathLike) -> str:
    """A path as text that can always be printed and stored: bytes of a file name that are not
    UTF-8 (kept by Python as surrogates) are shown as \\xNN escapes."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the file, the row/key inside it, the field, and why."""

    file: str
    where: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = [display(self.file)]
        if self.where:
            parts.append(self.where)
        if self.field:
            parts.append(f"field '{self.field}'")
        return f"{': '.join(parts)}: {self.message}"


class CurateError(Exception):
    """Bad input or a failed step; the CLI prints it as one line and exits non-zero."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])

    @classmethod
    def at(cls, file: str | Path, message: str, where: str | None = None, field: str | None = None):
        problem = Problem(display(file), where, field, message)
        return cls(str(problem), [problem])

    @classmethod
    def from_problems(cls, problems: list[Problem], limit: int = 20) -> "CurateError":
        shown = [str(p) for p in problems[:limit]]
        more = len(problems) - len(shown)
        head = f"{len(problems)} problem(s):\n  " if len(problems) > 1 else ""
        text = head + "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")
        return cls(text, problems)
