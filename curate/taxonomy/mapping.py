"""Source mappings: `taxonomy/sources/<source>.yaml` maps each label of one source onto a
taxonomy node (or drops it, with the reason), plus label ids and attribute-name rules.

Every mapping is checked against the loaded taxonomy: unknown targets, styles attached to the
wrong category, unknown patterns and attributes; `validate_all` checks the taxonomy and every
mapping beside it, which is what `curate taxonomy validate` reports.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from curate.errors import CurateError, Problem
from curate.recipes import read_yaml
from curate.resources import taxonomy_dir
from curate.taxonomy.load import DEFAULT_TAXONOMY_PATH, ProblemCollector, load_taxonomy, validate_taxonomy_file
from curate.taxonomy.model import OBJECT_TYPES, PATTERN_KEY, STYLE_KEY, Taxonomy
from curate.taxonomy.text import normalise_text

SOURCES_DIR = taxonomy_dir() / "sources"


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
    check = ProblemCollector(path)
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


def _check_target(spec: dict, key: str, tax: Taxonomy, check: ProblemCollector) -> Target | None:
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
