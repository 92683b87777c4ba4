"""The product-title categoriser: titles normalised and matched against the taxonomy's terms.

A title is normalised (case, punctuation, hyphens) and matched greedily, longest phrase
first, against every taxonomy term (synonyms and plurals included). Then:

1. an `anywhere` exclusion term excludes the product ("Bikini Top");
2. the rightmost category, garment, object-type or head exclusion term is the head noun
   ("Floral Shirt Dress" -> dress; "Slim Fit Dress Shirt" -> shirt; "Leather Tote Bag" -> bag);
   what follows "with" is an extra, not the product ("Churidar Kurta with Dupatta" -> kurta);
3. a garment no category covers gives its object type alone ("Printed Kurta" -> upper-body);
4. a generic head ("shoes", "top") takes its category from a category term or a style that
   belongs to exactly one category of that object type ("Court Shoes" -> heels);
5. with no head noun, a style that belongs to exactly one category decides ("Chinos"), unless
   the style word is an everyday word (`common_words`: "Fashion" alone decides nothing);
6. styles and patterns anywhere else become candidates only where the taxonomy allows them
   for the category; the one nearest the head noun wins and the others are reported.

A word of six letters or more that is no term but is one typo away from exactly one head-noun
term (two typos from nine letters) is read as that term, and the note says so ("Trouzers";
"Sandles" is two typos from "sandals" and stays unread).
"""

from __future__ import annotations

from dataclasses import dataclass

from curate.taxonomy.load import load_taxonomy
from curate.taxonomy.model import Sense, Taxonomy
from curate.taxonomy.text import normalised_tokens
from curate.taxonomy.typos import TypoIndex

_TYPO_LENGTH = TypoIndex.MIN_LENGTH


@dataclass(slots=True)
class TitleLabel:
    """What a title says about a product, and which rule decided."""

    title: str
    category: str | None = None
    object_type: str | None = None
    style: str | None = None
    pattern: str | None = None
    attributes: tuple[str, ...] = ()
    excluded: str | None = None  # exclusion group, e.g. "bags"
    rule: str = ""
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "category": self.category,
            "object_type": self.object_type,
            "style": self.style,
            "pattern": self.pattern,
            "attributes": list(self.attributes),
            "excluded": self.excluded,
            "rule": self.rule,
            "notes": list(self.notes),
        }


class _Term:
    """A vocabulary phrase with its readings sorted by role, computed once per taxonomy."""

    __slots__ = ("text", "tokens", "head", "excluded_anywhere", "styles", "patterns", "attributes", "categories", "common")

    def __init__(self, text: str, senses: tuple[Sense, ...], common: bool = False):
        self.text = text
        self.tokens = tuple(text.split())
        self.common = common  # an everyday word: qualifies a head noun, never decides alone
        self.head = _first(senses, ("category", "exclusion", "garment", "object_type"))
        self.excluded_anywhere = next((s.value for s in senses if s.kind == "exclusion" and s.anywhere), None)
        self.styles = tuple(s.value for s in senses if s.kind == "style")
        self.patterns = tuple(s.value for s in senses if s.kind == "pattern")
        self.attributes = tuple(s.value for s in senses if s.kind == "attribute")
        self.categories = tuple(s.value for s in senses if s.kind == "category")


