"""The Textual terminal UI. Talks to the core only through the Workbench facade."""
