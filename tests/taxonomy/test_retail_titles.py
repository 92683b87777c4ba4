"""Real retail titles: qualified generic heads, homonyms, regional garments, common words, extras
after "with", typos and the exclusions of personal care, innerwear and accessories."""

import pytest

from curate.taxonomy import TitleCategoriser, load_taxonomy
from curate.taxonomy.typos import TypoIndex, edit_distance


@pytest.fixture(scope="module")
def categoriser():
    return TitleCategoriser()


# title -> (category, object type)
GARMENTS = {
    # a generic head noun with a qualifier resolves through the taxonomy
    "Puma Men Axis White & Grey Sports Shoes": ("trainers", "footwear"),
    "Arrow Men Black Formal Shoes": ("flats", "footwear"),
    "Red Tape Men Brown Formal Shoe": ("flats", "footwear"),
    "Timberland Men Tan Casual Shoes": (None, "footwear"),
    # footwear words the taxonomy did not know
    "ADIDAS Men Henrio Brown Floater": ("sandals", "footwear"),
    "Bata Men Brown Slippers": ("sandals", "footwear"),
    "Senorita Women Red Wedges": ("heels", "footwear"),
    "Nike Men's Trophy Woven Black Short": ("shorts", "lower-body"),
    # tunic: a top on its own, a dress style in "tunic dress"
    "Fabindia Women Red Kalamkari Tunic": (None, "upper-body"),
    "Remanika Women Peach Tunic Dress": ("dresses", "full-body"),
    # regional garments named in the taxonomy, outside the categories
    "Diva Women Beige Kurti": (None, "upper-body"),
    "W Women Printed Beige Kurta": (None, "upper-body"),
    "FNF Orange & Cream Collection For Wedding Sari": (None, "full-body"),
    "Fabindia Women Printed Green Patiala": ("trousers", "lower-body"),
    # what follows "with" is an extra, not the product
    "Biba Women Blue Printed Churidar Kurta with Dupatta": (None, "upper-body"),
    "Mango Women Floral Dress with Belt": ("dresses", "full-body"),
}

EXCLUDED = {
    "Chromozome Men Black Innerwear  T-shirt": "lingerie and underwear",
    "Levis Men Black & Grey Innerwear Vest": "lingerie and underwear",
    "Enamor Women Fashion Brief": "lingerie and underwear",
    "Jockey Men Blue Trunks": "lingerie and underwear",
    "Speedo Men Navy Swim Trunks": "swimwear",
    "SDL by Sweet Dreams Women White Night suits": "lingerie and underwear",
    "DKNY Men Red Delicious Perfume": "personal care",
    "Police Women Gold Wings Deo": "personal care",
    "Lakme Absolute Fast & Fabulous Purple Plunge Nail Polish 12": "personal care",
    "Police Passion Men Fragrance Gift Set": "personal care",
    "Reid & Taylor Men Blue Silk Knot Cufflinks": "accessories",
    "Fabindia Women Off White Chanderi Dupatta": "accessories",
    "ToniQ Women Pink Set of 6 Bangles": "jewellery",
    "Estelle Women Gold Pendant with Chain": "jewellery",
    "Spalding 150 SZ Brown Basketball": "sports equipment",
}


@pytest.mark.parametrize("title,expected", GARMENTS.items())
def test_retail_garment_titles(categoriser, title, expected):
    label = categoriser.categorise(title)
    assert (label.category, label.object_type) == expected, label
    assert label.excluded is None and label.rule


@pytest.mark.parametrize("title,group", EXCLUDED.items())
def test_retail_exclusions(categoriser, title, group):
    label = categoriser.categorise(title)
    assert label.excluded == group, label
    assert label.category is None and "excluded" in label.rule


def test_regional_garment_rule_says_outside_the_categories(categoriser):
    label = categoriser.categorise("Mother Earth Women Blue Printed Kurti")
    assert label.rule == "head noun 'kurti': upper-body, outside the categories"
    assert label.pattern is None  # "printed" is no pattern of the taxonomy


def test_common_words_never_decide_alone(categoriser):
    assert categoriser.categorise("Jealous 21 Women Fashion Pack").category is None
    assert categoriser.categorise("Running").object_type is None
    # ... but they still qualify a generic head noun, and distinctive styles still decide alone
    assert categoriser.categorise("Mens Running Shoes").category == "trainers"
    assert categoriser.categorise("Stone Chinos").category == "trousers"


def test_title_naming_no_garment_is_left_unmapped(categoriser):
    label = categoriser.categorise("Ant Kids Boy's White Check Kidswear")
    assert label.object_type is None and label.rule == "no category term"


def test_typos_of_long_product_nouns_are_read_and_reported(categoriser):
    label = categoriser.categorise("Levis Men Black Trouzers")
    assert label.category == "trousers"
    assert "typo 'trouzers' read as 'trousers'" in label.notes
    # a jacket and its plural mean the same thing: still one answer
    assert categoriser.categorise("Roadster Men Olive Jackett").category == "coats & jackets"
    # the brand (first word) and short words are never corrected
    assert categoriser.categorise("Trouzers Men Black Tee").notes == ()
    assert categoriser.categorise("Zara Shrt").category is None


def test_typos_never_turn_a_word_into_an_exclusion(categoriser):
    # "Calogne" is a model name one letter from "cologne"
    label = categoriser.categorise("Puma Men Calogne Graphic Navy Blue T-shirt")
    assert label.category == "t-shirts" and label.notes == ()


def test_typo_index_needs_one_meaning():
    index = TypoIndex({"shorts": "shorts", "shirts": "shirts", "jacket": "coats", "jackets": "coats"})
    assert index.correct("jackett") == "jacket"
    assert index.correct("shorts") == "shorts"
    assert index.correct("sharts") is None  # one edit from both shorts and shirts
    assert index.correct("printed") is None


@pytest.mark.parametrize("a,b,d", [("sandal", "sandal", 0), ("sandal", "snadal", 1), ("sweater", "sweaetr", 1), ("kurta", "kurti", 1), ("abcdef", "fedcba", 4)])
def test_edit_distance(a, b, d):
    """Capped at the limit + 1."""
    assert edit_distance(a, b, 3) == d


def test_taxonomy_names_garments_and_common_words():
    tax = load_taxonomy()
    assert {"kurta", "kurti", "tunic"} <= set(tax.garments["upper-body"])
    assert "saree" in tax.garments["full-body"]
    assert "fashion" in tax.common_words
    assert "personal care" in tax.exclusions
