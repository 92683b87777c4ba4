"""The fashion taxonomy as data: loading, validation, the term index, and source mappings.

`taxonomy/fashion.yaml` holds object types -> categories -> allowed styles, the pattern
vocabulary, the other attribute keys, synonyms, exclusions and declared homonyms.
`taxonomy/sources/<source>.yaml` maps each label of one source onto a taxonomy node.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from curate.errors import CurateError, Problem
from curate.resources import taxonomy_dir

DEFAULT_TAXONOMY_PATH = taxonomy_dir() / "fashion.yaml"
SOURCES_DIR = taxonomy_dir() / "sources"

OBJECT_TYPES = ("upper-body", "lower-body", "full-body", "footwear")
PATTERN_KEY = "pattern"
STYLE_KEY = "style"

_PUNCTUATION = str.maketrans({c: " " for c in "-_/\\,.;:!?()[]{}\"+*|#&%$@~`<>=^"})


def normalised_tokens(text: str) -> list[str]:
    """Lower-cased words, with hyphens and punctuation as separators.

    Apostrophes are kept inside words ("d'orsay") but dropped from possessives
    ("women's" -> "women"), so titles and vocabulary normalise the same way.
    """
    text = text.lower().translate(_PUNCTUATION)
    if "'" in text or "’" in text:
        text = (text.replace("’", "'") + " ").replace("'s ", " ")
    return text.split()


def normalise_text(text: str) -> str:
    return " ".join(normalised_tokens(text))


def plural_variants(term: str) -> tuple[str, ...]:
    """The term and its regular plural (on the last word), both normalised."""
    term = normalise_text(term)
    if not term:
        return ()
    head, _, last = term.rpartition(" ")
    if last.endswith("s") and not last.endswith("ss"):
        return (term,)
    if last.endswith(("ss", "x", "ch", "sh")):
        plural = last + "es"
    elif last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        plural = last[:-1] + "ies"
    else:
        plural = last + "s"
    return (term, f"{head} {plural}".strip())


@dataclass(frozen=True)
class Sense:
    """One reading of a term: kind is category, object_type, style, pattern, attribute or exclusion."""

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
            self._terms = _build_term_index(self)
        return self._terms


def _build_term_index(tax: Taxonomy) -> dict[str, tuple[Sense, ...]]:
    index: dict[str, list[Sense]] = defaultdict(list)

    def add(terms: Iterable[str], sense: Sense) -> None:
        for term in terms:
            for variant in plural_variants(term):
                if sense not in index[variant]:
                    index[variant].append(sense)

    for object_type, synonyms in tax.object_type_synonyms.items():
        add((object_type, *synonyms), Sense("object_type", object_type))
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


# ---------------------------------------------------------------------------------------------
# Loading and validation


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error names the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CurateError.at(path, "file not found") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CurateError.at(path, f"malformed YAML: {reason}", where=where) from None


class _Checker:
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


_TOP_KEYS = {"name", "version", "object_types", "styles", "patterns", "attributes", "exclusions", "homonyms"}


def _parse_taxonomy(path: Path) -> tuple[Taxonomy, list[Problem]]:
    raw = read_yaml(path)
    check = _Checker(path)
    doc = check.mapping(raw, "(top level)", _TOP_KEYS)
    for required in ("name", "version", "object_types"):
        if required not in doc:
            check.add("(top level)", f"missing required key '{required}'")

    object_type_synonyms: dict[str, tuple[str, ...]] = {}
    categories: dict[str, Category] = {}
    for ot_name, ot in check.mapping(doc.get("object_types"), "object_types").items():
        key = f"object_types.{ot_name}"
        if ot_name not in OBJECT_TYPES:
            check.add(key, f"unknown object type (expected one of {', '.join(OBJECT_TYPES)})")
        ot = check.mapping(ot, key, {"synonyms", "categories"})
        object_type_synonyms[ot_name] = check.strings(ot.get("synonyms"), f"{key}.synonyms")
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
    )
    return tax, check.problems + _semantic_problems(tax, check)


def _semantic_problems(tax: Taxonomy, check: _Checker) -> list[Problem]:
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
        "object_types": dict(tax.object_type_synonyms),
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


# ---------------------------------------------------------------------------------------------
# Source mappings


@dataclass(frozen=True)
class Target:
    """A taxonomy node a source label maps to (object type always; category etc. when known)."""

    object_type: str
    category: str | None = None
    style: str | None = None
    pattern: str | None = None
    attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """How one source label resolved: status is mapped, dropped or unmapped."""

    label: str
    status: str
    target: Target | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AttributeRule:
    """Attribute names containing any of `words` (as whole words) give this pattern or style."""

    words: tuple[str, ...]
    key: str  # pattern or style
    value: str


@dataclass
class SourceMapping:
    source: str
    path: Path
    default: str  # error | drop
    labels: dict[str, Target | str]  # a str value is the drop reason
    label_ids: dict[int, str]
    attribute_rules: tuple[AttributeRule, ...]
    sha256: str

    def resolve(self, label: str) -> Resolution:
        value = self.labels.get(label)
        if value is None and label not in self.labels:
            if self.default == "drop":
                return Resolution(label, "dropped", reason="not named in the mapping (default: drop)")
            return Resolution(label, "unmapped", reason=f"not named in {self.path.name}")
        if isinstance(value, Target):
            return Resolution(label, "mapped", target=value)
        return Resolution(label, "dropped", reason=value)

    def resolve_id(self, label_id: int) -> Resolution:
        if label_id not in self.label_ids:
            return Resolution(str(label_id), "unmapped", reason=f"unknown label id {label_id} (not in {self.path.name} label_ids)")
        return self.resolve(self.label_ids[label_id])

    def attribute_values(self, attribute_name: str) -> list[tuple[str, str]]:
        """(key, value) pairs that rules give for one source attribute name."""
        words = set(normalise_text(attribute_name).split())
        norm = normalise_text(attribute_name)
        hits = []
        for rule in self.attribute_rules:
            if any((w in words) if " " not in w else (w in norm) for w in rule.words):
                hits.append((rule.key, rule.value))
        return hits


_MAPPING_KEYS = {"source", "taxonomy", "default", "labels", "label_ids", "attribute_rules", "notes"}
_TARGET_KEYS = {"object_type", "category", "style", "pattern", "attributes", "drop"}


def mapping_path(source: str) -> Path:
    return SOURCES_DIR / f"{source}.yaml"


def available_sources() -> list[str]:
    return sorted(p.stem for p in SOURCES_DIR.glob("*.yaml"))


def _parse_mapping(path: Path, tax: Taxonomy) -> tuple[SourceMapping, list[Problem]]:
    raw = read_yaml(path)
    check = _Checker(path)
    doc = check.mapping(raw, "(top level)", _MAPPING_KEYS)
    default = doc.get("default", "error")
    if default not in ("error", "drop"):
        check.add("default", f"expected 'error' or 'drop', found '{default}'")
    if doc.get("taxonomy", tax.name) != tax.name:
        check.add("taxonomy", f"mapping is for taxonomy '{doc.get('taxonomy')}', loaded taxonomy is '{tax.name}'")

    labels: dict[str, Target | str] = {}
    for label, spec in check.mapping(doc.get("labels"), "labels").items():
        key = f"labels.{label}"
        label = str(label)
        if spec is None:
            labels[label] = "dropped by mapping"
            continue
        if isinstance(spec, str):
            spec = {"object_type": spec} if spec in OBJECT_TYPES else {"category": spec}
        spec = check.mapping(spec, key, _TARGET_KEYS)
        if "drop" in spec:
            labels[label] = str(spec["drop"])
            continue
        target = _check_target(spec, key, tax, check)
        if target is not None:
            labels[label] = target

    label_ids: dict[int, str] = {}
    for label_id, name in check.mapping(doc.get("label_ids"), "label_ids").items():
        if not isinstance(label_id, int):
            check.add(f"label_ids.{label_id}", "label ids must be integers")
            continue
        if str(name) not in labels and default == "error":
            check.add(f"label_ids.{label_id}", f"label '{name}' is not named under labels")
        label_ids[label_id] = str(name)

    rules: list[AttributeRule] = []
    raw_rules = doc.get("attribute_rules") or []
    if not isinstance(raw_rules, list):
        check.add("attribute_rules", "expected a list of rules")
        raw_rules = []
    for i, rule in enumerate(raw_rules):
        key = f"attribute_rules[{i}]"
        rule = check.mapping(rule, key, {"words", "pattern", "style"})
        words = tuple(normalise_text(w) for w in check.strings(rule.get("words"), f"{key}.words"))
        if ("pattern" in rule) == ("style" in rule):
            check.add(key, "a rule gives exactly one of 'pattern' or 'style'")
            continue
        if "pattern" in rule:
            if rule["pattern"] not in tax.patterns:
                check.add(key, f"unknown pattern '{rule['pattern']}'", "pattern")
            rules.append(AttributeRule(words, PATTERN_KEY, str(rule["pattern"])))
        else:
            if rule["style"] not in tax.styles:
                check.add(key, f"unknown style '{rule['style']}'", "style")
            rules.append(AttributeRule(words, STYLE_KEY, str(rule["style"])))

    mapping = SourceMapping(
        source=str(doc.get("source", path.stem)),
        path=path,
        default=str(default),
        labels=labels,
        label_ids=label_ids,
        attribute_rules=tuple(rules),
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    return mapping, check.problems


def _check_target(spec: dict, key: str, tax: Taxonomy, check: _Checker) -> Target | None:
    category = spec.get("category")
    object_type = spec.get("object_type")
    if category is not None and category not in tax.categories:
        check.add(key, f"unknown category '{category}'", "category")
        return None
    if category is not None:
        if object_type is not None and object_type != tax.object_type_of(category):
            check.add(key, f"category '{category}' belongs to {tax.object_type_of(category)}, not {object_type}", "object_type")
            return None
        object_type = tax.object_type_of(category)
    if object_type not in OBJECT_TYPES:
        check.add(key, f"unknown object type '{object_type}'" if object_type else "needs a category or an object_type", "object_type")
        return None
    style = spec.get("style")
    if style is not None and not tax.allows_style(category, style):
        allowed = tax.categories_with_style(style)
        why = f"style '{style}' is not allowed for category '{category}'" + (f" (allowed for: {', '.join(allowed)})" if allowed else " (unknown style)")
        check.add(key, why, "style")
        return None
    pattern = spec.get("pattern")
    if pattern is not None and pattern not in tax.patterns:
        check.add(key, f"unknown pattern '{pattern}'", "pattern")
        return None
    attributes = check.strings(spec.get("attributes"), f"{key}.attributes")
    for attr in attributes:
        name, _, value = attr.partition(":")
        if name not in tax.attributes or value not in tax.attributes[name].values:
            check.add(key, f"unknown attribute '{attr}' (expected key:value from the taxonomy)", "attributes")
            return None
    return Target(object_type, category, style, pattern, attributes)


def validate_mapping_file(path: Path | str, tax: Taxonomy | None = None) -> list[Problem]:
    tax = tax or load_taxonomy()
    try:
        return _parse_mapping(Path(path), tax)[1]
    except CurateError as exc:
        return exc.problems


def load_mapping(source_or_path: str | Path, tax: Taxonomy | None = None) -> SourceMapping:
    """Load a source mapping by source name (taxonomy/sources/<name>.yaml) or by path."""
    tax = tax or load_taxonomy()
    path = Path(source_or_path)
    if not path.suffix:
        path = mapping_path(str(source_or_path))
        if not path.exists():
            known = ", ".join(available_sources())
            raise CurateError.at(path, f"no mapping for source '{source_or_path}' (known sources: {known})")
    mapping, problems = _parse_mapping(path, tax)
    if problems:
        raise CurateError.from_problems(problems)
    return mapping


def validate_all(taxonomy_path: Path | str = DEFAULT_TAXONOMY_PATH, sources_dir: Path | None = None) -> list[Problem]:
    """The taxonomy and every mapping beside it; what `curate taxonomy validate` reports."""
    problems = validate_taxonomy_file(taxonomy_path)
    if problems:
        return problems
    tax = load_taxonomy(taxonomy_path)
    sources_dir = sources_dir or Path(taxonomy_path).parent / "sources"
    for path in sorted(Path(sources_dir).glob("*.yaml")):
        problems.extend(validate_mapping_file(path, tax))
    return problems
