"""Workbench plugin: OpenAI-compatible servers as a remote chat and embedding backend."""

from workbench_openai.client import OpenAIChat, list_models

__all__ = ["OpenAIChat", "list_models"]
