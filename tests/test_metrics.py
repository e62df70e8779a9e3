"""Tests for nanogen/metrics.py: each number against a brute-force count or a closed form."""

import math

import numpy as np
import pytest

from nanogen import metrics as M


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------- auroc

def brute_force_auroc(s, y):
    """Mean over all (positive, negative) pairs of [s_pos > s_neg] + 0.5 [s_pos == s_neg]."""
    pos, neg = s[y == 1], s[y == 0]
    diff = pos[:, None] - neg[None, :]
    return np.mean((diff > 0) + 0.5 * (diff == 0))


@pytest.mark.parametrize("n, n_levels", [(2, 3), (7, 2), (60, 5), (301, 1000)])
def test_auroc_matches_pair_count_with_ties(n, n_levels, rng):
    s = rng.integers(0, n_levels, n).astype(np.float64)        # few levels: many ties
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1                                           # both classes present
    assert M.auroc(s, y) == pytest.approx(brute_force_auroc(s, y), abs=1e-12)


def test_auroc_perfect_inverted_tied_random(rng):
    y = np.r_[np.zeros(50), np.ones(50)]
    s = np.arange(100.0)
    assert M.auroc(s, y) == 1.0
    assert M.auroc(-s, y) == 0.0
    assert M.auroc(np.ones(100), y) == 0.5                      # every pair tied
    y_rand = rng.integers(0, 2, 4000)
    assert abs(M.auroc(rng.standard_normal(4000), y_rand) - 0.5) < 0.03
    assert M.auroc(s, y.astype(bool)) == 1.0                    # bool labels as well


def test_auroc_bad_input_raises():
    with pytest.raises(ValueError, match="both classes"):
        M.auroc([0.1, 0.2, 0.3], [1, 1, 1])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        M.auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="0/1"):
        M.auroc([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.raises(ValueError, match="NaN"):
        M.auroc([0.1, np.nan, 0.3], [0, 1, 1])
    with pytest.raises(ValueError, match=r"\(N,\)"):
        M.auroc(np.zeros((3, 2)), [0, 1, 1])


def test_roc_curve_known_small_case():
    fpr, tpr, thr = M.roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thr, [np.inf, 0.8, 0.4, 0.35, 0.1])


def test_roc_curve_endpoints_monotone_and_area_equals_auroc(rng):
    s = rng.integers(0, 8, 200).astype(np.float64)             # ties: diagonal segments
    y = rng.integers(0, 2, 200)
    fpr, tpr, thr = M.roc_curve(s, y)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.all(np.diff(thr) < 0)
    assert len(thr) == len(np.unique(s)) + 1
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)     # trapezoid rule
    assert area == pytest.approx(M.auroc(s, y), abs=1e-12)


@pytest.mark.parametrize("scores, labels, want", [
    ([1.0, 1.0, 0.0], [1, 0, 1], 0.25),                         # (1 vs 1) tie = 1/2, (0 vs 1) lost = 0
    ([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0, 0], 5 / 6),         # 3 wins + (2 ties = 1) + 1 win, of 6 pairs
    ([0.2, 0.2, 0.2, 0.2], [0, 1, 0, 1], 0.5),                  # all tied
    ([3.0, 1.0, 2.0], [0, 1, 0], 0.0),                          # the positive lowest
])
def test_auroc_hand_computed_with_ties(scores, labels, want):
    assert M.auroc(scores, labels) == pytest.approx(want, abs=1e-12)


def brute_force_average_precision(s, y):
    """AP as the mean over the positives of the precision at each one's own score: among all
    points scoring >= s_i, the fraction that are positive (a tie counts as one threshold)."""
    s, y = np.asarray(s, float), np.asarray(y, bool)
    return np.mean([np.mean(y[s >= t]) for t in s[y]])


@pytest.mark.parametrize("scores, labels, want", [
    ([0.8, 0.4, 0.35, 0.1], [1, 0, 1, 0], 0.5 * 1 + 0.5 * 2 / 3),      # R 0.5 at P 1, then R 1 at P 2/3
    ([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0, 0], 0.5 * 1 + 0.5 * 2 / 4),   # the tie block {1, 0, 0}: P = 2/4
    ([1.0, 1.0, 0.0], [1, 0, 1], 0.5 * 0.5 + 0.5 * 2 / 3),
    ([0.2, 0.2, 0.2, 0.2, 0.2], [0, 1, 0, 0, 1], 2 / 5),            # all tied: the positive fraction (chance)
    ([3.0, 2.0, 1.0], [1, 1, 0], 1.0),                              # perfect
])
def test_auprc_hand_computed_with_ties(scores, labels, want):
    assert M.auprc(scores, labels) == pytest.approx(want, abs=1e-12)
    assert brute_force_average_precision(scores, labels) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("n, n_levels", [(2, 3), (9, 2), (80, 6), (301, 1000)])
