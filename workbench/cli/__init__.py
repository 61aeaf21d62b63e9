"""The headless command line (Typer)."""
