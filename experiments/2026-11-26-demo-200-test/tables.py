"""Markdown tables of the README's "What the demo run produces" from a study's metrics/*.json.

    python experiments/2026-11-26-demo-200-test/tables.py METRICS_DIR
    python experiments/2026-11-26-demo-200-test/tables.py METRICS_DIR --seeds

METRICS_DIR is a study's metrics/ folder (or a copy of it, as run.sh makes).
"""

import json
import sys
from pathlib import Path

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")


def main(metrics: Path) -> None:
    load = lambda name: json.loads((metrics / f"{name}.json").read_text())  # noqa: E731
    print(
        "| model | precision pain | recall pain | F1 pain | precision no pain | recall no pain "
        "| F1 no pain | macro F1 | accuracy |\n|---|---|---|---|---|---|---|---|---|"
    )
    for i in range(6):
        t = load(f"transfer-b{i}")
        cells = [
            t[f"test_{m}_{c}"] for c in ("pain", "no_pain") for m in ("precision", "recall", "f1")
        ]
        print(
            f"| FreezeB{i} | "
            + " | ".join(f"{v:.2f}" for v in cells + [t["test_f1_macro"], t["test_accuracy"]])
            + " |"
        )
    f = load("forgetting")
    print("\n| recall | " + " | ".join(EMOTIONS) + " | macro |\n|" + "---|" * 10)
    for label, key in [("base emotion model", "base")] + [
        (f"FreezeB{i} retrained", f"b{i}") for i in range(6)
    ]:
        row = [f[f"recall_{e}_{key}"] for e in EMOTIONS]
        print(
            f"| {label} | "
            + " | ".join(f"{v:.2f}" for v in row)
            + f" | {sum(row) / len(row):.2f} |"
        )
    print("\nHolm-significant against FreezeB5 (alpha 0.05):")
    for e in EMOTIONS:
        for i in range(5):
            p = f[f"mcnemar_p_holm_{e}_b{i}_vs_b5"]
            if p < 0.05:
                b5, bi = f[f"recall_{e}_b5"], f[f"recall_{e}_b{i}"]
                print(f"  {e} B{i}: {b5:.2f} -> {bi:.2f}, Holm p {p:.2g}")
    print("\nplanted:", json.dumps(load("planted"), indent=1))
    print("promote:", load("promote"))
    s = load("saliency")
    print("saliency:", {k: v for k, v in s.items() if k.startswith("saliency_")})


def _p(p: float) -> str:
    """The metrics keep six decimals, so a p below 1e-6 is stored as 0."""
    return "< 1e-6" if p < 1e-6 else f"{p:.2g}"


def seeds(metrics: Path) -> None:
    """The across-seed view: forgetting B0 - B5 per emotion, its interval and combined Holm p."""
    f = json.loads((metrics / "forgetting.json").read_text())
    print(
        "| emotion | mean recall difference B0 - B5 | 95 % interval | combined p (Holm) |\n"
        "|---|---|---|---|"
    )
    for e in EMOTIONS:
        k = f"{e}_b0_vs_b5"
        print(
            f"| {e} | {f[f'seed_diff_mean_{k}']:+.3f} | [{f[f'seed_diff_low_{k}']:+.3f}, "
            f"{f[f'seed_diff_high_{k}']:+.3f}] | {_p(f[f'seed_p_holm_{k}'])} |"
        )
    p = json.loads((metrics / "planted.json").read_text())
    print({k: v for k, v in p.items() if k.startswith("seeds_")})


if __name__ == "__main__":
    if sys.argv[2:] == ["--seeds"]:
        seeds(Path(sys.argv[1]))
    else:
        main(Path(sys.argv[1]))