def test_auprc_matches_mean_precision_at_each_positive(n, n_levels, rng):
    s = rng.integers(0, n_levels, n).astype(np.float64)        # few levels: many ties
    y = rng.integers(0, 2, n)
    y[0], y[1] = 0, 1
    assert M.auprc(s, y) == pytest.approx(brute_force_average_precision(s, y), abs=1e-12)


def test_precision_recall_curve_known_small_case():
    precision, recall, thr = M.precision_recall_curve([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 0, 0])
    np.testing.assert_allclose(precision, [1, 2 / 4, 2 / 5])
    np.testing.assert_allclose(recall, [0.5, 1, 1])
    np.testing.assert_allclose(thr, [0.9, 0.5, 0.1])


def test_auprc_depends_on_which_class_is_positive_and_checks_input():
    s, y = np.array([0.9, 0.5, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0, 0])
    assert M.auroc(-s, 1 - y) == pytest.approx(M.auroc(s, y))  # AUROC: symmetric
    assert M.auprc(-s, 1 - y) != pytest.approx(M.auprc(s, y))  # AP: not
    with pytest.raises(ValueError, match="both classes"):
        M.auprc([0.1, 0.2], [0, 0])
    with pytest.raises(ValueError, match="auprc|precision_recall_curve"):
        M.auprc([0.1, np.inf], [0, 1])


# ---------------------------------------------------------------------------------------------- Frechet

def fd_1d(m1, s1, m2, s2):
    """Closed form for 1-D Gaussians with variances s1, s2."""
    return (m1 - m2) ** 2 + s1 + s2 - 2 * math.sqrt(s1 * s2)


def test_frechet_distance_1d_closed_form():
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.3), (3.0, 0.01, 3.0, 9.0)]:
        got = M.frechet_distance([m1], [[s1]], [m2], [[s2]])
        assert got == pytest.approx(fd_1d(m1, s1, m2, s2), rel=1e-10, abs=1e-12)


def test_frechet_distance_diagonal_is_sum_of_1d(rng):
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    v1, v2 = rng.uniform(0.1, 3, 5), rng.uniform(0.1, 3, 5)
    want = sum(fd_1d(*args) for args in zip(mu1, v1, mu2, v2))
    assert M.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-10)


def test_frechet_distance_general_matches_eigvals_of_product(rng):
    # Independent reference: tr sqrtm(s1 s2) = sum sqrt(eigvals(s1 s2)) (real, >= 0 for PSD s1, s2).
    D = 6
    a, b = rng.standard_normal((D, D)), rng.standard_normal((D, D))
    s1, s2 = a @ a.T + 0.1 * np.eye(D), b @ b.T + 0.1 * np.eye(D)
    mu1, mu2 = rng.standard_normal(D), rng.standard_normal(D)
    ev = np.linalg.eigvals(s1 @ s2)
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(ev.real))
    got = M.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(want, rel=1e-8)
    assert M.frechet_distance(mu2, s2, mu1, s1) == pytest.approx(got, rel=1e-8)   # symmetric


def test_frechet_distance_singular_covariance_is_finite(rng):
    f = rng.standard_normal((5, 8))                             # N < D: sigma has rank 4
    mu, sigma = M.gaussian_stats(f)
    assert M.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)
    assert np.isfinite(M.frechet_distance(mu, sigma, mu + 1, np.eye(8)))


def test_frechet_from_features_self_zero_and_grows_with_noise(rng):
    f = rng.standard_normal((400, 10)) @ rng.standard_normal((10, 10))
    assert M.frechet_distance_from_features(f, f) == pytest.approx(0.0, abs=1e-9)
    noise = rng.standard_normal(f.shape)
    d = [M.frechet_distance_from_features(f, f + s * noise) for s in (0.1, 0.3, 1.0, 3.0)]
    assert all(x < y for x, y in zip(d, d[1:])), d
    assert d[0] > 1e-3


def test_gaussian_stats_matches_np_cov(rng):
    f = rng.standard_normal((50, 4)).astype(np.float32)
    mu, sigma = M.gaussian_stats(f)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, f.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-10)