class TitleCategoriser:
    """Categorises product titles with one taxonomy; build once, call many times."""

    def __init__(self, taxonomy: Taxonomy | None = None):
        tax = self.taxonomy = taxonomy or load_taxonomy()
        # first token -> terms starting with it, longest phrase first
        index: dict[str, list[_Term]] = {}
        for text, senses in tax.terms().items():
            term = _Term(text, senses, text in tax.common_words)
            index.setdefault(term.tokens[0], []).append(term)
        for terms in index.values():
            terms.sort(key=lambda t: -len(t.tokens))
        self._index = index
        # typos are read only as product nouns: exclusion words are too often brand or model names
        self._typos = TypoIndex({
            text: (term.head.kind, term.head.value) for text, terms in index.items() for term in terms
            if len(term.tokens) == 1 and term.head is not None and term.head.kind != "exclusion"
        })
        self._style_categories = {style: tuple(tax.categories_with_style(style)) for style in tax.styles}
        self._object_type = {name: cat.object_type for name, cat in tax.categories.items()}
        self._attribute_targets = {key.name: frozenset(key.applies_to) for key in tax.attributes.values()}

    def spans(self, title: str, typos: list[str] | None = None) -> list[_Term]:
        """Greedy longest-first matching of taxonomy terms over the normalised title.

        "with" ends the product's own words: a span after it gets a None marker in front.
        Typo corrections are appended to `typos` when a list is given.
        """
        tokens = normalised_tokens(title)
        found: list[_Term | None] = []
        i, n = 0, len(tokens)
        index = self._index
        known_typos = self._typos.memo
        while i < n:
            step = 1
            token = tokens[i]
            terms = index.get(token)
            if terms is None:
                if token == "with":
                    found.append(None)
                elif i and len(token) >= _TYPO_LENGTH:  # the first word is the brand
                    fixed = known_typos[token] if token in known_typos else self._typos.correct(token)
                    if fixed is not None:
                        terms = index[fixed]
                        if typos is not None:
                            typos.append(f"typo '{token}' read as '{fixed}'")
            for term in terms or ():
                k = len(term.tokens)
                if k == 1 or tuple(tokens[i : i + k]) == term.tokens:
                    found.append(term)
                    step = k
                    break
            i += step
        return found

    def categorise(self, title: str) -> TitleLabel:
        typos: list[str] = []
        marked = self.spans(title, typos)
        spans = [t for t in marked if t is not None]
        head_pos = -1
        pos = 0
        after_with = False
        for term in marked:
            if term is None:
                after_with = head_pos >= 0  # extras after "with" only when the product was named before
                continue
            if term.excluded_anywhere is not None and not after_with:
                return TitleLabel(title, excluded=term.excluded_anywhere, rule=f"excluded: '{term.text}' ({term.excluded_anywhere})", notes=tuple(typos))
            if term.head is not None and not after_with:
                head_pos = pos
            pos += 1
        head = spans[head_pos].head if head_pos >= 0 else None

        if head is not None and head.kind == "exclusion":
            return TitleLabel(title, excluded=head.value, rule=f"excluded: head noun '{spans[head_pos].text}' ({head.value})", notes=tuple(typos))

        if head is not None and head.kind == "garment":
            return TitleLabel(
                title, object_type=head.value, rule=f"head noun '{spans[head_pos].text}': {head.value}, outside the categories",
                pattern=self._nearest(spans, head_pos, "patterns", None, []),
                attributes=self._attributes(spans, None, head.value), notes=tuple(typos),
            )

        if head is not None and head.kind == "category":
            category = head.value
            rule = f"head noun '{spans[head_pos].text}'"
        else:
            object_type = head.value if head is not None else None
            category, decider = self._category_without_head(spans, object_type)
            if category is None:
                object_type, why = self._object_type_without_category(spans, head_pos, object_type)
                return TitleLabel(title, object_type=object_type, rule=why, attributes=self._attributes(spans, None, object_type), notes=tuple(typos))
            rule = f"generic head noun '{spans[head_pos].text}' + {decider}" if head is not None else decider
        object_type = self._object_type[category]

        notes: list[str] = list(typos)
        style = pattern = None
        if len(spans) > 1 or head_pos < 0:
            style = self._nearest(spans, head_pos, "styles", category, notes)
            pattern = self._nearest(spans, head_pos, "patterns", None, notes)
        return TitleLabel(
            title,
            category=category,
            object_type=object_type,
            style=style,
            pattern=pattern,
            attributes=self._attributes(spans, category, object_type),
            rule=rule,
            notes=tuple(notes),
        )

    def _category_without_head(self, spans: list[_Term], object_type: str | None) -> tuple[str | None, str]:
        """A category from a category term of the head's object type, or a single-category style."""
        for term in reversed(spans):
            for cat in term.categories:
                if object_type is None or self._object_type[cat] == object_type:
                    return cat, f"category term '{term.text}'"
        for term in reversed(spans):
            if term.common and object_type is None:
                continue  # an everyday word decides nothing without a head noun
            for style in term.styles:
                cats = [c for c in self._style_categories[style] if object_type is None or self._object_type[c] == object_type]
                if len(cats) == 1:
                    return cats[0], f"style '{term.text}' belongs only to {cats[0]}"
        return None, ""

    def _object_type_without_category(self, spans: list[_Term], head_pos: int, object_type: str | None) -> tuple[str | None, str]:
        """With no category: the generic head's object type, or that of an ambiguous style."""
        if object_type is not None:
            return object_type, f"generic head noun '{spans[head_pos].text}'"
        for term in reversed(spans):
            if term.common:
                continue
            for style in term.styles:
                cats = self._style_categories[style]
                types = {self._object_type[c] for c in cats}
                if len(types) == 1:
                    return types.pop(), f"style '{term.text}' belongs to several categories ({', '.join(cats)})"
        return None, "no category term"

    def _nearest(self, spans: list[_Term], head_pos: int, role: str, category: str | None, notes: list[str]) -> str | None:
        """The value nearest the head noun (styles: only those the category allows); others go to notes."""
        anchor = head_pos if head_pos >= 0 else len(spans)
        found: list[tuple[int, str, str]] = []
        for pos, term in enumerate(spans):
            values = getattr(term, role)
            if not values or pos == head_pos:
                continue
            for value in values:
                if category is None or category in self._style_categories[value]:
                    found.append((abs(anchor - pos), value, term.text))
                else:
                    notes.append(f"'{term.text}' ignored: not a style of {category}")
        if not found:
            return None
        if len(found) > 1:
            found.sort(key=lambda f: f[0])
            for _, value, text in found[1:]:
                if value != found[0][1]:
                    notes.append(f"{role[:-1]} '{value}' ('{text}') also found; kept '{found[0][1]}', nearest the head noun")
        return found[0][1]

    def _attributes(self, spans: list[_Term], category: str | None, object_type: str | None) -> tuple[str, ...]:
        out: list[str] = []
        for term in spans:
            for value in term.attributes:
                targets = self._attribute_targets[value.split(":", 1)[0]]
                if (category is None and object_type is None) or category in targets or object_type in targets:
                    if value not in out:
                        out.append(value)
        return tuple(out)


def _first(senses: tuple[Sense, ...], kinds: tuple[str, ...]) -> Sense | None:
    for kind in kinds:
        for sense in senses:
            if sense.kind == kind and not sense.anywhere:
                return sense
    return None
