from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from curate.cli.main import app
from curate.errors import CurateError
from curate.taxonomy import (
    DEFAULT_TAXONOMY_PATH,
    load_mapping,
    load_taxonomy,
    validate_all,
    validate_mapping_file,
    validate_taxonomy_file,
)

runner = CliRunner()

TABLE_3_4 = {
    "upper-body": ["shirts", "formal jackets", "t-shirts", "hoodies", "tanks", "camis", "sweaters", "cardigans",
                   "blouses", "coats & jackets", "shawls & capes & ponchos"],
    "lower-body": ["shorts", "skirts", "jeans", "trousers"],
    "full-body": ["dresses", "jumpsuits", "playsuits"],
    "footwear": ["trainers", "boots", "flats", "sandals", "heels"],
}
PATTERNS = ["ethnic", "graphic", "floral", "tropical", "striped", "checked", "animal print", "polka dots", "paisley",
            "spots", "tartan", "geometric", "colourblock", "fair isle", "camouflage", "grid print", "dip-dyed",
            "tie-dyed", "zigzag", "washed"]
# Table 3-6: style values -> the categories they apply to.
TABLE_3_6 = {
    "trousers": "sweatpants leggings culottes peg harem capri formal chino cargo",
    "shorts": "cargo sweatshorts cutoff bermuda skort running cycling",
    "jeans": "jeggings mom boyfriend",
    "skirts": "pencil skater a-line frill flowy",
    "dresses": "pencil skater a-line frill flowy wedding bridesmaid bodycon tunic jumper shirt shift slip tea "
               "cocktail pinafore wrap sundress smock",
    "shirts": "formal collarless",
    "formal jackets": "blazer",
    "t-shirts": "boxy varsity baseball boyfriend fitted sport polo muscle",
    "blouses": "tie-front bib popover",
    "cardigans": "waterfall",
    "coats & jackets": "duster parka trench peacoat coatigan duffle bomber biker puffer anorak windcheater "
                       "windbreaker coach borg quilted trucker",
    "trainers": "running high-top chunky fashion",
    "boots": "wellies winter chukka chelsea biker cowboy sock",
    "flats": "loafers brogues ballerinas plimsolls boat moccasins mules d'orsay espadrilles",
    "heels": "mules d'orsay espadrilles court",
    "sandals": "gladiator t-bar toe-thong flip-flops sliders",
}


def test_shipped_taxonomy_matches_the_source_tables():
    tax = load_taxonomy()
    assert tax.object_types == ("upper-body", "lower-body", "full-body", "footwear")
    assert {ot: tax.categories_of(ot) for ot in tax.object_types} == TABLE_3_4
    assert len(tax.categories) == 23
    assert list(tax.patterns) == PATTERNS
    for category, styles in TABLE_3_6.items():
        for style in styles.split():
            assert tax.allows_style(category, style), (category, style)
    # every style is attached to exactly the categories the table gives (plus DeepFashion's flare)
    for style in tax.styles:
        expected = {c for c, s in TABLE_3_6.items() if style in s.split()}
        if style == "flare":
            expected = {"skirts", "dresses"}
        assert set(tax.categories_with_style(style)) == expected, style
    assert set(tax.attributes) == {"leg style", "sleeve style", "hem style", "fit", "neckline style", "rise", "length"}
    assert {"accessories", "bags", "belts", "jewellery", "watches", "hats", "swimwear",
            "lingerie and underwear", "socks"} <= set(tax.exclusions)
    assert tax.version


def test_required_synonyms_resolve():
    terms = load_taxonomy().terms()

    def values(term, kind):
        return {s.value for s in terms[term] if s.kind == kind}

    assert values("jumper", "category") == {"sweaters"}
    assert values("pullover", "category") == {"sweaters"}
    for tee in ("tee", "tshirt", "t shirt"):
        assert values(tee, "category") == {"t-shirts"}
    for ethnic in ("aztec", "tribal", "navajo"):
        assert values(ethnic, "pattern") == {"ethnic"}
    assert values("sneakers", "category") == {"trainers"}
    assert values("pants", "category") == {"trousers"}
    assert values("romper", "category") == {"playsuits"}
    assert values("pumps", "style") == {"court"}


