"""`curate demo --quick` end to end, twice: the second run reuses every step and prints the same tables."""

import json

import pytest
from typer.testing import CliRunner

from curate import demo
from curate.cli.main import app
from curate.dataset import read_dataset


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "quick"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--quick", "--out", str(out)])
    summary_first = (out / demo.SUMMARY_FILE).read_text()
    second = runner.invoke(app, ["demo", "--quick", "--out", str(out)])
    return out, first, second, summary_first


def expected_status() -> dict[str, str]:
    """ok for every step whose toolkit functions are installed, else missing/blocked."""
    status: dict[str, str] = {}
    for step in demo.DEMO_STEPS:
        if any(status[name] != "ok" for name in step.after):
            status[step.name] = "blocked"
        elif step.run is None or demo.missing_needs(step.needs):
            status[step.name] = "missing"
        else:
            status[step.name] = "ok"
    return status


def test_every_installed_step_runs_and_missing_ones_are_reported(quick_runs):
    out, first, _, _ = quick_runs
    summary = json.loads((out / demo.SUMMARY_FILE).read_text())
    assert {name: s["status"] for name, s in summary["steps"].items()} == expected_status()
    complete = all(s == "ok" for s in expected_status().values())
    assert first.exit_code == (0 if complete else 1), first.output
    if complete:
        assert "curate review" in first.output
    else:
        assert "the demo is incomplete" in first.output


def test_figures_come_from_the_real_steps(quick_runs):
    out, *_ = quick_runs
    figures = json.loads((out / demo.SUMMARY_FILE).read_text())["figures"]
    recipe = demo.load_demo_recipe(quick=True)
    per_class = recipe.data.train_per_class + recipe.data.test_per_class
    assert figures["import"]["dropped"] == {"Bag (accessory)": per_class}
    assert figures["import"]["garments_mapped"] == 9 * per_class
    assert figures["render"]["flat_lays"] == sum(recipe.scenes.flat_lays.values())
    assert figures["render"]["outfits"] == sum(recipe.scenes.outfits.values())
    assert figures["autobox"]["iou_median"] >= 0.9
    before = figures["report_before"]["object types"]
    assert before["MeanIR"] > 1.0


def test_gold_holds_exactly_the_scenes_made_from_official_test_items(quick_runs):
    out, *_ = quick_runs
    images = read_dataset(out / "datasets" / "split").images
    assert ((images["split"] == "gold") == (images["official_split"] == "test")).all()
    balanced = read_dataset(out / "datasets" / "balanced").images
    augmented = balanced[balanced["parent_image_id"].notna()]
    assert len(augmented) and (augmented["split"] == "train").all()


def test_second_run_reuses_every_step_and_prints_the_same_tables(quick_runs):
    out, first, second, summary_first = quick_runs
    assert (out / demo.SUMMARY_FILE).read_text() == summary_first
    assert second.exit_code == first.exit_code
    ran = [name for name, status in expected_status().items() if status == "ok"]
    step_lines = second.output[: second.output.index("curate demo: steps")].splitlines()
    assert sum(line.strip().startswith("reused") for line in step_lines) == len(ran)
    assert not any(line.strip().startswith("done") for line in step_lines)
    results = lambda text: text[text.index("curate demo: results"):]
    assert results(second.output) == results(first.output)
