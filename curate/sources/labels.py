"""Label resolution for sources without a mapping file (VOC, COCO, SageMaker, catalogues).

Their labels are whatever the annotator typed: taxonomy names ("dresses"), synonyms ("tee",
"jumper"), object types ("footwear") or titles ("Floral Shirt Dress"). The title categoriser
already knows every taxonomy term, synonym, plural and exclusion, so it decides; a label with
no taxonomy term is unmapped and reported.
"""

from __future__ import annotations

from functools import lru_cache

from curate.taxonomy import Resolution, Target, Taxonomy, TitleCategoriser


class TaxonomyTermResolver:
    """Resolves free-text labels with the title categoriser; same `.resolve` as SourceMapping."""

    def __init__(self, taxonomy: Taxonomy):
        self.categoriser = TitleCategoriser(taxonomy)
        self.resolve = lru_cache(maxsize=None)(self._resolve)

    def _resolve(self, label: str) -> Resolution:
        title = self.categoriser.categorise(label)
        if title.excluded:
            return Resolution(label, "dropped", reason=f"excluded: {title.excluded}")
        if title.object_type is None:
            return Resolution(label, "unmapped", reason=title.rule)
        target = Target(title.object_type, title.category, title.style, title.pattern, tuple(title.attributes))
        return Resolution(label, "mapped", target=target, reason=title.rule)  # the rule that decided
