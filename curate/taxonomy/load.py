"""Loading and validating the taxonomy file: every problem in one pass, with file and key.

`taxonomy/fashion.yaml` holds object types -> categories -> allowed styles, the pattern
vocabulary, the other attribute keys, synonyms, exclusions and declared homonyms. Checks:
unknown keys, styles attached to no or unknown categories, duplicate synonyms, synonym cycles
and undeclared homonyms.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from curate.errors import CurateError, Problem
from curate.recipes import read_yaml
from curate.resources import taxonomy_dir
from curate.taxonomy.model import OBJECT_TYPES, PATTERN_KEY, STYLE_KEY, AttributeKey, Category, Exclusion, Taxonomy
from curate.taxonomy.text import normalise_text, plural_variants

DEFAULT_TAXONOMY_PATH = taxonomy_dir() / "fashion.yaml"


class ProblemCollector:
    """Collects every problem in one file instead of stopping at the first."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[Problem] = []

    def add(self, key: str, message: str, field_name: str | None = None) -> None:
        self.problems.append(Problem(str(self.path), key, field_name, message))

    def mapping(self, value: Any, key: str, allowed: set[str] | None = None) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(key, f"expected a mapping, found {type(value).__name__}")
            return {}
        if allowed is not None:
            for unknown in sorted(set(map(str, value)) - allowed):
                self.add(key, f"unknown key '{unknown}' (allowed: {', '.join(sorted(allowed))})")
        return value

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(key, "expected a list of strings")
            return ()
        return tuple(value)


_TOP_KEYS = {"name", "version", "object_types", "styles", "patterns", "attributes", "exclusions", "homonyms", "common_words"}


def _parse_taxonomy(path: Path) -> tuple[Taxonomy, list[Problem]]:
    raw = read_yaml(path)
    check = ProblemCollector(path)
    doc = check.mapping(raw, "(top level)", _TOP_KEYS)
    for required in ("name", "version", "object_types"):
        if required not in doc:
            check.add("(top level)", f"missing required key '{required}'")

    object_type_synonyms: dict[str, tuple[str, ...]] = {}
    garments: dict[str, tuple[str, ...]] = {}
    categories: dict[str, Category] = {}
    for ot_name, ot in check.mapping(doc.get("object_types"), "object_types").items():
        key = f"object_types.{ot_name}"
        if ot_name not in OBJECT_TYPES:
            check.add(key, f"unknown object type (expected one of {', '.join(OBJECT_TYPES)})")
        ot = check.mapping(ot, key, {"synonyms", "garments", "categories"})
        object_type_synonyms[ot_name] = check.strings(ot.get("synonyms"), f"{key}.synonyms")
        garments[ot_name] = check.strings(ot.get("garments"), f"{key}.garments")
        for cat_name, cat in check.mapping(ot.get("categories"), f"{key}.categories").items():
            ckey = f"{key}.categories.{cat_name}"
            cat = check.mapping(cat, ckey, {"synonyms", "styles"})
            if cat_name in categories:
                check.add(ckey, f"category already defined under {categories[cat_name].object_type}")
            categories[cat_name] = Category(
                cat_name,
                ot_name,
                check.strings(cat.get("synonyms"), f"{ckey}.synonyms"),
                check.strings(cat.get("styles"), f"{ckey}.styles"),
            )

    def vocabulary(section: Any, key: str) -> dict[str, tuple[str, ...]]:
        return {str(v): check.strings(s, f"{key}.{v}") for v, s in check.mapping(section, key).items()}

    styles = vocabulary(doc.get("styles"), "styles")
    patterns = vocabulary(doc.get("patterns"), "patterns")

    attributes: dict[str, AttributeKey] = {}
    for attr_name, attr in check.mapping(doc.get("attributes"), "attributes").items():
        akey = f"attributes.{attr_name}"
        attr = check.mapping(attr, akey, {"applies_to", "values"})
        if attr_name in (PATTERN_KEY, STYLE_KEY):
            check.add(akey, f"'{attr_name}' has its own section and cannot be an attribute key")
        attributes[attr_name] = AttributeKey(
            attr_name,
            check.strings(attr.get("applies_to"), f"{akey}.applies_to"),
            vocabulary(attr.get("values"), f"{akey}.values"),
        )

    exclusions: dict[str, Exclusion] = {}
    for ex_name, ex in check.mapping(doc.get("exclusions"), "exclusions").items():
        ekey = f"exclusions.{ex_name}"
        ex = check.mapping(ex, ekey, {"head", "anywhere"})
        exclusions[ex_name] = Exclusion(
            ex_name, check.strings(ex.get("head"), f"{ekey}.head"), check.strings(ex.get("anywhere"), f"{ekey}.anywhere")
        )

    homonyms = {str(k): str(v) for k, v in check.mapping(doc.get("homonyms"), "homonyms").items()}
    tax = Taxonomy(
        name=str(doc.get("name", "")),
        version=str(doc.get("version", "")),
        path=Path(path),
        sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        object_type_synonyms=object_type_synonyms,
        categories=categories,
        styles=styles,
        patterns=patterns,
        attributes=attributes,
        exclusions=exclusions,
        homonyms=homonyms,
        garments=garments,
        common_words=frozenset(normalise_text(w) for w in check.strings(doc.get("common_words"), "common_words")),
    )
    return tax, check.problems + _semantic_problems(tax, check)


