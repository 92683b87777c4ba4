"""`curate demo`: the whole toolkit on rendered Fashion-MNIST product shots.

    recipe.py         the demo recipe (recipes/demo.yaml)
    runner.py         the cached step runner (a step runs only when what it reads changed)
    steps.py          the demo's steps (DEMO_STEPS) and run_demo
    summary.py        the summary tables, Markdown and JSON
    scenes.py         rendered product photography: flat-lays, outfits, synthetic patterns
    scene_dataset.py  an imported Fashion-MNIST dataset -> a dataset of rendered scenes
    synthetic.py      seeded synthetic data for the tests and benchmarks
"""

from curate.demo.recipe import DEMO_RECIPE_PATH, DemoRecipe, load_demo_recipe, stage_recipe
from curate.demo.runner import STATE_FILE, RunContext, Step, StepOutcome, missing_needs, run_steps
from curate.demo.steps import DEMO_STEPS, run_demo
from curate.demo.summary import SUMMARY_FILE, figure_rows, summary_tables

__all__ = [
    "DEMO_RECIPE_PATH", "DEMO_STEPS", "STATE_FILE", "SUMMARY_FILE", "DemoRecipe", "RunContext", "Step", "StepOutcome",
    "figure_rows", "load_demo_recipe", "missing_needs", "run_demo", "run_steps", "stage_recipe", "summary_tables",
]
