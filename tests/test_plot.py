"""Tests for nanogen/plot.py: exact checks of the pure helpers, and that every figure function
writes a readable PNG of the figure's size, atomically, without touching pyplot's state."""

import math
import os

import matplotlib.figure
import matplotlib.image as mpimg
import matplotlib.pyplot as plt         # only to count pyplot's open figures; plot.py never uses pyplot
import numpy as np
import pytest

from nanogen import plot as P


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def read_png(path):
    assert os.path.getsize(path) > 0
    return mpimg.imread(path)           # (H, W, 4) float in [0, 1]


def assert_png_of(fig, path):
    """The PNG exists, is not blank, and has exactly the figure's size in pixels."""
    img = read_png(path)
    w, h = fig.get_size_inches() * P.DPI
    assert img.shape[:2] == (round(h), round(w))
    assert 100 <= img.shape[0] <= 2500 and 100 <= img.shape[1] <= 2500   # readable, not huge
    assert img[..., :3].std() > 0.01                                     # something was drawn


# ---------------------------------------------------------------------------------------------- make_grid

def test_make_grid_exact_layout():
    N, H, W, p = 5, 3, 4, 2
    x = np.stack([np.full((H, W), (k + 1) / 10) for k in range(N)])[:, None]   # (5, 1, 3, 4)
    g = P.make_grid(x, nrow=3, padding=p, pad_value=1.0)
    assert g.shape == (2 * (H + p) + p, 3 * (W + p) + p)                      # 2 rows of 3
    expected = np.ones_like(g)
    for k in range(N):
        i, j = divmod(k, 3)
        expected[p + i * (H + p) : p + i * (H + p) + H, p + j * (W + p) : p + j * (W + p) + W] = (k + 1) / 10
    np.testing.assert_array_equal(g, expected)                               # last cell stays pad_value


def test_make_grid_shapes_dtype_and_colour(rng):
    x = rng.random((7, 5, 6)).astype(np.float32)
    g = P.make_grid(x)                                                       # ceil(sqrt 7) = 3 per row
    assert g.shape == (3 * 7 + 2, 3 * 8 + 2) and g.dtype == np.float32
    assert P.make_grid(x.astype(np.float64), padding=0, nrow=7).shape == (5, 42)
    assert P.make_grid(x, nrow=100).shape == (5 + 4, 7 * 8 + 2)              # nrow capped at N
    rgb = np.zeros((2, 3, 2, 2))
    rgb[1, 2] = 1.0                                                          # image 1 is pure blue
    g = P.make_grid(rgb, nrow=2, padding=1, pad_value=0.0)
    assert g.shape == (4, 7, 3)
    np.testing.assert_array_equal(g[1:3, 4:6], np.broadcast_to([0.0, 0.0, 1.0], (2, 2, 3)))
    np.testing.assert_array_equal(g[1:3, 1:3], 0.0)


def test_make_grid_value_range_maps_and_clips():
    x = np.array([-1.0, 0.0, 1.0, 3.0, -5.0]).reshape(5, 1, 1, 1)
    g = P.make_grid(x, nrow=5, padding=0, value_range=(-1, 1))
    np.testing.assert_allclose(g, [[0.0, 0.5, 1.0, 1.0, 0.0]])
    g = P.make_grid(np.array([[[2.0, -0.5]]]), padding=0)                   # default (0, 1): clip
    np.testing.assert_array_equal(g, [[1.0, 0.0]])
    g8 = P.make_grid(np.full((1, 2, 2), 255, dtype=np.uint8), padding=0, value_range=(0, 255))
    assert g8.dtype == np.float32 and np.all(g8 == 1.0)


def test_make_grid_bad_input_raises(rng):
    with pytest.raises(ValueError, match=r"reshape\(-1, 1, 28, 28\)"):
        P.make_grid(rng.random((4, 784)))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        P.make_grid(rng.random((4, 2, 5, 5)))
    with pytest.raises(ValueError, match="no images"):
        P.make_grid(np.zeros((0, 3, 3)))
    with pytest.raises(ValueError, match="nrow"):
        P.make_grid(rng.random((4, 3, 3)), nrow=0)
    with pytest.raises(ValueError, match="value_range"):
        P.make_grid(rng.random((4, 3, 3)), value_range=(1, 1))


# ---------------------------------------------------------------------------------------------- pure helpers

