"""Statistics checked against values worked out by hand (in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auforget.analysis.stats import (
    corrected_resampled_t,
    holm,
    mcnemar,
    mcnemar_table,
    others_mean,
    paired_t,
    seed_interval,
    stouffer,
    top_share,
)


def _pairs(n00: int, n01: int, n10: int, n11: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors with the given 2x2 table (0 = wrong, 1 = right; first digit A)."""
    a = [False] * n00 + [False] * n01 + [True] * n10 + [True] * n11
    b = [False] * n00 + [True] * n01 + [False] * n10 + [True] * n11
    return np.array(a), np.array(b)


def _t3_two_sided(t: float) -> float:
    """Two-sided p of Student's t with 3 df, closed form:
    F(t) = 1/2 + (1/pi) * (t / (sqrt(3) (1 + t^2/3)) + atan(t / sqrt(3)))."""
    t = abs(t)
    cdf = 0.5 + (t / (math.sqrt(3) * (1 + t * t / 3)) + math.atan(t / math.sqrt(3))) / math.pi
    return 2 * (1 - cdf)


def test_mcnemar_exact_branch_by_hand():
    # Table (rows A wrong/right, cols B wrong/right): [[3, 1], [6, 4]].
    # n01 = 1 (A wrong, B right), n10 = 6; 7 discordant < 25 -> exact binomial.
    # p = 2 * P[Bin(7, 1/2) <= 1] = 2 * (C(7,0) + C(7,1)) / 2^7 = 2 * 8 / 128 = 0.125.
    a, b = _pairs(3, 1, 6, 4)
    r = mcnemar(a, b)
    assert (r.n01, r.n10, r.method) == (1, 6, "exact")
    assert r.statistic == 1.0
    assert r.pvalue == pytest.approx(0.125, abs=1e-12)


def test_mcnemar_exact_branch_one_sided_table():
    # n01 = 0, n10 = 5: p = 2 * C(5,0) / 2^5 = 2 / 32 = 0.0625;
    # swapping A and B swaps n01/n10, same p.
    a, b = _pairs(2, 0, 5, 2)
    r = mcnemar(a, b)
    assert (r.n01, r.n10) == (0, 5)
    assert r.pvalue == pytest.approx(0.0625, abs=1e-12)
    r2 = mcnemar(b, a)
    assert (r2.n01, r2.n10) == (5, 0)
    assert r2.pvalue == pytest.approx(0.0625, abs=1e-12)


def test_mcnemar_chi2_branch_with_continuity_correction_by_hand():
    # n01 = 10, n10 = 25: 35 discordant >= 25 -> chi-square with continuity correction.
    # X^2 = (|10 - 25| - 1)^2 / 35 = 14^2 / 35 = 196 / 35 = 5.6.
    # For 1 df, P[chi2 > x] = P[|Z| > sqrt(x)] = erfc(sqrt(x / 2)) = erfc(sqrt(2.8)) ~ 0.01797.
    a, b = _pairs(3, 10, 25, 7)
    r = mcnemar(a, b)
    assert (r.n01, r.n10, r.method) == (10, 25, "chi2")
    assert r.statistic == pytest.approx(5.6, abs=1e-12)
    assert r.pvalue == pytest.approx(math.erfc(math.sqrt(2.8)), rel=1e-9)
    assert r.pvalue == pytest.approx(0.01797, abs=5e-5)


def test_mcnemar_threshold_switches_branch():
    a, b = _pairs(0, 10, 25, 0)
    assert mcnemar(a, b, exact_below=36).method == "exact"
    assert mcnemar(a, b, exact_below=35).method == "chi2"


def test_mcnemar_no_discordant_pairs_is_p_one():
    a, b = _pairs(4, 0, 0, 6)
    r = mcnemar(a, b)
    assert (r.n01, r.n10, r.statistic, r.pvalue) == (0, 0, 0.0, 1.0)
    r = mcnemar(a, b, exact_below=0)  # chi2 branch would divide by zero
    assert r.pvalue == 1.0 and np.isfinite(r.statistic)


