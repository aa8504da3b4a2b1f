"""How much of AU14's effect at the last block other AUs share, on the demo's FreezeB5.

Run in a study folder: per selection person (seed 20,000, 24 people), the cosine between AU14's
difference vector at the last block's output (face showing it minus the same face at rest,
flattened) and each other drawn AU's; the mean over people, largest first. A diagnostic of the
outcome, not an arm of the plan.

    python overlap.py
"""

from __future__ import annotations

import torch

from auforget.core.config import load_params
from auforget.data.face_pairs import drawn_aus, render_pairs
from auforget.nn import lesion
from auforget.nn.backbones import N_BLOCKS
from auforget.tracking import connection, registry


def main() -> None:
    params = load_params("params.yaml")
    connection.configure(params.tracking)
    b5, _ = registry.load_model(
        registry.RETRAIN_MODEL,
        registry.freeze_alias(N_BLOCKS),
        hint="",
        profile=params.model.profile,
    )
    b5 = b5.eval()
    au = params.controls.au
    pairs = render_pairs(drawn_aus(), 24, b5.profile.image_size, 20_000)
    rest = lesion.last_block(b5, pairs.rest).flatten(1)
    diff = {a: lesion.last_block(b5, pairs.shown[a]).flatten(1) - rest for a in drawn_aus()}
    cos = {
        a: float(torch.nn.functional.cosine_similarity(diff[au], d, dim=1).mean())
        for a, d in diff.items()
        if a != au
    }
    for a, c in sorted(cos.items(), key=lambda kv: -kv[1]):
        print(f"AU{au} vs AU{a}: mean cosine {c:.3f}")


if __name__ == "__main__":
    main()
