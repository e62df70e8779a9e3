"""Shape ops: each forward against NumPy's equivalent and each backward by finite differences."""

import numpy as np
import pytest

import nanogen as ng
import nanogen.functional as F
from nanogen import gradcheck

CASES = [
    ("reshape", lambda t: t.reshape(4, 6), lambda a: a.reshape(4, 6)),
    ("reshape_minus1", lambda t: t.reshape(-1, 3), lambda a: a.reshape(-1, 3)),
    ("view", lambda t: t.view((2, 12)), lambda a: a.reshape(2, 12)),
    ("flatten", lambda t: t.flatten(1), lambda a: a.reshape(2, 12)),
    ("transpose", lambda t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    ("permute", lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    ("T", lambda t: t.T, lambda a: a.T),
    ("unsqueeze", lambda t: t.unsqueeze(1), lambda a: a[:, None]),
    ("squeeze", lambda t: t[:, :1].squeeze(1), lambda a: a[:, 0]),
    ("expand", lambda t: t[:, :1].expand(2, 3, 4), lambda a: np.broadcast_to(a[:, :1], (2, 3, 4))),
    ("getitem_int", lambda t: t[1], lambda a: a[1]),
    ("getitem_slices", lambda t: t[:, 1::2, ::-1], lambda a: a[:, 1::2, ::-1]),
    ("getitem_ellipsis_none", lambda t: t[..., None, 2], lambda a: a[..., None, 2]),
    ("getitem_int_array_repeats", lambda t: t[np.array([0, 0, 1])], lambda a: a[[0, 0, 1]]),
    ("getitem_fancy_pair", lambda t: t[np.array([0, 1, 1]), np.array([2, 0, 2])], lambda a: a[[0, 1, 1], [2, 0, 2]]),
    ("pad", lambda t: F.pad(t, (1, 2, 0, 1)), lambda a: np.pad(a, ((0, 0), (0, 1), (1, 2)))),
    ("pad_value", lambda t: F.pad(t, (1, 1), value=3.0), lambda a: np.pad(a, ((0, 0), (0, 0), (1, 1)), constant_values=3.0)),
]


@pytest.mark.parametrize("name, fn, ref", CASES, ids=[c[0] for c in CASES])
def test_shape_op_forward_and_grad(name, fn, ref, rng):
    x = rng.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(fn(ng.tensor(x, dtype=np.float64)).data, ref(x))
    gradcheck(fn, x, name=name)


def test_boolean_mask_indexing(rng):
    x = rng.standard_normal((3, 4))
    mask = x > 0
    np.testing.assert_array_equal(ng.tensor(x, dtype=np.float64)[mask].data, x[mask])
    gradcheck(lambda t: t[mask], x)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack_split_chunk(dim, rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    ta, tb = ng.tensor(a, dtype=np.float64), ng.tensor(b, dtype=np.float64)
    np.testing.assert_array_equal(ng.cat([ta, tb], dim).data, np.concatenate([a, b], dim))
    np.testing.assert_array_equal(ng.stack([ta, tb], dim).data, np.stack([a, b], dim))
    gradcheck(lambda p, q: ng.cat([p, q * 2], dim), a, b)
    gradcheck(lambda p, q: ng.stack([p, q * 2], dim), a, b)
    pieces = ng.split(ng.tensor(a, dtype=np.float64), 2, dim)
    np.testing.assert_array_equal(ng.cat(list(pieces), dim).data, a)
    gradcheck(lambda p: ng.chunk(p, 2, dim)[-1], a)


def test_split_with_sizes_and_errors():
    x = ng.ones(5, 2)
    assert [p.shape for p in x.split([2, 3])] == [(2, 2), (3, 2)]
    with pytest.raises(ValueError, match="add up to 4, not 5"):
        x.split([2, 2])


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"reshape: cannot view a tensor of shape \(2, 3\) \(6 elements\) as \(4, 2\)"):
        ng.ones(2, 3).reshape(4, 2)


def test_cat_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="cat: shapes"):
        ng.cat([ng.ones(2, 3), ng.ones(3, 2)], 0)
