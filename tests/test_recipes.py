import pytest

from curate.errors import CurateError
from curate.recipes import RecipeModel, load_recipe, recipe_to_yaml


class Split(RecipeModel):
    seed: int = 0
    ratios: list[float] = [0.8, 0.1, 0.1]


class Build(RecipeModel):
    name: str
    split: Split = Split()


def test_unknown_key_names_file_and_key(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: demo\nsplit:\n  seed: 1\n  stratify_by: colour\n")
    with pytest.raises(CurateError) as err:
        load_recipe(Build, path)
    assert str(path) in str(err.value) and "split.stratify_by" in str(err.value) and "unknown key" in str(err.value)


def test_overrides_and_resolved_dump(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: demo\n")
    recipe = load_recipe(Build, path, ["split.seed=7", "split.ratios=[0.7, 0.2, 0.1]"])
    assert recipe.split.seed == 7 and recipe.split.ratios == [0.7, 0.2, 0.1]
    assert "seed: 7" in recipe_to_yaml(recipe)
    with pytest.raises(CurateError, match="expected key=value"):
        load_recipe(Build, path, ["split.seed"])
    with pytest.raises(CurateError, match="split.seed"):
        load_recipe(Build, path, ["split.seed=many"])


class Input(RecipeModel):
    path: str
    options: dict = {}


class Inputs(RecipeModel):
    inputs: list[Input]


def test_overrides_index_lists(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("inputs:\n  - path: a.csv\n  - path: b.csv\n")
    recipe = load_recipe(Inputs, path, ["inputs.1.path=/data/b.csv", "inputs.0.options.images=/data/{id}.jpg"])
    assert [i.path for i in recipe.inputs] == ["a.csv", "/data/b.csv"] and recipe.inputs[0].options == {"images": "/data/{id}.jpg"}
    with pytest.raises(CurateError, match=r"'inputs' is a list of 2, expected an index 0..1, found '2'"):
        load_recipe(Inputs, path, ["inputs.2.path=c.csv"])
    with pytest.raises(CurateError, match=r"'inputs.0.path' is not a mapping"):
        load_recipe(Inputs, path, ["inputs.0.path.x=1"])
