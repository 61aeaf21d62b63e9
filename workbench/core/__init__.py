"""The core: no Textual or Typer imports here (enforced by tests/test_layering.py)."""
