import subprocess
import sys


def test_catalogue_modules_keep_heavy_dependencies_out():
    code = (
        "import sys, curate.search, curate.label_noise, curate.photography, curate.embeddings, curate.review_insights,"
        " curate.category_model, curate.catalogue, curate.cli.main;"
        "heavy = [m for m in ('tensorflow', 'fiftyone', 'keras', 'faiss', 'sklearn', 'matplotlib') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
