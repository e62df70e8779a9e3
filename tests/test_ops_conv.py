"""conv2d / conv_transpose2d: gradients of every input against finite differences (float64), on
the Numba kernels and on their NumPy twins; input-gradient skipping; dtypes; error messages."""

import numpy as np
import pytest

import nanogen.kernels.conv as kconv
import nanogen.kernels.winograd as kwino
from nanogen.autograd import no_grad
from nanogen.ops import conv as ops_conv
from nanogen.gradcheck import gradcheck
from nanogen.ops.conv import conv2d, conv_transpose2d
from nanogen.tensor import Tensor


WINOGRAD_KERNELS = ("input_transform", "input_transform_adjoint", "output_transform", "output_transform_adjoint")


@pytest.fixture(params=["numba-im2col", "numba-direct", "numba-winograd",
                        "numpy-im2col", "numpy-direct", "numpy-winograd"])
def kernels(request, monkeypatch):
    """Run the test on the Numba kernels and on the NumPy twins (NANOGEN_KERNELS=numpy), each
    time with conv2d through im2col + GEMM, through the direct kernel (wherever groups == 1) and
    through Winograd (wherever the filters are 3x3 at stride 1, groups 1, no dilation; im2col elsewhere)."""
    which, path = request.param.split("-")
    impl = "numba" if which == "numba" else "reference"
    for name in ("im2col", "col2im", "conv2d_direct", "conv2d_direct_weight_grad"):
        monkeypatch.setattr(kconv, name, getattr(kconv, f"{name}_{impl}"))
    for name in WINOGRAD_KERNELS:
        monkeypatch.setattr(kwino, name, getattr(kwino, f"{name}_{impl}"))
    monkeypatch.setattr(kconv, "DIRECT_MAX_TAPS", 10**9 if path == "direct" else 0)
    monkeypatch.setattr(ops_conv, "WINOGRAD", path == "winograd")
    return request.param


# N, C, H, W, F, (KH, KW), stride, padding, dilation, groups
GRAD_CASES = [
    (2, 3, 5, 4, 2, (3, 3), 1, 0, 1, 1),
    (1, 2, 4, 5, 2, (3, 3), 1, (1, 2), 1, 1),  # 3x3 stride 1 with padding (Winograd's shape)
    (2, 2, 6, 7, 3, (3, 2), 2, 1, 1, 1),  # stride, padding, odd non-square
    (1, 1, 7, 6, 2, (2, 3), (2, 1), (0, 2), (2, 1), 1),  # batch 1, one channel, dilation
    (2, 4, 5, 5, 4, (3, 3), 1, 1, 1, 2),  # groups
    (1, 3, 6, 5, 3, (2, 2), 3, (1, 0), 1, 3),  # one channel per group, stride > kernel
]


def _ids(case):
    N, C, H, W, F, k, s, p, d, g = case
    return f"{N}x{C}x{H}x{W}-F{F}-k{k[0]}{k[1]}-s{s}-p{p}-d{d}-g{g}".replace(" ", "")


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_conv2d_grad(case, kernels, rng):
    N, C, H, W, F, (KH, KW), s, p, d, g = case
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C // g, KH, KW))
    b = rng.standard_normal(F)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g), x, w, b,
                     name="conv2d")


@pytest.mark.parametrize("output_padding", [0, 1])
@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids)
def test_conv_transpose2d_grad(case, output_padding, kernels, rng):
    N, C, H, W, F, (KH, KW), s, p, d, g = case
    s2, d2 = np.broadcast_to(s, 2), np.broadcast_to(d, 2)
    op = tuple(min(output_padding, max(a, b) - 1) for a, b in zip(s2, d2))  # must stay < stride or dilation
    x = rng.standard_normal((N, F, H - 2, W - 1))  # F input channels
    w = rng.standard_normal((F, C // g, KH, KW))  # (C_in, C_out/groups, KH, KW)
    b = rng.standard_normal(C)
    assert gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, groups=g,
                                                      dilation=d), x, w, b, name="conv_transpose2d")