def test_frechet_bad_shapes_raise(rng):
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(3, 3\)"):
        M.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        M.frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="same feature size"):
        M.frechet_distance_from_features(rng.standard_normal((5, 3)), rng.standard_normal((5, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        M.gaussian_stats(np.zeros((1, 3)))


# ---------------------------------------------------------------------------------------------- inception score

def test_inception_score_bounds(rng):
    K = 10
    same = np.tile(rng.dirichlet(np.ones(K)), (100, 1))        # every sample gets the same p(y|x)
    assert M.inception_score(same)[0] == pytest.approx(1.0, abs=1e-9)
    confident = np.eye(K)[np.arange(200) % K]                   # one-hot, classes used equally
    assert M.inception_score(confident)[0] == pytest.approx(K, rel=1e-9)
    collapsed = np.eye(K)[np.arange(200) % 2]                   # confident, but only 2 classes
    assert M.inception_score(collapsed)[0] == pytest.approx(2.0, rel=1e-9)
    p = rng.dirichlet(0.3 * np.ones(K), size=300)
    mean, std = M.inception_score(p, splits=3)
    assert 1.0 < mean < K and std >= 0.0


def test_inception_score_splits_match_manual(rng):
    p = rng.dirichlet(np.ones(4), size=60)
    parts = [M.inception_score(q)[0] for q in np.array_split(p, 3)]
    mean, std = M.inception_score(p, splits=3)
    assert mean == pytest.approx(np.mean(parts)) and std == pytest.approx(np.std(parts))
    assert std > 0


def test_inception_score_bad_input_raises():
    with pytest.raises(ValueError, match="softmax"):
        M.inception_score(np.array([[0.5, 0.6], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="splits"):
        M.inception_score(np.full((4, 2), 0.5), splits=5)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        M.inception_score(np.full(4, 0.25))


# ---------------------------------------------------------------------------------------------- mode coverage

def test_mode_coverage_uniform_and_collapsed():
    u = M.mode_coverage_from_labels(np.arange(1000) % 10)
    assert u["kl_from_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert u["n_covered"] == 10 and u["min_share"] == u["max_share"] == 0.1
    c = M.mode_coverage_from_labels(np.full(50, 3))
    assert c["kl_from_uniform"] == pytest.approx(math.log(10))
    assert c["n_covered"] == 1 and c["max_share"] == 1.0 and c["min_share"] == 0.0
    np.testing.assert_array_equal(c["histogram"], np.eye(10)[3])


def test_mode_coverage_partial():
    labels = np.r_[np.zeros(60), np.ones(37), np.full(3, 2)].astype(int)  # class 2 has 3% < 5%
    r = M.mode_coverage_from_labels(labels, n_classes=4)
    np.testing.assert_allclose(r["histogram"], [0.6, 0.37, 0.03, 0.0])
    assert r["n_covered"] == 2
    h = np.array([0.6, 0.37, 0.03])
    assert r["kl_from_uniform"] == pytest.approx(np.sum(h * np.log(h * 4)))


def test_mode_coverage_bad_labels_raise():
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        M.mode_coverage_from_labels([0, 10])
    with pytest.raises(ValueError, match="integer"):
        M.mode_coverage_from_labels([0.5, 1.0])
    with pytest.raises(ValueError, match=r"\(N,\)"):
        M.mode_coverage_from_labels(np.zeros((2, 2), dtype=int))


# ---------------------------------------------------------------------------------------------- logmeanexp

def test_logmeanexp_matches_longdouble_reference(rng):
    a = rng.standard_normal((4, 7, 5)) * 3
    for axis in (None, 0, 1, -1):
        ref = np.log(np.mean(np.exp(a.astype(np.longdouble)), axis=axis)).astype(np.float64)
        np.testing.assert_allclose(M.logmeanexp(a, axis=axis), ref, rtol=1e-12, atol=1e-12)
    assert M.logmeanexp(a, axis=1, keepdims=True).shape == (4, 1, 5)
    assert isinstance(M.logmeanexp(a), float)


def test_logmeanexp_extreme_values_stay_finite():
    a = np.array([-1000.0, -1000.0 + math.log(3.0)])
    with np.errstate(divide="ignore"):
        naive = np.log(np.mean(np.exp(a)))                      # exp underflows to 0 -> -inf
    assert naive == -np.inf
    assert M.logmeanexp(a) == pytest.approx(-1000.0 + math.log(2.0), abs=1e-12)
    assert M.logmeanexp(np.array([1000.0, 1000.0])) == pytest.approx(1000.0)
    assert M.logmeanexp(np.array([-np.inf, 0.0])) == pytest.approx(math.log(0.5))
    assert M.logmeanexp(np.array([-np.inf, -np.inf])) == -np.inf
    np.testing.assert_array_equal(M.logmeanexp(np.full((2, 3), -np.inf), axis=1), [-np.inf, -np.inf])
    with pytest.raises(ValueError, match="NaN"):
        M.logmeanexp(np.array([0.0, np.nan]))


# ---------------------------------------------------------------------------------------------- active units, accuracy

def test_active_units_on_constructed_means(rng):
    N = 500
    mu = np.zeros((N, 6))
    mu[:, [0, 2, 5]] = rng.standard_normal((N, 3))              # these move with x
    mu[:, [1, 3]] = 0.7 + 1e-3 * rng.standard_normal((N, 2))    # collapsed: variance 1e-6
    mu[:, 4] = 0.2 * rng.standard_normal(N)                     # variance 0.04: active at 1e-2
    assert M.active_units(mu) == 4
    assert M.active_units(mu, threshold=0.1) == 3
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        M.active_units(np.zeros(5))


def test_accuracy():
    assert M.accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert M.accuracy(scores, [0, 1, 1]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same length"):
        M.accuracy([0, 1], [0, 1, 1])
