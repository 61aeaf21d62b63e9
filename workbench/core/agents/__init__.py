"""Agents: a local model that uses tools over the library (search, read, list, inspect,
calculate) one schema-valid step at a time, confined to the library's folders, and answers
with checked citations. See ``runner.py`` for the loop, ``steps.py`` for what a step may be,
``tools.py`` for the built-in tools and ``confinement.py`` for where they may reach."""
