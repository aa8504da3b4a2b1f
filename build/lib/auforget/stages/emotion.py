"""`emotion`: the base emotion classifier on AffectNet (8 classes).

The study: VGG16, weighted focal loss (gamma 5, class-balanced weights with beta 0.99998),
SGD at lr 0.01, horizontal flips. Registers `auforget-emotion`, alias `base`. What is trained
and how is `recipes.emotion_recipe`, which tune's trials build too.
"""

from __future__ import annotations

from auforget.core.config import Params
from auforget.workflow.recipes import emotion_recipe, run_recipe


def run_emotion(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    return run_recipe(emotion_recipe(params), params, progress=progress, reuse=reuse)
