"""The fashion taxonomy in memory: object types -> categories -> allowed styles, the pattern
vocabulary, the other attribute keys, synonyms, exclusions, declared homonyms and the term index.

`curate.taxonomy.load` reads and validates `taxonomy/fashion.yaml` into a `Taxonomy`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from curate.taxonomy.text import plural_variants

OBJECT_TYPES = ("upper-body", "lower-body", "full-body", "footwear")
PATTERN_KEY = "pattern"
STYLE_KEY = "style"


@dataclass(frozen=True)
class Sense:
    """One reading of a term: kind is category, object_type, garment (a garment of that object type
    that no category covers), style, pattern, attribute or exclusion."""

    kind: str
    value: str
    anywhere: bool = False  # exclusions only: exclude wherever the term stands


@dataclass(frozen=True)
class Category:
    name: str
    object_type: str
    synonyms: tuple[str, ...]
    styles: tuple[str, ...]


@dataclass(frozen=True)
class AttributeKey:
    name: str
    applies_to: tuple[str, ...]  # object types and/or categories
    values: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Exclusion:
    name: str
    head: tuple[str, ...]
    anywhere: tuple[str, ...]


@dataclass
class Taxonomy:
    name: str
    version: str
    path: Path
    sha256: str
    object_type_synonyms: dict[str, tuple[str, ...]]
    categories: dict[str, Category]
    styles: dict[str, tuple[str, ...]]
    patterns: dict[str, tuple[str, ...]]
    attributes: dict[str, AttributeKey]
    exclusions: dict[str, Exclusion]
    homonyms: dict[str, str]
    # object type -> garments no category covers ("kurta" is upper-body); a head noun of its own
    garments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # style terms that are everyday words: they never decide a category without a head noun
    common_words: frozenset[str] = frozenset()
    _terms: dict[str, tuple[Sense, ...]] | None = field(default=None, repr=False)

    @property
    def object_types(self) -> tuple[str, ...]:
        return tuple(self.object_type_synonyms)

    def categories_of(self, object_type: str) -> list[str]:
        return [c.name for c in self.categories.values() if c.object_type == object_type]

    def object_type_of(self, category: str) -> str:
        return self.categories[category].object_type

    def allows_style(self, category: str | None, style: str) -> bool:
        return category in self.categories and style in self.categories[category].styles

    def categories_with_style(self, style: str) -> list[str]:
        return [c.name for c in self.categories.values() if style in c.styles]

    def attribute_applies(self, key: str, category: str | None, object_type: str | None) -> bool:
        targets = self.attributes[key].applies_to
        return (category in targets) or (object_type in targets)

    def identity(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def terms(self) -> dict[str, tuple[Sense, ...]]:
        """Every normalised term (canonical names, synonyms, plurals) with its readings."""
        if self._terms is None:
            self._terms = build_term_index(self)
        return self._terms


def build_term_index(tax: Taxonomy) -> dict[str, tuple[Sense, ...]]:
    index: dict[str, list[Sense]] = defaultdict(list)

    def add(terms: Iterable[str], sense: Sense) -> None:
        for term in terms:
            for variant in plural_variants(term):
                if sense not in index[variant]:
                    index[variant].append(sense)

    for object_type, synonyms in tax.object_type_synonyms.items():
        add((object_type, *synonyms), Sense("object_type", object_type))
    for object_type, garments in tax.garments.items():
        add(garments, Sense("garment", object_type))
    for cat in tax.categories.values():
        add((cat.name, *cat.synonyms), Sense("category", cat.name))
    for style, synonyms in tax.styles.items():
        add((style, *synonyms), Sense("style", style))
    for pattern, synonyms in tax.patterns.items():
        add((pattern, *synonyms), Sense("pattern", pattern))
    for key in tax.attributes.values():
        for value, synonyms in key.values.items():
            add((value, *synonyms), Sense("attribute", f"{key.name}:{value}"))
    for excl in tax.exclusions.values():
        add(excl.head, Sense("exclusion", excl.name))
        add(excl.anywhere, Sense("exclusion", excl.name, anywhere=True))
    return {term: tuple(senses) for term, senses in index.items()}
