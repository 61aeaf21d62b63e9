"""Workbench as a local service for other programs: an MCP server (`workbench mcp`) and an
OpenAI-compatible HTTP endpoint (`workbench serve`). Front ends like cli/ and tui/: they reach
the core only through the facade."""