def test_grad_without_bias_and_through_two_layers(kernels, rng):
    x = rng.standard_normal((2, 2, 6, 6))
    w1 = rng.standard_normal((3, 2, 3, 3))
    w2 = rng.standard_normal((3, 2, 4, 4))  # decoder: back to 2 channels, 6x6 -> 3x3 -> 6x6
    f = lambda x, w1, w2: conv_transpose2d(conv2d(x, w1, stride=2, padding=1), w2, stride=2, padding=1)  # noqa: E731
    assert f(Tensor(x), Tensor(w1), Tensor(w2)).shape == (2, 2, 6, 6)
    assert gradcheck(f, x, w1, w2, name="conv2d -> conv_transpose2d")


def test_a_wrong_gradient_fails_gradcheck(monkeypatch, rng):
    """The checks above can fail: break col2im (drop one tap) and gradcheck must catch it."""
    def broken_col2im(cols, *args, **kwargs):
        cols = cols.copy()
        cols[0] = 0
        return kconv.col2im_reference(cols, *args, **kwargs)

    monkeypatch.setattr(kconv, "col2im", broken_col2im)
    x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 2, 2, 2))
    with pytest.raises(AssertionError, match="input 0"):
        gradcheck(lambda x, w: conv2d(x, w, padding=1), x, w, name="conv2d")


@pytest.mark.parametrize("op", ["conv2d", "conv2d-direct", "conv2d-winograd", "conv_transpose2d"])
def test_input_grad_skipped_when_not_needed(op, monkeypatch, rng):
    """A first layer's input is data: its gradient (a GEMM, plus col2im for conv2d, or Winograd's
    input transform adjoint) is not computed, and the weight and bias gradients are the same as
    when it is."""
    monkeypatch.setattr(kconv, "DIRECT_MAX_TAPS", 10**9 if op == "conv2d-direct" else 0)
    stride = 1 if op == "conv2d-winograd" else 2  # Winograd takes stride 1 only
    op = op.split("-")[0]
    fn = conv2d if op == "conv2d" else conv_transpose2d
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    full = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = fn(*full, stride=stride, padding=1)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(g)

    if op == "conv2d":
        def no_input_grad(*args):
            raise AssertionError("the input gradient ran for an input that needs no gradient")

        monkeypatch.setattr(kconv, "col2im", no_input_grad)
        monkeypatch.setattr(kwino, "input_transform_adjoint", no_input_grad)
    part = [Tensor(x), Tensor(w, requires_grad=True), Tensor(b, requires_grad=True)]
    fn(*part, stride=stride, padding=1).backward(g)
    assert part[0].grad is None
    for got, want in zip(part[1:], full[1:]):
        assert got.grad.dtype == np.float32
        np.testing.assert_allclose(got.grad, want.grad, rtol=1e-6, atol=1e-6)


# N, C, H, W, F, (KH, KW), stride, padding, dilation, groups, output_padding (conv_transpose2d)
CHUNK_CASES = [
    (5, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), 1, (0, 0)),
    (3, 4, 9, 8, 6, (4, 4), (2, 2), (1, 1), (1, 1), 2, (1, 0)),  # groups, DCGAN k4 s2 p1, output_padding
    (1, 2, 5, 7, 3, (2, 3), (3, 2), (0, 2), (2, 1), 1, (2, 1)),  # batch 1, dilation, odd sizes
    (7, 6, 5, 5, 3, (1, 1), (1, 1), (0, 0), (1, 1), 3, (0, 0)),
]


