"""Product-title normalisation and categorisation against the taxonomy.

A title is normalised (case, punctuation, hyphens) and matched greedily, longest phrase
first, against every taxonomy term (synonyms and plurals included). Then:

1. an `anywhere` exclusion term excludes the product ("Bikini Top");
2. the rightmost category, object-type or head exclusion term is the head noun
   ("Floral Shirt Dress" -> dress; "Slim Fit Dress Shirt" -> shirt; "Leather Tote Bag" -> bag);
3. a generic head ("shoes", "top") takes its category from a category term or a style that
   belongs to exactly one category of that object type ("Court Shoes" -> heels);
4. with no head noun, a style that belongs to exactly one category decides ("Chinos");
5. styles and patterns anywhere else become candidates only where the taxonomy allows them
   for the category; the one nearest the head noun wins and the others are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from curate.taxonomy import Sense, Taxonomy, load_taxonomy, normalise_text


@dataclass(frozen=True)
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
    notes: tuple[str, ...] = field(default=())

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


@dataclass(frozen=True)
class _Span:
    position: int  # index of the span among the title's matched spans
    text: str
    senses: tuple[Sense, ...]


class TitleCategoriser:
    """Categorises product titles with one taxonomy; build once, call many times."""

    def __init__(self, taxonomy: Taxonomy | None = None):
        self.taxonomy = taxonomy or load_taxonomy()
        # first token -> [(phrase tokens, phrase text, senses)], longest phrase first
        index: dict[str, list[tuple[tuple[str, ...], str, tuple[Sense, ...]]]] = {}
        for term, senses in self.taxonomy.terms().items():
            tokens = tuple(term.split())
            index.setdefault(tokens[0], []).append((tokens, term, senses))
        for entries in index.values():
            entries.sort(key=lambda e: -len(e[0]))
        self._index = index
        self._unique_style_category = {
            style: cats[0] for style in self.taxonomy.styles if len(cats := self.taxonomy.categories_with_style(style)) == 1
        }

    def spans(self, title: str) -> list[_Span]:
        """Greedy longest-first matching of taxonomy terms over the normalised title."""
        tokens = normalise_text(title).split()
        spans: list[_Span] = []
        i, n = 0, len(tokens)
        index = self._index
        while i < n:
            entries = index.get(tokens[i])
            if entries:
                for phrase, text, senses in entries:
                    k = len(phrase)
                    if k == 1 or tuple(tokens[i : i + k]) == phrase:
                        spans.append(_Span(len(spans), text, senses))
                        i += k
                        break
                else:
                    i += 1
            else:
                i += 1
        return spans

    def categorise(self, title: str) -> TitleLabel:
        tax = self.taxonomy
        spans = self.spans(title)

        for span in spans:
            for sense in span.senses:
                if sense.kind == "exclusion" and sense.anywhere:
                    return TitleLabel(title, excluded=sense.value, rule=f"excluded: '{span.text}' ({sense.value})")

        head, head_sense = None, None
        for span in reversed(spans):
            sense = _first(span.senses, ("category", "exclusion", "object_type"))
            if sense is not None:
                head, head_sense = span, sense
                break

        if head_sense is not None and head_sense.kind == "exclusion":
            return TitleLabel(title, excluded=head_sense.value, rule=f"excluded: head noun '{head.text}' ({head_sense.value})")

        category: str | None = None
        object_type: str | None = None
        rule: str
        if head_sense is not None and head_sense.kind == "category":
            category = head_sense.value
            rule = f"head noun '{head.text}'"
        else:
            object_type = head_sense.value if head_sense is not None else None
            category, decider = self._category_without_head(spans, object_type)
            if category is None:
                why = f"generic head noun '{head.text}'" if head is not None else "no category term"
                return TitleLabel(title, object_type=object_type, rule=why, attributes=self._attributes(spans, None, object_type))
            rule = f"{'generic head noun ' + repr(head.text) + ' + ' if head else ''}{decider}"
        object_type = tax.object_type_of(category)

        notes: list[str] = []
        style = self._nearest(spans, head, "style", lambda v: tax.allows_style(category, v), notes, f"not a style of {category}")
        pattern = self._nearest(spans, head, "pattern", lambda v: True, notes, "")
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

    def _category_without_head(self, spans: list[_Span], object_type: str | None) -> tuple[str | None, str]:
        """A category from a category term of the head's object type, or a single-category style."""
        tax = self.taxonomy
        for span in reversed(spans):
            for sense in span.senses:
                if sense.kind == "category" and (object_type is None or tax.object_type_of(sense.value) == object_type):
                    return sense.value, f"category term '{span.text}'"
        for span in reversed(spans):
            for sense in span.senses:
                if sense.kind != "style":
                    continue
                cats = tax.categories_with_style(sense.value)
                if object_type is not None:
                    cats = [c for c in cats if tax.object_type_of(c) == object_type]
                if len(cats) == 1:
                    return cats[0], f"style '{span.text}' belongs only to {cats[0]}"
        return None, ""

    def _nearest(self, spans, head, kind, allowed, notes: list[str], why_not: str) -> str | None:
        """The allowed value of `kind` nearest the head noun; others are reported in notes."""
        head_pos = head.position if head is not None else len(spans)
        found: list[tuple[int, str, str]] = []
        for span in spans:
            if head is not None and span.position == head.position:
                continue
            for sense in span.senses:
                if sense.kind != kind:
                    continue
                if allowed(sense.value):
                    found.append((abs(head_pos - span.position), sense.value, span.text))
                elif why_not:
                    notes.append(f"'{span.text}' ignored: {why_not}")
        if not found:
            return None
        found.sort(key=lambda f: f[0])
        chosen = found[0][1]
        for _, value, text in found[1:]:
            if value != chosen:
                notes.append(f"{kind} '{value}' ('{text}') also found; kept '{chosen}', nearest the head noun")
        return chosen

    def _attributes(self, spans: list[_Span], category: str | None, object_type: str | None) -> tuple[str, ...]:
        tax = self.taxonomy
        out: list[str] = []
        for span in spans:
            for sense in span.senses:
                if sense.kind == "attribute":
                    key = sense.value.split(":", 1)[0]
                    if (category is None and object_type is None) or tax.attribute_applies(key, category, object_type):
                        if sense.value not in out:
                            out.append(sense.value)
        return tuple(out)


def _first(senses: tuple[Sense, ...], kinds: tuple[str, ...]) -> Sense | None:
    for kind in kinds:
        for sense in senses:
            if sense.kind == kind and not sense.anywhere:
                return sense
    return None


def categorise_title(title: str, taxonomy: Taxonomy | None = None) -> TitleLabel:
    """Categorise one title (builds a categoriser; use TitleCategoriser for many titles)."""
    return TitleCategoriser(taxonomy).categorise(title)
