"""One LLM pass over a mixed microbatch.

Understanding and text rows (right-padded sequences) and generation rows (left-padded prompt, time token, latent
tokens) go through the LLM together, padded to one length: the AR rows on the right and the generation rows on
the left, so that every generation row still ends with its latent tokens and every row keeps its own positions.

Why one pass: FSDP with one unit per decoder layer gathers a layer's weights with a collective each time the layer
runs, so every rank must run every layer equally often per microbatch, whichever data types it drew; one pass per
microbatch holds that on every rank. It is also one larger matrix product instead of up to three.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from janusflow.modeling import JanusFlowModel


@dataclass
class Rows:
    """LLM input rows: embeddings [B, L, D], the attention mask [B, L] and position ids [B, L]."""

    embeds: torch.Tensor
    attention: torch.Tensor
    positions: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.embeds.shape[1])

    def padded(self, length: int, side: str) -> Rows:
        """These rows padded to ``length`` on ``side`` with masked-out slots (zero embeddings, position 0)."""
        extra = length - self.length
        if extra == 0:
            return self
        pad = (extra, 0) if side == "left" else (0, extra)
        return Rows(embeds=F.pad(self.embeds, (0, 0, *pad)), attention=F.pad(self.attention, pad),
                    positions=F.pad(self.positions, pad))

    @staticmethod
    def concatenated(parts: list[Rows]) -> Rows:
        """Rows of one length stacked into one batch."""
        if len({rows.length for rows in parts}) != 1:
            raise ValueError(f"rows of lengths {[rows.length for rows in parts]} cannot be stacked; pad them first.")
        return Rows(embeds=torch.cat([r.embeds for r in parts]), attention=torch.cat([r.attention for r in parts]),
                    positions=torch.cat([r.positions for r in parts]))


@dataclass
class JointHiddenStates:
    ar: torch.Tensor | None     # [B_ar, L_ar, D]: the AR rows' last hidden states (after the final norm)
    gen: torch.Tensor | None    # [B_gen, N, D]: the generation rows' last hidden states at their N latent slots
    repa: torch.Tensor | None   # [B_gen, N, D]: the same slots after decoder block ``repa_layer``


def joint_hidden_states(model: JanusFlowModel, ar: Rows | None, gen: Rows | None, n_latent: int = 0,
                        repa_layer: int | None = None) -> JointHiddenStates:
    """Run ``ar`` rows (right-padded) and ``gen`` rows (left-padded, ending with ``n_latent`` latent tokens) through
    the LLM in one call; ``repa_layer`` also returns the generation rows' states after that block."""
    parts = [rows for rows in (ar, gen) if rows is not None]
    if not parts:
        raise ValueError("joint_hidden_states needs AR rows, generation rows or both.")
    length = max(rows.length for rows in parts)
    joint = Rows.concatenated([rows.padded(length, "right" if rows is ar else "left") for rows in parts])
    out = model.language_model.model(inputs_embeds=joint.embeds, attention_mask=joint.attention,
                                     position_ids=joint.positions, use_cache=False,
                                     output_hidden_states=repa_layer is not None)
    n_ar = 0 if ar is None else ar.embeds.shape[0]
    hidden = out.last_hidden_state
    if gen is None:
        return JointHiddenStates(ar=hidden[:, :ar.length], gen=None, repa=None)
    repa = None if repa_layer is None else out.hidden_states[repa_layer][n_ar:, -n_latent:]
    return JointHiddenStates(ar=None if ar is None else hidden[:n_ar, :ar.length], gen=hidden[n_ar:, -n_latent:],
                             repa=repa)
