"""Chat backends: the built-in llama.cpp runtime; plugins add more via ``register_backends``."""
