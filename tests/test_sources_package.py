import subprocess
import sys


def test_sources_exporters_and_cli_keep_tensorflow_out():
    code = (
        "import sys, curate.importing, curate.sources, curate.exporters, curate.imageio, curate.cli.main;"
        "heavy = [m for m in ('tensorflow', 'fiftyone', 'keras', 'albumentations', 'torch') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
