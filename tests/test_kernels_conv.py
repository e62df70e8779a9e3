"""im2col/col2im: each Numba kernel equals its NumPy twin; conv2d and conv_transpose2d forward
equal a direct loop written here; the two ops are adjoints of each other."""

import numpy as np
import pytest

import nanogen.kernels.conv as kconv
from nanogen.kernels.conv import (col2im_numba, col2im_reference, conv2d_direct_numba, conv2d_direct_reference,
                                  conv2d_direct_weight_grad_numba, conv2d_direct_weight_grad_reference,
                                  conv_output_size, im2col_numba, im2col_reference)
from nanogen.ops.conv import conv2d, conv_transpose2d

# x shape, kernel (KH, KW), stride, padding, dilation: the awkward cases on purpose
KERNEL_CASES = [
    ((2, 3, 7, 6), (3, 3), (1, 1), (0, 0), (1, 1)),  # plain, non-square
    ((2, 3, 7, 6), (3, 2), (2, 2), (1, 1), (1, 1)),  # stride 2, padding
    ((1, 1, 9, 8), (4, 4), (2, 2), (1, 1), (1, 1)),  # batch 1, one channel, the DCGAN k4 s2 p1
    ((2, 2, 11, 13), (3, 3), (3, 2), (2, 1), (2, 3)),  # odd sizes, uneven stride/padding, dilation
    ((3, 2, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1)),  # kernel as big as the image, 'same' padding
    ((2, 2, 6, 7), (1, 1), (2, 3), (0, 0), (1, 1)),  # 1x1 kernel, strided
    ((2, 1, 4, 4), (2, 3), (1, 1), (3, 3), (1, 1)),  # padding wider than the kernel: all-zero windows
    ((19, 2, 5, 4), (3, 2), (1, 2), (1, 0), (1, 1)),  # more images than one task block (16)
]


def _ids(case):
    xs, k, s, p, d = case
    return f"x{'x'.join(map(str, xs))}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}"


def _out_size(xs, k, s, p, d):
    return conv_output_size(xs[2], k[0], s[0], p[0], d[0]), conv_output_size(xs[3], k[1], s[1], p[1], d[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=_ids)
def test_im2col_matches_reference(case, dtype, rng):
    xs, (KH, KW), s, p, d = case
    OH, OW = _out_size(*case)
    x = rng.standard_normal(xs).astype(dtype)
    want = im2col_reference(x, KH, KW, s, p, d, OH, OW)
    got = im2col_numba(x, KH, KW, s, p, d, OH, OW)
    assert want.shape == (xs[1] * KH * KW, xs[0] * OH * OW)
    assert got.dtype == dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # pure copies: bit-identical


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=_ids)
def test_col2im_matches_reference(case, dtype, rng):
    xs, (KH, KW), s, p, d = case
    OH, OW = _out_size(*case)
    cols = rng.standard_normal((xs[1] * KH * KW, xs[0] * OH * OW)).astype(dtype)
    want = col2im_reference(cols, xs, KH, KW, s, p, d, OH, OW)
    got = col2im_numba(cols, xs, KH, KW, s, p, d, OH, OW)
    assert got.dtype == dtype and got.shape == xs
    tol = 1e-5 if dtype == np.float32 else 1e-12  # overlapping windows are summed in another order
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("im2col, col2im", [(im2col_numba, col2im_numba), (im2col_reference, col2im_reference)],
                         ids=["numba", "numpy"])
def test_col2im_is_adjoint_of_im2col(im2col, col2im, rng):
    # fewer output rows than the formula gives (conv_transpose2d with output_padding >= stride asks for that)
    xs, (KH, KW), s, p, d = (2, 3, 8, 7), (3, 2), (1, 2), (1, 1), (2, 1)
    OH, OW = _out_size(xs, (KH, KW), s, p, d)
    for oh, ow in [(OH, OW), (OH - 1, OW)]:
        x = rng.standard_normal(xs)
        c = rng.standard_normal((xs[1] * KH * KW, xs[0] * oh * ow))
        lhs = np.vdot(im2col(x, KH, KW, s, p, d, oh, ow), c)
        rhs = np.vdot(x, col2im(c, xs, KH, KW, s, p, d, oh, ow))
        assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=_ids)