def _semantic_problems(tax: Taxonomy, check: ProblemCollector) -> list[Problem]:
    check.problems = []
    for ot in OBJECT_TYPES:
        if ot not in tax.object_type_synonyms:
            check.add("object_types", f"object type '{ot}' is missing")
    for cat in tax.categories.values():
        for style in cat.styles:
            if style not in tax.styles:
                check.add(f"object_types.{cat.object_type}.categories.{cat.name}.styles", f"unknown style '{style}' (not in the styles vocabulary)")
    used_styles = {s for c in tax.categories.values() for s in c.styles}
    for style in tax.styles:
        if style not in used_styles:
            check.add(f"styles.{style}", "style is attached to no category")
    for attr in tax.attributes.values():
        for target in attr.applies_to:
            if target not in tax.categories and target not in OBJECT_TYPES:
                check.add(f"attributes.{attr.name}.applies_to", f"unknown object type or category '{target}'")

    # Duplicate and cyclic synonyms: within one kind a term must name exactly one node, and a
    # synonym must not be another node's canonical name (that chains one node into another).
    groups: dict[str, dict[str, tuple[str, ...]]] = {
        # a garment must not also be an object-type synonym: both are head nouns of one object type
        "object_types": {ot: syns + tax.garments.get(ot, ()) for ot, syns in tax.object_type_synonyms.items()},
        "categories": {c.name: c.synonyms for c in tax.categories.values()},
        "styles": tax.styles,
        "patterns": tax.patterns,
        **{f"attributes.{a.name}.values": a.values for a in tax.attributes.values()},
        "exclusions": {e.name: e.head + e.anywhere for e in tax.exclusions.values()},
    }
    for section, nodes in groups.items():
        canonical = {normalise_text(n): n for n in nodes}
        owner: dict[str, str] = {}
        for node, synonyms in nodes.items():
            seen_here: set[str] = set()
            for syn in synonyms:
                norm = normalise_text(syn)
                if norm in seen_here:
                    check.add(f"{section}.{node}", f"synonym '{syn}' is listed twice")
                    continue
                seen_here.add(norm)
                if norm == normalise_text(node) and section != "exclusions":
                    check.add(f"{section}.{node}", f"synonym '{syn}' repeats the node's own name")
                elif norm in canonical and section != "exclusions":
                    check.add(f"{section}.{node}", f"synonym '{syn}' is the name of '{canonical[norm]}' (synonym cycle)")
                elif norm in owner and owner[norm] != node:
                    check.add(f"{section}.{node}", f"synonym '{syn}' is also a synonym of '{owner[norm]}'")
                owner.setdefault(norm, node)

    # A term with readings of different kinds is a homonym and must be declared.
    for term, senses in tax.terms().items():
        kinds = {(s.kind, s.value) for s in senses}
        if len(kinds) > 1 and term not in tax.homonyms and not _plural_of_declared(term, tax.homonyms):
            readings = ", ".join(f"{k} {v}" for k, v in sorted(kinds))
            check.add("homonyms", f"term '{term}' has several readings ({readings}) but is not declared")
    all_terms = tax.terms()
    for word in sorted(tax.common_words):
        if not any(s.kind == "style" for s in all_terms.get(word, ())):
            check.add("common_words", f"'{word}' is not a style term (common words only qualify styles)")
    for term in tax.homonyms:
        if normalise_text(term) not in all_terms:
            check.add(f"homonyms.{term}", "declared homonym is not a term of the taxonomy")
    return check.problems


def _plural_of_declared(term: str, declared: dict[str, str]) -> bool:
    return any(term in plural_variants(d) for d in declared)


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int) -> tuple[Taxonomy, tuple[Problem, ...]]:
    tax, problems = _parse_taxonomy(Path(path))
    return tax, tuple(problems)


def validate_taxonomy_file(path: Path | str = DEFAULT_TAXONOMY_PATH) -> list[Problem]:
    """Every problem in a taxonomy file (empty when valid)."""
    path = Path(path)
    if not path.exists():
        return [Problem(str(path), None, None, "file not found")]
    try:
        return list(_load_cached(str(path.resolve()), path.stat().st_mtime_ns)[1])
    except CurateError as exc:
        return exc.problems


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate a taxonomy; any problem raises one CurateError listing them all."""
    path = Path(path or DEFAULT_TAXONOMY_PATH)
    if not path.exists():
        raise CurateError.at(path, "taxonomy file not found")
    tax, problems = _load_cached(str(path.resolve()), path.stat().st_mtime_ns)
    if problems:
        raise CurateError.from_problems(list(problems))
    return tax
