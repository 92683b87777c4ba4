"""The `curate` command line: one Typer module per command group, registered in main.py."""
