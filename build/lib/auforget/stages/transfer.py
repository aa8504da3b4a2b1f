"""`transfer -P freeze=i`: FreezeBi, the pain model fine-tuned from the base emotion model.

Copies `auforget-emotion@base`, freezes its first i conv blocks, gives it fresh output layers
for pain vs no pain (PSPI > 0), and trains on UNBC-McMaster with the study's unweighted focal
loss (gamma 2) and pain augmentations. Registers a new `auforget-pain` version, tag
freeze_blocks=i, alias freezeb<i>. What is trained and how is `recipes.transfer_recipe`, which
tune's trials build too.
"""

from __future__ import annotations

from auforget.core.config import Params
from auforget.workflow.recipes import run_recipe, transfer_recipe


def run_transfer(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    return run_recipe(transfer_recipe(params), params, progress=progress, reuse=reuse)