def test_mcnemar_accepts_0_1_and_rejects_bad_input():
    a, b = _pairs(3, 1, 6, 4)
    assert mcnemar(a.astype(int), b.astype(int)).pvalue == pytest.approx(0.125)
    with pytest.raises(ValueError, match=r"correct_a has 10 entries, correct_b has 9"):
        mcnemar(np.ones(10, bool), np.ones(9, bool))
    with pytest.raises(ValueError, match="0/1"):
        mcnemar([0, 1, 2], [0, 1, 1])


def test_holm_by_hand():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted ascending with multipliers m, m-1, ...:
    #   0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> running max 0.06.
    # Back in input order: [0.03, 0.06, 0.06, 0.02].
    np.testing.assert_allclose(
        holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], atol=1e-12
    )


def test_holm_nan_safe_and_capped():
    out = holm([0.01, np.nan, 0.04, 0.03, 0.005])  # NaN does not count as a test
    np.testing.assert_allclose(out, [0.03, np.nan, 0.06, 0.06, 0.02], atol=1e-12)
    # [0.5, 0.6]: 0.5 * 2 = 1.0, 0.6 * 1 -> max(1.0, 0.6) = 1.0
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    assert holm([]).shape == (0,)
    assert np.isnan(holm([np.nan])).all()


def test_holm_equals_statsmodels_bit_for_bit():
    import gc

    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    gc.freeze()  # multipletests runs gc.collect per call; frozen objects make that quick
    try:
        for n in (1, 2, 8, 21, 40):
            p = np.round(rng.random(n) ** 3, 2)  # rounding makes ties
            np.testing.assert_array_equal(holm(p), multipletests(p, method="holm")[1])
    finally:
        gc.unfreeze()


# Per-repetition scores used below: d = a - b = [0.1, 0, 0.1, 0.1], J = 4,
# mean 0.075, deviations [0.025, -0.075, 0.025, 0.025], sum of squares 0.0075, s^2 = 0.0025.
A = [0.9, 0.8, 0.85, 0.95]
B = [0.8, 0.8, 0.75, 0.85]


def test_paired_t_by_hand():
    # plain: t = 0.075 / sqrt(0.0025 / 4) = 0.075 / 0.025 = 3.0, df = 3.
    t, p = paired_t(A, B)
    assert t == pytest.approx(3.0, rel=1e-9)
    assert p == pytest.approx(_t3_two_sided(3.0), rel=1e-9)
    t2, p2 = paired_t(B, A)
    assert t2 == pytest.approx(-3.0, rel=1e-9) and p2 == pytest.approx(p)


def test_paired_t_identical_inputs():
    assert paired_t([0.5, 0.7, 0.9], [0.5, 0.7, 0.9]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="a has 3, b has 2"):
        paired_t([1, 2, 3], [1, 2])


def test_corrected_resampled_t_by_hand():
    # n_train = n_test (2-fold): variance factor 1/J + 1 = 1.25,
    # t = 0.075 / sqrt(1.25 * 0.0025) = 1.5 / sqrt(1.25) = 1.3416408, df = 3.
    t, p = corrected_resampled_t(A, B, n_train=300, n_test=300)
    assert t == pytest.approx(1.5 / math.sqrt(1.25), rel=1e-9)
    assert p == pytest.approx(_t3_two_sided(1.5 / math.sqrt(1.25)), rel=1e-9)
    # n_train = 3 n_test: factor 1/4 + 1/3 = 7/12, t = 1.5 / sqrt(7/12) = 1.9639610.
    t, p = corrected_resampled_t(A, B, n_train=450, n_test=150)
    assert t == pytest.approx(1.5 / math.sqrt(7 / 12), rel=1e-9)
    assert p == pytest.approx(_t3_two_sided(1.5 / math.sqrt(7 / 12)), rel=1e-9)
    # always at least as conservative as the plain test
    assert p > paired_t(A, B)[1]


