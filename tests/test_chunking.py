from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.core.extraction.documents import Block
from workbench.core.extraction.extractors import MarkdownExtractor
from workbench.core.index.chunking import chunk_blocks


def test_markdown_chunks_carry_heading_path_and_lines(embedder: Any) -> None:
    text = b"# Guide\n\nIntro text.\n\n## Setup\n\nInstall it.\n\n### Linux\n\nUse apt.\n"
    extraction = MarkdownExtractor().extract(Path("g.md"), text)
    chunks = chunk_blocks(extraction.blocks, embedder)
    assert [c.locator for c in chunks] == [
        {"lines": [3, 3], "heading": "Guide"},
        {"lines": [7, 7], "heading": "Guide > Setup"},
        {"lines": [11, 11], "heading": "Guide > Setup > Linux"},
    ]
    assert chunks[2].text == "Guide > Setup > Linux\n\nUse apt."


def test_code_fence_hash_is_not_a_heading(embedder: Any) -> None:
    text = b"# Real\n\n```sh\n# not a heading\necho hi\n```\n"
    extraction = MarkdownExtractor().extract(Path("g.md"), text)
    assert {b.heading for b in extraction.blocks} == {"Real"}


def test_long_block_is_split_within_token_limit(embedder: Any) -> None:
    lines = [f"line {i} " + "lorem ipsum dolor sit amet " * 6 for i in range(200)]
    block = Block("\n".join(lines), 1, 200, "Heading")
    chunks = chunk_blocks([block], embedder, max_tokens=256)
    assert len(chunks) > 5
    counts = embedder.count_tokens([c.text for c in chunks])
    assert max(counts) + 2 <= 256
    assert chunks[0].locator["lines"][0] == 1
    assert chunks[-1].locator["lines"][1] == 200
    # Line ranges tile the block in order.
    ends = [c.locator["lines"] for c in chunks]
    assert all(a[1] < b[0] for a, b in zip(ends, ends[1:], strict=False))


def test_single_huge_line_is_split_by_tokens(embedder: Any) -> None:
    block = Block("word " * 3000, 1, 1)
    chunks = chunk_blocks([block], embedder, max_tokens=128)
    assert max(embedder.count_tokens([c.text for c in chunks])) <= 126
    assert sum(c.text.count("word") for c in chunks) == 3000


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    paragraphs=st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
            min_size=1,
            max_size=2000,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_no_chunk_exceeds_the_embedder_limit(embedder: Any, paragraphs: list[str]) -> None:
    blocks = [Block(p, i + 1, i + 1, "H" * (i % 3)) for i, p in enumerate(paragraphs) if p.strip()]
    chunks = chunk_blocks(blocks, embedder, max_tokens=256)
    if chunks:
        assert max(embedder.count_tokens([c.text for c in chunks])) + 2 <= 256