def test_conv2d_direct_matches_reference(case, dtype, rng):
    xs, (KH, KW), s, p, d = case
    OH, OW = _out_size(*case)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((3, xs[1], KH, KW)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    want = conv2d_direct_reference(x, w, b, s, p, d, OH, OW)
    got = conv2d_direct_numba(x, w, b, s, p, d, OH, OW)
    assert want.shape == (xs[0], 3, OH, OW)
    assert got.dtype == dtype and got.shape == want.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", KERNEL_CASES, ids=_ids)
def test_conv2d_direct_weight_grad_matches_reference(case, dtype, rng):
    xs, (KH, KW), s, p, d = case
    OH, OW = _out_size(*case)
    x = rng.standard_normal(xs).astype(dtype)
    grad = rng.standard_normal((xs[0], 3, OH, OW)).astype(dtype)
    want_w, want_b = conv2d_direct_weight_grad_reference(x, grad, KH, KW, s, p, d)
    got_w, got_b = conv2d_direct_weight_grad_numba(x, grad, KH, KW, s, p, d)
    assert want_w.shape == (3, xs[1], KH, KW) and want_b.shape == (3,)
    assert got_w.dtype == got_b.dtype == dtype and got_w.shape == want_w.shape
    tol = 1e-4 if dtype == np.float32 else 1e-11  # sums of up to 19*13 products, in another order
    np.testing.assert_allclose(got_w, want_w, rtol=tol, atol=tol)
    np.testing.assert_allclose(got_b, want_b, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------
# The ops against direct loops: the definition, one multiply-add at a time
# ---------------------------------------------------------------------------------------------


def conv2d_loops(x, w, b, stride, padding, dilation, groups):
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    (SH, SW), (PH, PW), (DH, DW) = stride, padding, dilation
    OH = (H + 2 * PH - DH * (KH - 1) - 1) // SH + 1
    OW = (W + 2 * PW - DW * (KW - 1) - 1) // SW + 1
    Fg = F // groups
    y = np.zeros((N, F, OH, OW), dtype=np.float64)
    for n in range(N):
        for f in range(F):
            g = f // Fg
            for oh in range(OH):
                for ow in range(OW):
                    acc = 0.0 if b is None else float(b[f])
                    for c in range(Cg):
                        for kh in range(KH):
                            for kw in range(KW):
                                h, v = oh * SH + kh * DH - PH, ow * SW + kw * DW - PW
                                if 0 <= h < H and 0 <= v < W:
                                    acc += float(w[f, c, kh, kw]) * float(x[n, g * Cg + c, h, v])
                    y[n, f, oh, ow] = acc
    return y


def conv_transpose2d_loops(x, w, b, stride, padding, output_padding, groups, dilation):
    N, C, H, W = x.shape
    _, Fg, KH, KW = w.shape
    (SH, SW), (PH, PW), (OPH, OPW), (DH, DW) = stride, padding, output_padding, dilation
    OH = (H - 1) * SH - 2 * PH + DH * (KH - 1) + OPH + 1
    OW = (W - 1) * SW - 2 * PW + DW * (KW - 1) + OPW + 1
    Cg = C // groups
    y = np.zeros((N, Fg * groups, OH, OW), dtype=np.float64)
    for n in range(N):
        for c in range(C):
            g = c // Cg
            for ih in range(H):
                for iw in range(W):
                    for f in range(Fg):
                        for kh in range(KH):
                            for kw in range(KW):
                                h, v = ih * SH + kh * DH - PH, iw * SW + kw * DW - PW
                                if 0 <= h < OH and 0 <= v < OW:
                                    y[n, g * Fg + f, h, v] += float(x[n, c, ih, iw]) * float(w[c, f, kh, kw])
    if b is not None:
        y += b[None, :, None, None]
    return y


@pytest.fixture(params=["im2col", "direct", "winograd"])
def path(request, monkeypatch):
    """conv2d three times: through im2col + GEMM, through the direct kernel wherever groups == 1,
    and through Winograd wherever the filters are 3x3 at stride 1 (groups 1, no dilation)."""
    from nanogen.ops import conv as ops_conv

    monkeypatch.setattr(kconv, "DIRECT_MAX_TAPS", 10**9 if request.param == "direct" else 0)
    monkeypatch.setattr(ops_conv, "WINOGRAD", request.param == "winograd")
    return request.param


# N, C, H, W, F, (KH, KW), stride, padding, dilation, groups
OP_CASES = [
    (2, 3, 6, 5, 4, (3, 3), (1, 1), (0, 0), (1, 1), 1),
    (3, 2, 5, 4, 3, (3, 3), (1, 1), (2, 1), (1, 1), 1),  # 3x3 stride 1, odd output, padding 2 and 1
    (1, 1, 7, 7, 2, (4, 4), (2, 2), (1, 1), (1, 1), 1),  # batch 1, one input channel
    (2, 4, 7, 6, 6, (3, 2), (2, 3), (1, 2), (2, 1), 2),  # groups, uneven everything
    (2, 6, 5, 5, 3, (1, 1), (1, 1), (0, 0), (1, 1), 3),  # depthwise-like: 3 groups of 2 -> 1
]


def _op_ids(case):
    N, C, H, W, F, k, s, p, d, g = case
    return f"{N}x{C}x{H}x{W}-F{F}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}-g{g}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", OP_CASES, ids=_op_ids)
def test_conv2d_forward_matches_loops(case, dtype, path, rng):
    N, C, H, W, F, (KH, KW), s, p, d, g = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C // g, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    y = conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    want = conv2d_loops(x, w, b, s, p, d, g)
    OH = (H + 2 * p[0] - d[0] * (KH - 1) - 1) // s[0] + 1  # the docstring's formula
    OW = (W + 2 * p[1] - d[1] * (KW - 1) - 1) // s[1] + 1
    assert y.shape == (N, F, OH, OW) and y.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(conv2d(x, w, None, stride=s, padding=p, dilation=d, groups=g).data,
                               conv2d_loops(x, w, None, s, p, d, g), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", OP_CASES, ids=_op_ids)
def test_conv_transpose2d_forward_matches_loops(case, dtype, rng):
    N, C, H, W, F, (KH, KW), s, p, d, g = case
    op = (s[0] - 1, 0)  # the largest legal output_padding in h, none in w
    x = rng.standard_normal((N, F, H, W)).astype(dtype)  # F input channels here
    w = rng.standard_normal((F, C // g, KH, KW)).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    y = conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    want = conv_transpose2d_loops(x, w, b, s, p, op, g, d)
    OH = (H - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + op[0] + 1  # the docstring's formula
    OW = (W - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + op[1] + 1
    assert y.shape == (N, C, OH, OW) and y.dtype == dtype
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", OP_CASES + [(2, 2, 9, 8, 3, (3, 3), (1, 1), (0, 1), (3, 2), 1)], ids=_op_ids)
def test_conv_transpose2d_is_adjoint_of_conv2d(case, path, rng):
    """<conv2d(x, w), y> == <x, conv_transpose2d(y, w)>, with output_padding giving back x's size."""
    N, C, H, W, F, (KH, KW), s, p, d, g = case
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C // g, KH, KW))
    y = conv2d(x, w, stride=s, padding=p, dilation=d, groups=g)
    _, _, OH, OW = y.shape
    op = (H - ((OH - 1) * s[0] - 2 * p[0] + d[0] * (KH - 1) + 1),
          W - ((OW - 1) * s[1] - 2 * p[1] + d[1] * (KW - 1) + 1))
    z = rng.standard_normal(y.shape)
    back = conv_transpose2d(z, w, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    assert back.shape == x.shape
    assert np.vdot(y.data, z) == pytest.approx(np.vdot(x, back.data), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, F, L", [(1, 1, 1), (3, 5, 7), (15, 32, 196)])
def test_layout_kernels_match_reference(n, F, L, dtype, rng):
    rows = rng.standard_normal((F, n * L)).astype(dtype)
    bias = rng.standard_normal(F).astype(dtype)
    want = kconv.rows_to_nchw_reference(rows, bias, np.empty((n, F, L), dtype))
    got = kconv.rows_to_nchw_numba(rows, bias, np.empty((n, F, L), dtype))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, rows.reshape(F, n, L).transpose(1, 0, 2) + bias[:, None])  # the definition

    a = rng.standard_normal((n, F, L)).astype(dtype)
    start = rng.standard_normal(F).astype(dtype)  # the sums are added to what is there
    sums_want, sums_got = start.copy(), start.copy()
    want = kconv.nchw_to_rows_reference(a, np.empty((F, n * L), dtype), sums_want)
    got = kconv.nchw_to_rows_numba(a, np.empty((F, n * L), dtype), sums_got)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, a.transpose(1, 0, 2).reshape(F, n * L))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(sums_got, start + a.sum(axis=(0, 2)), rtol=tol, atol=tol * n * L)
    np.testing.assert_allclose(sums_got, sums_want, rtol=tol, atol=tol * n * L)
