"""Research diagnostics of the tiny profile: fast inner loops that explain a benchmark number (scene binding,
grounding through the image path, the LLM's scene reading). No lineage stage depends on them; they read checkpoints
and foundations that the lineage built. docs/understanding.md records what each measured."""
