"""The fashion taxonomy as data: the model, loading and validation, source mappings, the
product-title categoriser and the rules every object row must follow.

    model.py    Taxonomy, Category, ... and the term index
    load.py     reading and validating taxonomy/fashion.yaml
    mapping.py  taxonomy/sources/<source>.yaml: source labels -> taxonomy nodes
    titles.py   TitleCategoriser: "Floral Shirt Dress" -> dresses, style shirt, pattern floral
    rules.py    the rules on object rows (dataset validation, review flags, dedup)
    text.py     the text normalisation they share
"""

from curate.taxonomy.load import DEFAULT_TAXONOMY_PATH, load_taxonomy, validate_taxonomy_file
from curate.taxonomy.mapping import (
    SOURCES_DIR,
    AttributeRule,
    Resolution,
    SourceMapping,
    Target,
    available_sources,
    load_mapping,
    mapping_path,
    validate_all,
    validate_mapping_file,
)
from curate.taxonomy.model import OBJECT_TYPES, PATTERN_KEY, STYLE_KEY, AttributeKey, Category, Exclusion, Sense, Taxonomy
from curate.taxonomy.text import normalise_text, normalised_tokens, plural_variants
from curate.taxonomy.titles import TitleCategoriser, TitleLabel

__all__ = [
    "DEFAULT_TAXONOMY_PATH", "OBJECT_TYPES", "PATTERN_KEY", "SOURCES_DIR", "STYLE_KEY",
    "AttributeKey", "AttributeRule", "Category", "Exclusion", "Resolution", "Sense", "SourceMapping", "Target", "Taxonomy",
    "TitleCategoriser", "TitleLabel",
    "available_sources", "load_mapping", "load_taxonomy", "mapping_path", "normalise_text", "normalised_tokens",
    "plural_variants", "validate_all", "validate_mapping_file", "validate_taxonomy_file",
]
