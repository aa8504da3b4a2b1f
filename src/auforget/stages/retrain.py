"""`retrain -P freeze=i`: the forgetting measure for FreezeBi.

Takes pain model i, freezes all five conv blocks and trains new 8-class output layers on
AffectNet with the emotion stage's loss (weighted focal, gamma and beta from `emotion`). What
the retrained model cannot recognise any more, the conv blocks forgot during the pain transfer.
Registers `auforget-retrain`, tag freeze_blocks=i, alias freezeb<i>.

With `retrain.same_as_emotion` (the paper: the retraining is "the same as the emotion model")
the batch size, epochs, learning rate, momentum, weight decay and patience come from `emotion`
instead of `retrain`; with `retrain.cached_features: false` each epoch sees freshly augmented
images (flips), as the emotion model did, rather than a cached view.
What is trained and how is `recipes.retrain_recipe`.
"""

from __future__ import annotations

from auforget.core.config import Params
from auforget.workflow.recipes import retrain_recipe, run_recipe


def run_retrain(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    return run_recipe(retrain_recipe(params), params, progress=progress, reuse=reuse)
