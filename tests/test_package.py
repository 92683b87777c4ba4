import subprocess
import sys


def test_import_curate_keeps_heavy_dependencies_out():
    code = (
        "import sys, curate, curate.taxonomy, curate.dataset, curate.textnorm, curate.recipes, curate.parallel;"
        "heavy = [m for m in ('tensorflow', 'fiftyone', 'keras', 'albumentations', 'torch') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
