import pkgutil
import subprocess
import sys

import curate

# Edge modules import their heavy dependency inside functions; everything else never does.
HEAVY = ("tensorflow", "fiftyone", "keras", "albumentations", "torch", "faiss")


def test_importing_every_module_keeps_heavy_dependencies_out():
    modules = sorted(m.name for m in pkgutil.walk_packages(curate.__path__, "curate."))
    code = (
        f"import sys, importlib\nfor name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert "curate.cli.main" in modules and "curate.review" in modules and "curate.models.detector" in modules
