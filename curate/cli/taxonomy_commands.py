"""`curate taxonomy show|validate|map|coverage`."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.table import Table
from rich.tree import Tree

from curate.cli.common import console, fail, handle_errors
from curate.errors import CurateError
from curate.taxonomy import DEFAULT_TAXONOMY_PATH, load_mapping, load_taxonomy, validate_all

app = typer.Typer(help="Inspect and check the fashion taxonomy and the source mappings.", no_args_is_help=True)

TaxonomyOption = typer.Option(DEFAULT_TAXONOMY_PATH, "--taxonomy", help="Taxonomy YAML file.")


@app.command()
@handle_errors
def show(taxonomy: Path = TaxonomyOption) -> None:
    """Print the taxonomy as a tree with counts.

    Example: curate taxonomy show
    """
    tax = load_taxonomy(taxonomy)
    n_styles = len({s for c in tax.categories.values() for s in c.styles})
    root = Tree(
        f"[bold]{tax.name}[/] v{tax.version}: {len(tax.object_types)} object types, "
        f"{len(tax.categories)} categories, {len(tax.patterns)} patterns, {n_styles} styles"
    )
    for ot in tax.object_types:
        cats = tax.categories_of(ot)
        branch = root.add(f"[bold cyan]{ot}[/] ({len(cats)} categories)")
        for name in cats:
            cat = tax.categories[name]
            styles = f": {', '.join(cat.styles)}" if cat.styles else ""
            branch.add(f"[green]{name}[/] ({len(cat.styles)} styles{styles})")
        if tax.garments.get(ot):
            branch.add(f"[dim]garments outside the categories:[/] {', '.join(tax.garments[ot])}")
    root.add(f"[bold magenta]patterns[/] ({len(tax.patterns)}): {', '.join(tax.patterns)}")
    attrs = root.add(f"[bold]other attribute keys[/] ({len(tax.attributes)})")
    for key in tax.attributes.values():
        attrs.add(f"{key.name} ({len(key.values)} values; applies to {', '.join(key.applies_to)})")
    excl = root.add(f"[bold red]exclusions[/] ({len(tax.exclusions)})")
    for ex in tax.exclusions.values():
        excl.add(f"{ex.name}: {', '.join(ex.head + ex.anywhere)}")
    if tax.common_words:
        root.add(f"[bold]common words[/] (qualify, never decide alone): {', '.join(sorted(tax.common_words))}")
    hom = root.add(f"[bold]homonyms[/] ({len(tax.homonyms)})")
    for term, note in tax.homonyms.items():
        hom.add(f"{term}: {note}")
    console.print(root)


@app.command()
def validate(taxonomy: Path = TaxonomyOption) -> None:
    """Check the taxonomy and every source mapping; list every problem and exit 1 if any.

    Example: curate taxonomy validate
    """
    try:
        problems = validate_all(taxonomy)
    except CurateError as exc:
        problems = exc.problems or []
        if not problems:
            fail(str(exc))
    if problems:
        for p in problems:
            console.print(f"[red]✗[/] {p}", highlight=False, soft_wrap=True)
        fail(f"{len(problems)} problem(s) found")
    tax = load_taxonomy(taxonomy)
    console.print(f"[green]✓[/] {tax.name} v{tax.version} and its source mappings are valid")


def _describe(resolution) -> str:
    if resolution.status == "mapped":
        t = resolution.target
        parts = [t.object_type, t.category or "(object type only)"]
        extra = [f"style {t.style}" if t.style else "", f"pattern {t.pattern}" if t.pattern else "", *t.attributes]
        return " / ".join(parts) + "".join(f", {e}" for e in extra if e)
    return f"{resolution.status} ({resolution.reason})"


@app.command("map")
@handle_errors
def map_labels(
    source: str = typer.Argument(..., help="Source name, e.g. deepfashion, deepfashion2, fashion-mnist, modanet."),
    labels: list[str] = typer.Argument(..., help="Source labels to look up."),
    taxonomy: Path = TaxonomyOption,
) -> None:
    """Show where source labels land in the taxonomy.

    Example: curate taxonomy map deepfashion2 "sling dress" shorts
    """
    mapping = load_mapping(source, load_taxonomy(taxonomy))
    for label in labels:
        console.print(f"{label} → {_describe(mapping.resolve(label))}", highlight=False)


_MULTI_SPACE = re.compile(r"\s{2,}")


def read_label_list(path: Path) -> list[str]:
    """One label per line, or a DeepFashion-style list (count line, header line, then rows)."""
    try:
        lines = [ln.rstrip("\n") for ln in path.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise CurateError.at(path, "label file not found") from None
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) >= 2 and lines[0].strip().isdigit():
        rows = lines[2:]
        if len(rows) != int(lines[0]):
            raise CurateError.at(path, f"first line says {lines[0].strip()} labels but {len(rows)} rows follow", where="line 1")
        return [_MULTI_SPACE.split(r.strip())[0] for r in rows]
    return [ln.strip() for ln in lines]


@app.command()
@handle_errors
def coverage(
    source: str = typer.Argument(..., help="Source name."),
    labels_file: Path = typer.Option(..., "--labels", help="Label list: one per line, or the DeepFashion layout."),
    taxonomy: Path = TaxonomyOption,
) -> None:
    """Count how many of a source's labels are mapped, dropped or unmapped.

    Example: curate taxonomy coverage deepfashion --labels Anno/list_category_cloth.txt
    """
    mapping = load_mapping(source, load_taxonomy(taxonomy))
    resolutions = [mapping.resolve(label) for label in read_label_list(labels_file)]
    table = Table("status", "labels")
    for status in ("mapped", "dropped", "unmapped"):
        table.add_row(status, str(sum(r.status == status for r in resolutions)))
    console.print(table)
    unmapped = [r.label for r in resolutions if r.status == "unmapped"]
    if unmapped:
        console.print("unmapped: " + ", ".join(unmapped), highlight=False)
