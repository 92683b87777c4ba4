"""One error type for bad input, which always says where, what was expected and what was found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the file, the row/key inside it, the field, and why."""

    file: str
    where: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        parts = [self.file]
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
        problem = Problem(str(file), where, field, message)
        return cls(str(problem), [problem])

    @classmethod
    def from_problems(cls, problems: list[Problem], limit: int = 20) -> "CurateError":
        shown = [str(p) for p in problems[:limit]]
        more = len(problems) - len(shown)
        head = f"{len(problems)} problem(s):\n  " if len(problems) > 1 else ""
        text = head + "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else "")
        return cls(text, problems)