@pytest.mark.parametrize("case", CHUNK_CASES, ids=lambda c: "x".join(map(str, c[:5])))
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_batch_chunks_give_the_whole_batch_result(op, case, kernels, monkeypatch, rng):
    """The ops loop over chunks of images (ops/conv.py, CHUNK_BYTES): one image per chunk, two, or
    the whole batch at once give the same y and the same gradients of x, w and b."""
    N, C, H, W, F, k, s, p, d, g, op_pad = case
    if op == "conv2d":
        x = rng.standard_normal((N, C, H, W))
        w = rng.standard_normal((F, C // g) + k)
        b = rng.standard_normal(F)
        run = lambda *a: conv2d(*a, stride=s, padding=p, dilation=d, groups=g)  # noqa: E731
    else:
        x = rng.standard_normal((N, F, H, W))
        w = rng.standard_normal((F, C // g) + k)
        b = rng.standard_normal(C)
        run = lambda *a: conv_transpose2d(*a, stride=s, padding=p, output_padding=op_pad, groups=g,  # noqa: E731
                                          dilation=d)
    results = []
    for chunk_bytes in (1, 4 * 10**4, 10**12):  # one image per chunk, a few, all at once
        monkeypatch.setattr(ops_conv, "CHUNK_BYTES", chunk_bytes)
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = run(*ts)
        y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape))
        results.append([y.data] + [t.grad for t in ts])
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_float32_stays_float32(op, rng):
    fn = conv2d if op == "conv2d" else conv_transpose2d
    x = Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(3, np.float32), requires_grad=True)
    y = fn(x, w, b, stride=2, padding=1)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    with no_grad():
        assert fn(x, w, b).dtype == np.float32


def test_non_contiguous_inputs(rng):
    x = rng.standard_normal((2, 5, 6, 3)).transpose(0, 3, 1, 2)  # (2, 3, 5, 6), not C-contiguous
    w = rng.standard_normal((2, 4, 3, 3))[:, ::2]  # (2, 2, 3, 3), strided
    want = conv2d(np.ascontiguousarray(x[:, :2]), np.ascontiguousarray(w), padding=1).data
    np.testing.assert_allclose(conv2d(x[:, :2], w, padding=1).data, want, rtol=1e-12)
    assert gradcheck(lambda x, w: conv_transpose2d(x, w, stride=2), x[:, :2], w, name="conv_transpose2d")


# ---------------------------------------------------------------------------------------------
# Bad input: a clear error naming the op and the shapes, before any work
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if a kernel runs: errors must come from the checks, before any work."""
    def fail(*args, **kwargs):
        raise AssertionError("a kernel ran before the arguments were checked")

    for name in ("im2col", "col2im", "conv2d_direct", "conv2d_direct_weight_grad"):
        monkeypatch.setattr(kconv, name, fail)
    for name in WINOGRAD_KERNELS:
        monkeypatch.setattr(kwino, name, fail)


X = np.zeros((2, 3, 8, 8))
W = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(x=np.zeros((28, 28))), ValueError,
     r"conv2d: x must be \(N, C, H, W\), got shape \(28, 28\).*x\[None, None\]"),
    (dict(x=np.zeros((3, 8, 8))), ValueError, r"conv2d: x must be .*\(3, 8, 8\).*x\[None\]"),
    (dict(weight=np.zeros((4, 3, 3))), ValueError, r"conv2d: weight must be 4-D, got shape \(4, 3, 3\)"),
    (dict(weight=np.zeros((4, 2, 3, 3))), ValueError,
     r"conv2d: x has 3 channels \(shape \(2, 3, 8, 8\)\) but weight expects 2 .*\(4, 2, 3, 3\)"),
    (dict(weight=np.zeros((4, 3, 9, 3))), ValueError, r"conv2d: kernel 9x3 .* larger than the padded input 8x8"),
    (dict(weight=np.zeros((4, 3, 5, 5)), padding=0, dilation=2), ValueError,
     r"conv2d: kernel 5x5 \(dilation \(2, 2\)\) spans 9x9"),
    (dict(weight=np.zeros((4, 1, 3, 3)), groups=2), ValueError,
     r"conv2d: groups=2 does not divide the 3 input channels"),
    (dict(x=np.zeros((2, 4, 8, 8)), weight=np.zeros((3, 2, 3, 3)), groups=2), ValueError,
     r"conv2d: groups=2 does not divide the 3 output channels"),
    (dict(groups=0), ValueError, r"conv2d: groups must be a positive int, got 0"),
    (dict(weight=W.astype(np.float32)), TypeError, r"conv2d: x is float64 but weight is float32"),
    (dict(bias=np.zeros(4, np.float32)), TypeError, r"conv2d: bias is float32 but x is float64"),
    (dict(bias=np.zeros(3)), ValueError, r"conv2d: bias must have shape \(4,\).*got \(3,\)"),
    (dict(stride=0), ValueError, r"conv2d: stride must be >= 1, got 0"),
    (dict(padding=-1), ValueError, r"conv2d: padding must be >= 0, got -1"),
    (dict(stride=(1, 2, 3)), TypeError, r"conv2d: stride must be an int or a pair of ints, got \(1, 2, 3\)"),
    (dict(dilation=1.5), TypeError, r"conv2d: dilation must be an int or a pair of ints, got 1.5"),
])
def test_conv2d_errors(kwargs, error, pattern, no_work):
    args = dict(x=X, weight=W, bias=None)
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        conv2d(args.pop("x"), args.pop("weight"), args.pop("bias"), **args)


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(x=np.zeros((8, 8))), ValueError, r"conv_transpose2d: x must be \(N, C, H, W\), got shape \(8, 8\)"),
    (dict(weight=np.zeros((3, 4, 3, 3))), ValueError,
     r"conv_transpose2d: x has 4 channels \(shape \(2, 4, 5, 5\)\) but weight expects 3 = weight.shape\[0\]"),
    (dict(groups=3), ValueError, r"conv_transpose2d: groups=3 does not divide the 4 input channels"),
    (dict(output_padding=2, stride=2), ValueError,
     r"conv_transpose2d: output_padding \(2, 2\) must be smaller than stride"),
    (dict(output_padding=1), ValueError, r"conv_transpose2d: output_padding \(1, 1\) must be smaller"),
    (dict(padding=4), ValueError, r"conv_transpose2d: output would be -1x-1"),
    (dict(weight=np.zeros((4, 2, 3, 3), np.float32)), TypeError,
     r"conv_transpose2d: x is float64 but weight is float32"),
    (dict(bias=np.zeros(4)), ValueError, r"conv_transpose2d: bias must have shape \(2,\)"),
    (dict(x=np.zeros((2, 4, 5, 5), np.int64), weight=np.zeros((4, 2, 3, 3), np.int64)), TypeError,
     r"conv_transpose2d: x must be float32 or float64, got int64"),
])
def test_conv_transpose2d_errors(kwargs, error, pattern, no_work):
    args = dict(x=np.zeros((2, 4, 5, 5)), weight=np.zeros((4, 2, 3, 3)), bias=None)
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        conv_transpose2d(args.pop("x"), args.pop("weight"), args.pop("bias"), **args)


@pytest.mark.parametrize("case", CHUNK_CASES[:2], ids=lambda c: "x".join(map(str, c[:5])))
@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
@pytest.mark.parametrize("slots", ["one per chunk", "several chunks each"])
def test_threads_give_the_same_bits(op, slots, case, kernels, monkeypatch, rng):
    """With several threads each takes whole chunks (ops/conv.py, _over_chunks), and the weight and
    bias gradients add up in fixed slots: 1, 2 or 3 threads give exactly the same numbers, with
    one chunk per slot (small partial sums) and with several (SUM_BYTES 0: SUM_SLOTS slots)."""
    from nanogen import threads
    N, C, H, W, F, k, s, p, d, g, op_pad = case
    N = 13  # more chunks than SUM_SLOTS, one image each
    monkeypatch.setattr(ops_conv, "CHUNK_BYTES", 1)
    if slots == "several chunks each":
        monkeypatch.setattr(ops_conv, "SUM_BYTES", 0)
    x = rng.standard_normal((N, C if op == "conv2d" else F, H, W)).astype(np.float32)
    w = rng.standard_normal((F, C // g) + k).astype(np.float32)
    b = rng.standard_normal(F if op == "conv2d" else C).astype(np.float32)
    kw = dict(stride=s, padding=p, dilation=d, groups=g)
    if op == "conv_transpose2d":
        kw["output_padding"] = op_pad
    fn = conv2d if op == "conv2d" else conv_transpose2d
    results = []
    for T in (1, 2, 3):
        monkeypatch.setattr(threads, "get_num_threads", lambda T=T: T)
        ts = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = fn(*ts, **kw)
        y.backward(np.cos(np.arange(y.data.size, dtype=np.float32)).reshape(y.shape))
        results.append([y.data] + [t.grad for t in ts])
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_empty_batch(op, kernels):
    """A batch of no images: an empty output, no input gradient, zero weight gradient, as PyTorch."""
    x = Tensor(np.zeros((0, 3, 6, 6), np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 4, 3, 3), np.float32), requires_grad=True)
    b = Tensor(np.ones(4, np.float32), requires_grad=True)
    y = (conv2d if op == "conv2d" else conv_transpose2d)(x, w if op == "conv_transpose2d" else w.permute(1, 0, 2, 3), b)
    assert y.shape[:2] == (0, 4)
    y.sum().backward()
    assert x.grad.shape == x.shape
    np.testing.assert_array_equal(w.grad, np.zeros_like(w.data))
    np.testing.assert_array_equal(b.grad, np.zeros(4, np.float32))
