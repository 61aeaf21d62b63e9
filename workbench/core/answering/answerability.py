"""Does the library say it? The model's own yes/no judgement, read before it answers.

Retrieval relevance cannot tell an on-topic question the sources answer from one they do not
(SQuAD 2.0's unanswerable questions are written to look answerable: same words, a changed
name, a negation). So after the sources and the question, and before any answer, the model
is asked whether the sources state the answer, and the probability it gives "yes" against
"no" is read from its next-token logits: one short forward pass on a prompt that shares its
whole prefix with the answer prompt, so the answer reuses the KV cache and costs a few tokens
more. Below the threshold ``ask`` declines, naming the closest sources instead of guessing.

Models are calibrated differently (a 0.5B model says "no" to most things), so the threshold
for each bundled model was measured on SQuAD 2.0 questions held out from the evaluation
sample (`workbench eval answers`); other models use a neutral 0.5, the point where the model
finds "no" likelier than "yes". ``min_answerable`` overrides both (0 turns the check off).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

CHECK_INSTRUCTION = "Do the sources above state the answer to this question? Reply yes or no."
YES_WORDS = ("yes", "Yes", "YES")
NO_WORDS = ("no", "No", "NO")
NEUTRAL = 0.5

# P(yes) thresholds measured per bundled model (see README, "Answer quality").
CALIBRATED: dict[str, float] = {
    "qwen2.5-coder-1.5b-instruct": 0.70,
    "qwen2.5-coder-0.5b-instruct": 0.20,
    # Its P(yes) sits near 0.27 whatever it reads (0.25 declines 24 % of unanswerable and 9 %
    # of answerable questions): too fragile to decide with, so the check is off for it.
    "smollm2-135m-instruct": 0.0,
}


@runtime_checkable
class YesNoJudge(Protocol):
    """A chat model that can say how likely its reply to ``messages`` starts with yes."""

    def yes_probability(self, messages: list[dict[str, str]]) -> float:
        """P(yes) / (P(yes) + P(no)) for the first token of the reply, in [0, 1]."""
        ...


def threshold(setting: float | str, model_name: str) -> float | None:
    """The P(yes) below which ``ask`` declines; None when the check is off."""
    value = CALIBRATED.get(model_name, NEUTRAL) if setting == "auto" else float(setting)
    return value if value > 0 else None
