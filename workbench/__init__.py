"""Workbench: a local-first AI workbench over the folders you point it at."""

__version__ = "0.1.0"
