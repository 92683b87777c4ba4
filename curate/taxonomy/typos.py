"""Typo-tolerant lookup of vocabulary words: one edit from six letters, two from nine.

A symmetric-deletion index (every vocabulary word with up to two letters deleted) finds the
candidates of a misspelt word in a few dictionary lookups; the true Damerau-Levenshtein
distance then confirms them. A correction is made only when the nearest vocabulary words
all mean the same thing ("jackett": jacket and jackets), and answers are memoised: retail titles
repeat their words.
"""

from __future__ import annotations

from typing import Hashable, Mapping


def _deletions(word: str, depth: int) -> set[str]:
    out = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (adjacent transpositions count one), capped at limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


class TypoIndex:
    """Corrects a word to the one vocabulary word within its allowed edit distance, if unique."""

    MIN_LENGTH = 6  # shorter words are too often other words ("shirt" / "short")
    TWO_EDITS_FROM = 9
    _MEMO_LIMIT = 200_000

    def __init__(self, vocabulary: Mapping[str, Hashable]):
        """vocabulary: word -> what it means; words meaning the same thing are one answer."""
        self._meaning = {w: m for w, m in vocabulary.items() if len(w) >= self.MIN_LENGTH - 1 and " " not in w}
        self._words = set(self._meaning)
        self._deleted: dict[str, set[str]] = {}
        for word in self._words:
            for key in _deletions(word, 2 if len(word) >= self.TWO_EDITS_FROM - 1 else 1):
                self._deleted.setdefault(key, set()).add(word)
        self.memo: dict[str, str | None] = {}

    @classmethod
    def allowed(cls, word: str) -> int:
        return 2 if len(word) >= cls.TWO_EDITS_FROM else 1

    def correct(self, word: str) -> str | None:
        if word in self.memo:
            return self.memo[word]
        found = None
        if len(word) >= self.MIN_LENGTH and word.isalpha():
            limit = self.allowed(word)
            candidates = set()
            for key in _deletions(word, limit):
                candidates |= self._deleted.get(key, set())
            scored = sorted((edit_distance(word, c, limit), c) for c in candidates)
            # the nearest words decide: they must all mean the same thing
            close = [c for d, c in scored if d <= limit and d == scored[0][0]]
            if close and len({self._meaning[c] for c in close}) == 1:
                found = close[0]
        if len(self.memo) >= self._MEMO_LIMIT:
            self.memo.clear()
        self.memo[word] = found
        return found
