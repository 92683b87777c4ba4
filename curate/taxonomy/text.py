"""Text normalisation shared by the taxonomy's term index, the source mappings and the title
categoriser: titles and vocabulary must normalise the same way to match."""

from __future__ import annotations

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
