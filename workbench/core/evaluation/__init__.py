"""Benchmarks: retrieval quality on BEIR data (``retrieval``), answer quality on SQuAD 2.0
(``squad`` loads and scores, ``answers`` asks), both behind the ``Evaluator`` service."""

from __future__ import annotations

from workbench.core.evaluation.service import Evaluator

__all__ = ["Evaluator"]