def test_interpolate_linear_and_slerp(rng):
    z0, z1 = rng.standard_normal((3, 8)).astype(np.float32), rng.standard_normal((3, 8)).astype(np.float32)
    lin = P.interpolate(z0, z1, 5)
    assert lin.shape == (3, 5, 8) and lin.dtype == np.float32
    np.testing.assert_allclose(lin[:, 0], z0, rtol=1e-6)
    np.testing.assert_allclose(lin[:, -1], z1, rtol=1e-6)
    np.testing.assert_allclose(lin[:, 2], (z0 + z1) / 2, rtol=1e-5, atol=1e-6)
    a = np.array([1.0, 0.0])
    b = np.array([0.0, 1.0])
    s = P.interpolate(a, b, 3, method="slerp")
    assert s.shape == (3, 2)
    np.testing.assert_allclose(s[1], [math.sqrt(0.5), math.sqrt(0.5)], atol=1e-12)   # on the circle
    np.testing.assert_allclose(np.linalg.norm(P.interpolate(a, b, 9, "slerp"), axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(P.interpolate(a, 2 * a, 3, "slerp"), P.interpolate(a, 2 * a, 3))  # parallel
    sl = P.interpolate(z0, z1, 4, "slerp")
    np.testing.assert_allclose(sl[:, [0, -1]], np.stack([z0, z1], axis=1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        P.interpolate(z0, z1[:2], 5)
    with pytest.raises(ValueError, match="method"):
        P.interpolate(a, b, 3, method="cubic")


def test_pca_2d_finds_the_long_axis(rng):
    d = np.array([1.0, -3.0, 2.0]) / math.sqrt(14.0)            # unit direction of most variance
    z = rng.standard_normal((500, 1)) * 5 * d + 0.1 * rng.standard_normal((500, 3)) + 7
    xy, ev = P.pca_2d(z)
    assert xy.shape == (500, 2)
    np.testing.assert_allclose(xy.mean(0), 0, atol=1e-9)
    corr = np.corrcoef(xy[:, 0], (z - z.mean(0)) @ -d)[0, 1]
    assert corr > 0.999                          # PC 1 is -d: its largest loading (-3 -> +3) made positive
    assert ev[0] > 0.99 and ev[0] > ev[1]
    with pytest.raises(ValueError, match="Z >= 2"):
        P.pca_2d(z[:, :1])


def test_normal_quantiles_known_values():
    q = P.normal_quantiles([0.5, 0.975, 0.05, 1e-6])
    np.testing.assert_allclose(q, [0.0, 1.959963984540054, -1.6448536269514722, -4.753424308822899],
                               atol=1e-12)
    with pytest.raises(ValueError):
        P.normal_quantiles([0.0])


def test_ema_smooth():
    y = np.array([1.0, 5.0, np.nan, 2.0])
    np.testing.assert_array_equal(P.ema_smooth(y, 0.0), y)
    np.testing.assert_allclose(P.ema_smooth(np.full(6, 3.0), 0.9), 3.0)  # debiased: no ramp from 0
    s = P.ema_smooth(y, 0.5)
    assert np.isnan(s[2])
    np.testing.assert_allclose(s[[0, 1, 3]], [1.0, (0.25 + 2.5) / 0.75, (0.125 * 1 + 0.25 * 5 + 0.5 * 2) / 0.875])


def test_read_metrics_csv(tmp_path):
    f = tmp_path / "metrics.csv"
    f.write_text("epoch,step,loss,phase,val_loss\n0,1,2.5,train,\n0,2,2.0,train,\n1,3,1.5,eval,1.7\n")
    m = P.read_metrics_csv(f)
    np.testing.assert_array_equal(m["step"], [1, 2, 3])
    np.testing.assert_array_equal(m["val_loss"], [np.nan, np.nan, 1.7])
    assert m["phase"] == ["train", "train", "eval"]


# ---------------------------------------------------------------------------------------------- every figure writes a PNG

def _digits(rng, n, H=12):
    yy, xx = np.mgrid[:H, :H]
    c = rng.uniform(3, H - 3, (n, 2))
    return (((yy - c[:, :1, None]) ** 2 + (xx - c[:, 1:, None]) ** 2) < 9).astype(np.float32)[:, None]


def _metrics(rng, n=40):
    s = np.arange(n)
    return {"epoch": s // 10, "step": s, "loss_d": 1.3 + 0.1 * rng.random(n), "loss_g": 0.8 + rng.random(n),
            "d_real": 0.6 + 0.1 * rng.random(n), "d_fake": 0.3 + 0.1 * rng.random(n),
            "grad_norm_g": np.exp(rng.standard_normal(n))}


FIGURES = {
    "image_grid": lambda r, p: P.image_grid(_digits(r, 10), path=p, title="t", labels=list(range(10))),
    "image_grid_rgb_gan": lambda r, p: P.image_grid(r.uniform(-1, 1, (6, 3, 8, 8)), path=p, value_range=(-1, 1)),
    "reconstructions": lambda r, p: P.reconstructions(_digits(r, 12), _digits(r, 12), path=p, n=6),
    "denoising_rows": lambda r, p: P.denoising_rows(*(_digits(r, 4)[:, 0] for _ in range(3)), path=p),
    "latent_scatter_pca": lambda r, p: P.latent_scatter(r.standard_normal((200, 5)), r.integers(0, 10, 200),
                                                        path=p, title="z"),
    "latent_scatter_first2": lambda r, p: P.latent_scatter(r.standard_normal((50, 5)), r.random(50),
                                                           path=p, method="first2"),
    "side_by_side_latent": lambda r, p: P.side_by_side_latent(r.standard_normal((100, 2)),
                                                              r.standard_normal((100, 4)), r.integers(0, 3, 100),
                                                              titles=("AE", "VAE"), path=p),
    "latent_manifold": lambda r, p: P.latent_manifold(lambda z: np.tile(z[:, :1], (1, 36)) / 3 + 0.5,
                                                      grid_size=6, image_shape=(6, 6), path=p),
    "interpolation_strip": lambda r, p: P.interpolation_strip(_digits(r, 14).reshape(2, 7, 1, 12, 12), path=p,
                                                              row_labels=["a", "b"]),
    "loss_curves": lambda r, p: P.loss_curves(_metrics(r), path=p, smoothing=0.6, logy=True),
    "gan_diagnostics": lambda r, p: P.gan_diagnostics(_metrics(r), path=p),
    "toy_points": lambda r, p: P.toy_points(r.standard_normal((100, 2)), np.eye(2) * 2, path=p, title="t",
                                            real=r.standard_normal((50, 2))),
    "toy_progression": lambda r, p: P.toy_progression([r.standard_normal((30, 2)) for _ in range(3)],
                                                      [0, 10, 20], np.eye(2), path=p),
    "roc_curve_plot": lambda r, p: P.roc_curve_plot([0, 0.2, 1], [0, 0.7, 1], auroc=0.75, path=p),
    "filters_linear": lambda r, p: P.filters(r.standard_normal((8, 100)), path=p),
    "filters_conv": lambda r, p: P.filters(r.standard_normal((6, 1, 5, 5)), path=p),
    "style_panel": lambda r, p: P.style_panel(r.random((3, 16, 24)), r.random((1, 3, 16, 16)),
                                              r.random((16, 24, 3)), path=p),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_writes_png_of_its_size(name, rng, tmp_path):
    path = tmp_path / "sub" / f"{name}.png"                     # missing folder is created
    n_pyplot = len(plt.get_fignums())
    fig = FIGURES[name](rng, path)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert_png_of(fig, path)
    assert len(plt.get_fignums()) == n_pyplot                  # no figure left in pyplot's registry
    assert sorted(os.listdir(path.parent)) == [path.name]      # no temporary file left behind


def test_loss_curves_from_csv_file_and_no_path(rng, tmp_path):
    csv_path = tmp_path / "metrics.csv"
    rows = ["epoch,step,loss,kl"] + [f"{i // 5},{i},{1 / (i + 1)},{'' if i % 2 else i}" for i in range(20)]
    csv_path.write_text("\n".join(rows) + "\n")
    fig = P.loss_curves(csv_path)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["loss", "kl"]
    kl_line = fig.axes[1].lines[0]
    np.testing.assert_array_equal(kl_line.get_xdata(), np.arange(0, 20, 2))   # blank cells skipped
    assert os.listdir(tmp_path) == ["metrics.csv"]                            # no path: nothing written


def test_save_is_atomic_and_overwrites(rng, tmp_path):
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")
    fig = P.image_grid(_digits(rng, 4), path=path)
    assert_png_of(fig, path)

    class Boom(Exception):
        pass

    def fail(*a, **k):
        raise Boom
    fig.savefig = fail                                           # a crash while rendering ...
    with pytest.raises(Boom):
        P.save_figure(fig, path)
    assert_png_of(fig, path)                                     # ... leaves the old picture intact
    assert os.listdir(tmp_path) == ["grid.png"]


def test_latent_manifold_grid_order(tmp_path):
    seen = []

    def decode(z):
        seen.append(z)
        return np.zeros((len(z), 1, 4, 4), dtype=np.float32)

    P.latent_manifold(decode, grid_size=3, bounds=(-1, 1))
    z = np.concatenate(seen)
    assert z.dtype == np.float32 and z.shape == (9, 2)
    np.testing.assert_array_equal(z[:3], [[-1, 1], [0, 1], [1, 1]])   # top row: largest z[1], z[0] rising
    np.testing.assert_array_equal(z[6:], [[-1, -1], [0, -1], [1, -1]])
    seen.clear()
    P.latent_manifold(decode, grid_size=4, use_normal_quantiles=True, batch_size=5)
    assert [len(s) for s in seen] == [5, 5, 5, 1]
    np.testing.assert_allclose(np.unique(np.concatenate(seen)[:, 0]), P.normal_quantiles([1 / 8, 3 / 8, 5 / 8, 7 / 8]),
                               rtol=1e-6)


def test_latent_scatter_into_given_axes(rng):
    fig = P.side_by_side_latent(rng.standard_normal((30, 3)), rng.standard_normal((30, 3)), np.arange(30) % 3)
    a, b = fig.axes[:2]
    assert a.get_legend() is None and b.get_legend() is not None
    assert [t.get_text() for t in b.get_legend().get_texts()] == ["0", "1", "2"]
    assert a.get_xlabel().startswith("PC 1")


def test_figures_bad_shapes_raise(rng):
    with pytest.raises(ValueError, match="labels must have one entry per image"):
        P.image_grid(_digits(rng, 4), labels=[1, 2])
    with pytest.raises(ValueError, match="same image shape"):
        P.reconstructions(_digits(rng, 3), rng.random((3, 1, 5, 5)))
    with pytest.raises(ValueError, match=r"z must be \(N, Z\)"):
        P.latent_scatter(rng.standard_normal(10), np.zeros(10))
    with pytest.raises(ValueError, match=r"labels must have shape \(10,\)"):
        P.latent_scatter(rng.standard_normal((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="one image per z row"):
        P.latent_manifold(lambda z: np.zeros((3, 4, 4)), grid_size=3)
    with pytest.raises(ValueError, match="image_shape"):
        P.latent_manifold(lambda z: np.zeros((len(z), 10)), grid_size=2)
    with pytest.raises(TypeError, match="callable"):
        P.latent_manifold(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        P.interpolation_strip([_digits(rng, 3), _digits(rng, 4)])
    with pytest.raises(ValueError, match="not among the numeric columns"):
        P.loss_curves({"step": [0, 1], "loss": [1.0, 0.5]}, keys=["kl"])
    with pytest.raises(ValueError, match="has 1 values"):
        P.loss_curves({"step": [0, 1], "loss": [1.0]})
    with pytest.raises(ValueError, match="no loss"):
        P.gan_diagnostics({"step": [0, 1], "accuracy": [0.1, 0.2]})
    with pytest.raises(TypeError, match="metrics.csv"):
        P.loss_curves([1, 2, 3])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        P.toy_points(rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="one entry per panel"):
        P.toy_progression([rng.standard_normal((5, 2))], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        P.roc_curve_plot([0, 1], [0, 0.5, 1])
    with pytest.raises(ValueError, match="not a square"):
        P.filters(rng.standard_normal((4, 10)))
    with pytest.raises(ValueError, match="weights"):
        P.filters(rng.standard_normal((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="one image"):
        P.style_panel(rng.random((2, 3, 4, 4)), rng.random((4, 4)), rng.random((4, 4)))


def test_filters_normalises_each_filter(rng):
    w = np.stack([np.arange(4.0).reshape(1, 2, 2), 100 + 7 * np.arange(4.0).reshape(1, 2, 2), np.ones((1, 2, 2))])
    fig = P.filters(w, nrow=3)
    shown = fig.axes[0].images[0].get_array()
    g = np.asarray(shown)
    np.testing.assert_allclose(g[1:3, 1:3], [[0, 1 / 3], [2 / 3, 1]])         # 0..3 -> [0, 1]
    np.testing.assert_allclose(g[1:3, 4:6], [[0, 1 / 3], [2 / 3, 1]])         # 100..121 -> [0, 1] too
    np.testing.assert_allclose(g[1:3, 7:9], 0.5)                              # constant: mid-grey


@pytest.mark.parametrize("n", [3, 40])
def test_image_grid_title_is_never_cut_off(n, rng):
    """A long title over a narrow grid (a few classifier mistakes) is wrapped to fit the figure."""
    title = "classifier, epoch 5: 99.10% right on 1000 test Fashion-MNIST images; mistakes (true->predicted)"
    fig = P.image_grid(rng.random((n, 1, 28, 28)), nrow=10, title=title, labels=["1->7"] * n)
    fig.canvas.draw()
    box, page = fig.axes[0].title.get_window_extent(), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    assert fig.axes[0].get_title().replace("\n", " ") == title