def test_validate_command_passes_on_shipped_files():
    result = runner.invoke(app, ["taxonomy", "validate"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert validate_all() == []


def test_show_lists_every_node():
    result = runner.invoke(app, ["taxonomy", "show"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "4 object types, 23 categories, 20 patterns" in result.output
    for categories in TABLE_3_4.values():
        for category in categories:
            assert category in result.output
    for styles in TABLE_3_6.values():
        for style in styles.split():
            assert style in result.output


@pytest.mark.parametrize(
    "source, label, expected",
    [
        ("deepfashion", "Coat", "upper-body / coats & jackets"),
        ("deepfashion", "Cape", "upper-body / shawls & capes & ponchos"),
        ("deepfashion", "Shirtdress", "full-body / dresses, style shirt"),
        ("deepfashion2", "sling dress", "full-body / dresses"),
        ("deepfashion2", "trousers", "lower-body / (object type only)"),
        ("fashion-mnist", "Bag", "dropped (accessory)"),
        ("fashion-mnist", "Ankle boot", "footwear / boots"),
        ("modanet", "footwear", "footwear / (object type only)"),
        ("modanet", "headwear", "dropped (accessory)"),
    ],
)
def test_map_command(source, label, expected):
    result = runner.invoke(app, ["taxonomy", "map", source, label])
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_every_public_label_list_is_fully_decided(assets):
    df = load_mapping("deepfashion")
    names = _deepfashion_category_names(assets)
    assert len(names) == 50
    assert all(df.resolve(n).status in ("mapped", "dropped") for n in names)
    assert len(load_mapping("deepfashion2").label_ids) == 13
    assert len(load_mapping("fashion-mnist").label_ids) == 10
    assert len(load_mapping("modanet").label_ids) == 13
    for source in ("deepfashion2", "fashion-mnist", "modanet"):
        mapping = load_mapping(source)
        assert all(mapping.resolve_id(i).status != "unmapped" for i in mapping.label_ids)
    assert load_mapping("modanet").resolve("boots").target.object_type == "footwear"


def _deepfashion_category_names(assets):
    from curate.cli.taxonomy_commands import read_label_list

    # A verbatim copy of DeepFashion's Anno/list_category_cloth.txt (50 categories).
    return read_label_list(assets / "taxonomy" / "list_category_cloth.txt")


def test_deepfashion_attribute_rules_give_table_3_7():
    df = load_mapping("deepfashion")
    assert df.attribute_values("abstract floral") == [("pattern", "floral")]
    assert df.attribute_values("floral lace mini") == [("pattern", "floral")]
    assert df.attribute_values("striped") == [("pattern", "striped")]
    assert df.attribute_values("leopard print") == [("pattern", "animal print")]
    assert df.attribute_values("camo") == [("pattern", "camouflage")]
    assert df.attribute_values("gingham") == [("pattern", "checked")]
    assert df.attribute_values("fair isle knit") == [("pattern", "fair isle")]
    assert df.attribute_values("cargo") == [("style", "cargo")]
    assert df.attribute_values("lace") == []
    patterns = {r.value for r in df.attribute_rules if r.key == "pattern"}
    assert patterns == {"floral", "animal print", "striped", "tropical", "checked", "polka dots", "paisley", "tartan",
                        "fair isle", "camouflage", "grid print", "zigzag"}


def test_coverage_command_counts_deepfashion_layout(tmp_path):
    labels = tmp_path / "list_category_cloth.txt"
    labels.write_text("4\ncategory_name  category_type\nAnorak                       1\nButton-Down                  1\n"
                      "Sarong                       2\nMystery Garment              3\n")
    result = runner.invoke(app, ["taxonomy", "coverage", "deepfashion", "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert "mapped   │ 2" in result.output
    assert "dropped  │ 1" in result.output
    assert "unmapped │ 1" in result.output
    assert "Mystery Garment" in result.output


# --- bad input ---------------------------------------------------------------------------------


def _taxonomy_copy(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text())
    edit(doc)
    path = tmp_path / "fashion.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "sources").mkdir()
    return path


def test_style_on_a_category_not_in_the_style_vocabulary(tmp_path):
    path = _taxonomy_copy(tmp_path, lambda d: d["object_types"]["lower-body"]["categories"]["jeans"]["styles"].append("ballgown"))
    problems = validate_taxonomy_file(path)
    assert len(problems) == 1
    text = str(problems[0])
    assert str(path) in text and "object_types.lower-body.categories.jeans.styles" in text and "ballgown" in text
    result = runner.invoke(app, ["taxonomy", "validate", "--taxonomy", str(path)])
    assert result.exit_code == 1
    assert "ballgown" in result.output


def test_mapping_with_style_the_category_does_not_allow(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text("source: shop\nlabels:\n  Navy Blazer: {category: trousers, style: blazer}\n")
    problems = validate_mapping_file(path)
    assert len(problems) == 1
    assert problems[0].where == "labels.Navy Blazer" and problems[0].field == "style"
    assert "not allowed for category 'trousers'" in str(problems[0]) and "formal jackets" in str(problems[0])


def test_mapping_to_unknown_node(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text("source: shop\nlabels:\n  Kilt: {category: kilts}\n  Thing: {object_type: mid-body}\n")
    problems = validate_mapping_file(path)
    assert [(p.where, p.field) for p in problems] == [("labels.Kilt", "category"), ("labels.Thing", "object_type")]
    with pytest.raises(CurateError, match="unknown category 'kilts'"):
        load_mapping(path)


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "fashion.yaml"
    path.write_text("name: fashion\nobject_types:\n  upper-body: [unclosed\n")
    problems = validate_taxonomy_file(path)
    assert len(problems) == 1
    assert str(path) in str(problems[0]) and "line" in str(problems[0]) and "malformed YAML" in str(problems[0])
    result = runner.invoke(app, ["taxonomy", "show", "--taxonomy", str(path)])
    assert result.exit_code == 1
    assert "malformed YAML" in result.output


def test_duplicate_and_cyclic_synonyms_are_reported(tmp_path):
    def edit(doc):
        cats = doc["object_types"]["upper-body"]["categories"]
        cats["cardigans"]["synonyms"].append("jumper")  # already a sweaters synonym
        cats["blouses"]["synonyms"].append("shirts")  # another category's name
    problems = [str(p) for p in validate_taxonomy_file(_taxonomy_copy(tmp_path, edit))]
    assert any("'jumper' is also a synonym of 'sweaters'" in p for p in problems)
    assert any("'shirts' is the name of 'shirts' (synonym cycle)" in p for p in problems)


def test_undeclared_homonym_is_reported(tmp_path):
    path = _taxonomy_copy(tmp_path, lambda d: d["homonyms"].pop("shirt"))
    problems = [str(p) for p in validate_taxonomy_file(path)]
    assert any("term 'shirt' has several readings" in p for p in problems)


def test_unknown_top_level_key(tmp_path):
    path = _taxonomy_copy(tmp_path, lambda d: d.update(colours=["red"]))
    problems = validate_taxonomy_file(path)
    assert [p.where for p in problems] == ["(top level)"] and "colours" in problems[0].message


def test_unknown_source_is_one_clear_error():
    result = runner.invoke(app, ["taxonomy", "map", "zalando-catalog", "Dress"])
    assert result.exit_code == 1
    assert "no mapping for source 'zalando-catalog'" in result.output
