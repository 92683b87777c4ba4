import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curate.cli.main import app
from curate.taxonomy import TitleCategoriser, load_taxonomy, normalise_text

runner = CliRunner()


@pytest.fixture(scope="module")
def categoriser():
    return TitleCategoriser()


# title -> (category, style, pattern); None category with a group name means excluded
CASES = {
    # the examples
    "Floral Shirt Dress": ("dresses", "shirt", "floral"),
    "Slim Fit Dress Shirt": ("shirts", None, None),
    "Aztec Print Jumper": ("sweaters", None, "ethnic"),
    "Faux Leather Biker Jacket": ("coats & jackets", "biker", None),
    "Chelsea Boots": ("boots", "chelsea", None),
    "Leopard Print Court Shoes": ("heels", "court", "animal print"),
    "Mens Running Trainers": ("trainers", "running", None),
    "Running Shorts": ("shorts", "running", None),
    "Boyfriend Jeans": ("jeans", "boyfriend", None),
    "Tie-Dye Hoodie": ("hoodies", None, "tie-dyed"),
    # more of our own
    "Jumper Dress": ("dresses", "jumper", None),
    "Black Biker Boots": ("boots", "biker", None),
    "Navy Blazer": ("formal jackets", "blazer", None),
    "Tailored Suit Jacket": ("formal jackets", None, None),
    "Stone Chinos": ("trousers", "chino", None),
    "Cargo Shorts": ("shorts", "cargo", None),
    "Cargo Trousers": ("trousers", "cargo", None),
    "Striped Breton Tee": ("t-shirts", None, "striped"),
    "Womens T-Shirt": ("t-shirts", None, None),
    "Oversized tshirt": ("t-shirts", None, None),
    "Grey Marl Pullover": ("sweaters", None, None),
    "Camo Joggers": ("trousers", "sweatpants", "camouflage"),
    "Black Skinny Pants": ("trousers", None, None),
    "Floral Romper": ("playsuits", None, "floral"),
    "White Sneakers": ("trainers", None, None),
    "Chunky Trainers": ("trainers", "chunky", None),
    "Nude Pumps": ("heels", "court", None),
    "Block Heel Mules": ("heels", "mules", None),
    "Polka Dot Wrap Dress": ("dresses", "wrap", "polka dots"),
    "Gingham Skater Skirt": ("skirts", "skater", "checked"),
    "Pencil Skirt": ("skirts", "pencil", None),
    "Leather Gladiator Sandals": ("sandals", "gladiator", None),
    "Flip Flops": ("sandals", "flip-flops", None),
    "Quilted Puffer Jacket": ("coats & jackets", "puffer", None),
    "Trench Coat": ("coats & jackets", "trench", None),
    "Denim Jacket": ("coats & jackets", "trucker", None),
    "Polo Shirt": ("t-shirts", "polo", None),
    "Tie Front Blouse": ("blouses", "tie-front", None),
    "Waterfall Cardigan": ("cardigans", "waterfall", None),
    "Mom Jeans": ("jeans", "mom", None),
    "Wide Leg Trousers": ("trousers", None, None),
    "High-Top Sneakers": ("trainers", "high-top", None),
    "Tartan Mini Skirt": ("skirts", None, "tartan"),
    "Fair Isle Cardigan": ("cardigans", None, "fair isle"),
    "Paisley Shirt": ("shirts", None, "paisley"),
    "Satin Cami Top": ("camis", None, None),
    "Ribbed Vest Top": ("tanks", None, None),
    "Wool Poncho": ("shawls & capes & ponchos", None, None),
    "Boiler Suit": ("jumpsuits", None, None),
    "Ballet Flats": ("flats", "ballerinas", None),
    "Flat Shoes": ("flats", None, None),
    "Sock Boots": ("boots", "sock", None),
    "Wellington Boots": ("boots", "wellies", None),
    "Shirtdress": ("dresses", "shirt", None),
}

EXCLUDED = {
    "Leather Tote Bag": "bags",
    "Bikini Top": "swimwear",
    "Swim Shorts": "swimwear",
    "Padded Bra": "lingerie and underwear",
    "Ankle Socks": "socks",
    "Woven Leather Belt": "belts",
    "Gold Hoop Earrings": "jewellery",
    "Bucket Hat": "hats",
    "Silk Scarf": "accessories",
    "Satin Pyjamas": "lingerie and underwear",
}


@pytest.mark.parametrize("title, expected", CASES.items())
def test_categorise(categoriser, title, expected):
    label = categoriser.categorise(title)
    assert (label.category, label.style, label.pattern) == expected, label
    assert label.excluded is None
    assert label.object_type == load_taxonomy().object_type_of(expected[0])
    assert label.rule


@pytest.mark.parametrize("title, group", EXCLUDED.items())
def test_excluded(categoriser, title, group):
    label = categoriser.categorise(title)
    assert label.excluded == group and label.category is None
    assert "excluded" in label.rule


def test_head_noun_decides_between_homonyms(categoriser):
    assert "head noun 'dress'" in categoriser.categorise("Floral Shirt Dress").rule
    assert "head noun 'shirt'" in categoriser.categorise("Slim Fit Dress Shirt").rule


def test_two_styles_keep_the_nearest_and_report_the_other(categoriser):
    label = categoriser.categorise("Pencil Bodycon Dress")
    assert label.style == "bodycon"
    assert any("'pencil'" in note and "kept 'bodycon'" in note for note in label.notes)


def test_style_not_allowed_for_the_category_is_ignored_and_reported(categoriser):
    label = categoriser.categorise("Chelsea Trousers")
    assert label.category == "trousers" and label.style is None
    assert any("'chelsea' ignored: not a style of trousers" in n for n in label.notes)


def test_generic_head_without_category(categoriser):
    label = categoriser.categorise("Black Satin Top")
    assert label.category is None and label.object_type == "upper-body"
    assert label.rule == "generic head noun 'top'"
    assert categoriser.categorise("Mystery Item").rule == "no category term"


def test_style_shared_by_several_categories_gives_the_object_type_only(categoriser):
    label = categoriser.categorise("Suede Mules")
    assert label.category is None and label.object_type == "footwear"
    assert label.rule == "style 'mules' belongs to several categories (flats, heels)"


def test_other_attributes_are_collected_for_the_category(categoriser):
    label = categoriser.categorise("High Waisted Skinny Jeans")
    assert label.attributes == ("rise:high rise", "leg style:skinny")
    # rise does not apply to upper-body garments
    assert categoriser.categorise("High Waisted Cropped Shirt").attributes == ("length:cropped",)


def test_normalisation():
    assert normalise_text("  Women's  D'Orsay—Heels ") == "women d'orsay—heels"
    assert normalise_text("T-SHIRT/TOP") == "t shirt top"
    assert normalise_text("Tie-Dye, Hoodie!") == "tie dye hoodie"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_label_without_crashing(title):
    label = _CATEGORISER.categorise(title)
    assert label.title == title
    if label.category is not None:
        assert label.object_type == load_taxonomy().object_type_of(label.category)
        assert label.style is None or load_taxonomy().allows_style(label.category, label.style)


_CATEGORISER = TitleCategoriser()


def test_categorise_command_table_and_json():
    result = runner.invoke(app, ["categorise", "Floral Shirt Dress", "Leather Tote Bag"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "dresses" in result.output and "excluded (bags)" in result.output
    result = runner.invoke(app, ["categorise", "--json", "Chelsea Boots"])
    record = json.loads(result.output)
    assert record["category"] == "boots" and record["style"] == "chelsea" and record["rule"] == "head noun 'boots'"