def test_corrected_resampled_t_degenerate():
    assert corrected_resampled_t([0.5, 0.6], [0.5, 0.6], 10, 10) == (0.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        corrected_resampled_t(A, B, n_train=0, n_test=10)


def test_mcnemar_table_holm_across_rows():
    pairs = {
        "B0 vs B5": _pairs(3, 1, 6, 4),
        "B1 vs B5": _pairs(2, 0, 5, 2),
        "B2 vs B5": _pairs(4, 0, 0, 6),
    }
    df = mcnemar_table(pairs, alpha=0.05)
    assert list(df["comparison"]) == list(pairs)
    assert list(df["n10"]) == [6, 5, 0]
    # raw p = [0.125, 0.0625, 1.0]; Holm: 0.0625*3 = 0.1875, 0.125*2 = 0.25, 1.0
    # -> [0.25, 0.1875, 1.0]
    np.testing.assert_allclose(df["pvalue_holm"], [0.25, 0.1875, 1.0], atol=1e-12)
    assert not df["significant"].any()


# ---- across training seeds, worked by hand


def test_seed_interval_by_hand():
    # [0.1, 0.3]: mean 0.2, sd sqrt(0.02 / 1) = 0.14142, se 0.1, t(0.975, 1 df) = 12.70620
    # -> 0.2 -/+ 1.27062
    ci = seed_interval([0.1, 0.3])
    assert ci.n == 2 and ci.available
    np.testing.assert_allclose([ci.mean, ci.low, ci.high], [0.2, -1.0706205, 1.4706205], atol=1e-6)
    # [0.1, 0.2, 0.3]: sd 0.1, se 0.057735, t(0.975, 2 df) = 4.302653 -> half width 0.248414
    ci = seed_interval([0.1, 0.2, 0.3])
    np.testing.assert_allclose([ci.mean, ci.low, ci.high], [0.2, -0.048414, 0.448414], atol=1e-6)


def test_seed_interval_with_one_seed_is_not_available():
    ci = seed_interval([0.4, float("nan")])
    assert (
        ci.n == 1
        and ci.mean == 0.4
        and math.isnan(ci.low)
        and math.isnan(ci.high)
        and not ci.available
    )
    assert seed_interval([]).n == 0


def test_stouffer_by_hand():
    # p = 0.05 twice, same direction: z = 1.959964 each, Z = 3.919928 / sqrt 2 = 2.771808,
    # p = 2 (1 - Phi(Z))
    assert stouffer([0.05, 0.05], [1, 1]) == pytest.approx(0.0055746, abs=1e-6)
    assert stouffer([0.05, 0.05], [-0.3, -0.1]) == pytest.approx(
        0.0055746, abs=1e-6
    )  # only the sign counts
    # opposite directions cancel: Z = 0, p = 1
    assert stouffer([0.05, 0.05], [1, -1]) == pytest.approx(1.0)
    # p 0.01 and 0.04, both negative: z = -2.575829, -2.053749; Z = -3.273606; p = 0.0010618
    assert stouffer([0.01, 0.04], [-1, -1]) == pytest.approx(0.0010618, abs=1e-6)
    # a seed without a difference adds z = 0 but counts: Z = 1.959964 / sqrt 2 = 1.385904,
    # p = 0.165776
    assert stouffer([0.05, 0.3], [1, 0]) == pytest.approx(0.165776, abs=1e-6)
    # one seed gives back its own p; NaN (a test that could not run) is left out
    assert stouffer([0.2], [-1]) == pytest.approx(0.2)
    assert stouffer([0.05, float("nan")], [1, 1]) == pytest.approx(0.05)
    assert math.isnan(stouffer([float("nan")], [1]))
    with pytest.raises(ValueError, match="one sign per p-value"):
        stouffer([0.1, 0.2], [1])


def test_top_share_counts_first_places():
    assert top_share([["mouth", "brows"], ["mouth"], ["brows", "mouth"], []]) == {
        "mouth": 2 / 3,
        "brows": 1 / 3,
    }
    assert top_share([]) == {}


def test_others_mean_leaves_out_each_row_and_missing_ones():
    # rows 1, 2, 3 and a NaN: row 0's others are 2 and 3 (2.5); the NaN row's are 1, 2, 3 (2.0).
    np.testing.assert_allclose(others_mean([1.0, 2.0, 3.0, float("nan")]), [2.5, 2.0, 1.5, 2.0])
    # emotions x seeds: each column on its own
    np.testing.assert_allclose(
        others_mean([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]), [[3.0, 4.0], [2.0, 3.0], [1.0, 2.0]]
    )
