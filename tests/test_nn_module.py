"""Tests for nanogen/nn/module.py and container.py: registration, names, state_dict, modes, repr."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import nanogen as ng
from nanogen import nn
from nanogen.gradcheck import GradcheckError, directional_gradcheck, gradcheck
from nanogen.nn import functional_call


class Encoder(nn.Module):
    def __init__(self, rng=None):
        super().__init__()
        self.fc1 = nn.Linear(6, 5, rng=rng)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(5, 3, rng=rng)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Shift(nn.Module):
    """y = gain * x + offset, with a float buffer and an integer one (like BatchNorm's)."""

    def __init__(self, n):
        super().__init__()
        self.gain = nn.Parameter(np.ones(n, dtype=np.float32))
        self.register_buffer("offset", ng.zeros(n))
        self.register_buffer("calls", ng.Tensor(np.array(0, dtype=np.int64)))

    def forward(self, x):
        return x * self.gain + self.offset


class AutoEncoder(nn.Module):
    def __init__(self, rng=None):
        super().__init__()
        self.encoder = Encoder(rng)
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.decoder = nn.Sequential(nn.Linear(3, 4, rng=rng), Shift(4), nn.Linear(4, 6, rng=rng))

    def forward(self, x):
        return self.decoder(self.encoder(x) * self.scale)


EXPECTED_PARAMS = ["scale", "encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc2.weight", "encoder.fc2.bias",
                   "decoder.0.weight", "decoder.0.bias", "decoder.1.gain", "decoder.2.weight", "decoder.2.bias"]
EXPECTED_STATE = ["scale", "encoder.fc1.weight", "encoder.fc1.bias", "encoder.fc2.weight", "encoder.fc2.bias",
                  "decoder.0.weight", "decoder.0.bias", "decoder.1.gain", "decoder.1.offset", "decoder.1.calls",
                  "decoder.2.weight", "decoder.2.bias"]


# ---------------------------------------------------------------------------- Parameter


def test_parameter_is_a_leaf_that_requires_grad_and_shares_data():
    a = np.zeros((2, 3), dtype=np.float32)
    p = nn.Parameter(a)
    assert isinstance(p, ng.Tensor) and p.requires_grad and p.is_leaf
    assert p.data is a  # not copied: Parameter(a) trains the very array a
    assert nn.Parameter(ng.tensor([1.0, 2.0])).dtype == np.float32
    assert repr(p).startswith("Parameter containing:\ntensor(")
    with pytest.raises(TypeError, match="floating-point"):
        nn.Parameter(np.arange(3))


def test_parameter_gets_a_gradient(rng):
    p = nn.Parameter(rng.standard_normal(3))
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad, 2 * p.data)


# ---------------------------------------------------------------------------- registration and names


def test_named_parameters_in_registration_order_with_dotted_names(rng):
    model = AutoEncoder(rng)
    assert [n for n, _ in model.named_parameters()] == EXPECTED_PARAMS
    assert list(model.state_dict()) == EXPECTED_STATE
    assert [n for n, _ in model.named_buffers()] == ["decoder.1.offset", "decoder.1.calls"]
    assert [n for n, _ in model.named_children()] == ["encoder", "decoder"]
    assert [type(m).__name__ for m in model.modules()] == ["AutoEncoder", "Encoder", "Linear", "ReLU", "Linear",
                                                           "Sequential", "Linear", "Shift", "Linear"]
    assert len(list(model.parameters())) == len(EXPECTED_PARAMS)
    assert model.get_submodule("encoder.fc2") is model.encoder.fc2
    assert [n for n, _ in model.named_parameters(recurse=False)] == ["scale"]


def test_names_and_order_match_torch(rng):
    torch = pytest.importorskip("torch")
    tnn = torch.nn

    class TEncoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.act, self.fc2 = tnn.Linear(6, 5), tnn.ReLU(), tnn.Linear(5, 3)

    class TShift(tnn.Module):
        def __init__(self, n):
            super().__init__()
            self.gain = tnn.Parameter(torch.ones(n))
            self.register_buffer("offset", torch.zeros(n))
            self.register_buffer("calls", torch.tensor(0))

    class TAutoEncoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = TEncoder()
            self.scale = tnn.Parameter(torch.ones(3))
            self.decoder = tnn.Sequential(tnn.Linear(3, 4), TShift(4), tnn.Linear(4, 6))

    t = TAutoEncoder()
    assert [n for n, _ in t.named_parameters()] == EXPECTED_PARAMS
    assert list(t.state_dict()) == EXPECTED_STATE
    assert [n for n, _ in t.named_buffers()] == [n for n, _ in AutoEncoder(rng).named_buffers()]


def test_attribute_access_and_reassignment():
    m = nn.Linear(3, 2, bias=False)
    assert m.bias is None and "bias" not in dict(m.named_parameters())
    m.bias = nn.Parameter(np.zeros(2, dtype=np.float32))
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    with pytest.raises(TypeError, match="nn.Parameter"):
        m.weight = np.zeros((2, 3))  # a plain array into a parameter slot
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]

    enc = Encoder()
    enc.fc1 = nn.Linear(6, 5)  # replacing a sub-module keeps its place in the order
    assert [n for n, _ in enc.named_parameters()] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    enc.note = "plain attribute"
    enc.note = nn.Parameter(np.zeros(1))  # a plain attribute turned Parameter is registered
    assert "note" in dict(enc.named_parameters()) and "note" not in enc.__dict__

    seq = nn.Sequential(nn.Linear(2, 2))
    seq.extra = nn.Linear(2, 1)
    assert "extra.weight" in dict(seq.named_parameters())
    del seq.extra
    assert "extra.weight" not in dict(seq.named_parameters())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        seq.missing


def test_assigning_before_super_init_explains_the_fix():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_buffers_persistent_and_not():
    m = nn.Module()
    m.register_buffer("stats", ng.zeros(3))
    m.register_buffer("scratch", np.ones(2, dtype=np.float32), persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["stats", "scratch"]
    assert list(m.state_dict()) == ["stats"]
    m.stats = ng.ones(3)  # assigning a Tensor to a buffer name replaces the buffer
    np.testing.assert_array_equal(m.state_dict()["stats"], np.ones(3))
    with pytest.raises(TypeError, match="buffer 'stats'"):
        m.stats = [1, 2, 3]


def test_shared_parameter_listed_once_but_saved_under_both_names():
    a = nn.Linear(3, 3)
    m = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert m.num_parameters() == 12


def test_num_parameters_counts_every_weight(rng):
    model = AutoEncoder(rng)
    expected = 3 + (6 * 5 + 5) + (5 * 3 + 3) + (3 * 4 + 4) + 4 + (4 * 6 + 6)
    assert model.num_parameters() == expected
    model.encoder.requires_grad_(False)
    assert model.num_parameters(trainable_only=True) == expected - (6 * 5 + 5) - (5 * 3 + 3)


def test_call_runs_forward_and_missing_forward_is_explained(rng):
    m = Encoder(rng)
    x = ng.randn(4, 6, rng=rng)
    np.testing.assert_array_equal(m(x).data, m.forward(x).data)
    with pytest.raises(NotImplementedError, match="define forward"):
        nn.Module()(x)


# ---------------------------------------------------------------------------- modes and gradients


def test_train_eval_propagate_to_every_submodule(rng):
    model = AutoEncoder(rng)
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.decoder.train()
    assert model.decoder[1].training and not model.training and not model.encoder.fc1.training
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_sets_grads_to_none(rng):
    model = Encoder(rng)
    model(ng.randn(2, 6, rng=rng)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_to_double_converts_params_buffers_and_grads_in_place(rng):
    model = AutoEncoder(rng)
    model(ng.randn(5, 6, rng=rng)).sum().backward()
    before = list(model.parameters())
    assert model.double() is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in before]  # same objects
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    shift = model.decoder[1]
    assert shift.offset.dtype == np.float64 and shift.calls.dtype == np.int64  # integer buffers keep their dtype
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert model.to("cpu") is model
    with pytest.raises(TypeError, match="float32 or float64"):
        model.to(np.int32)


def test_deepcopy_gives_independent_weights(rng):
    model = Encoder(rng)
    clone = copy.deepcopy(model)
    clone.fc1.weight.data += 1
    assert not np.allclose(clone.fc1.weight.data, model.fc1.weight.data)
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]


# ---------------------------------------------------------------------------- state_dict


def test_state_dict_is_a_copy_and_round_trips(rng):
    a, b = AutoEncoder(np.random.default_rng(1)), AutoEncoder(np.random.default_rng(2))
    a.decoder[1].calls.data[...] = 7
    a.decoder[1].offset.data[...] = 0.5
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict) and all(isinstance(v, np.ndarray) for v in sd.values())
    sd["scale"][...] = 5.0
    assert not np.any(a.scale.data == 5.0)  # a copy, not a view
    sd = a.state_dict()
    x = ng.randn(4, 6, rng=rng)
    a.eval(), b.eval()
    assert not np.allclose(a(x).data, b(x).data)
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert int(b.decoder[1].calls.data) == 7 and b.decoder[1].calls.dtype == np.int64


def test_load_state_dict_converts_dtype_and_accepts_tensors(rng):
    m = nn.Linear(3, 2, rng=rng)
    w = rng.standard_normal((2, 3))  # float64 into a float32 layer
    m.load_state_dict({"weight": ng.Tensor(w), "bias": np.zeros(2)})
    assert m.weight.dtype == np.float32
    np.testing.assert_allclose(m.weight.data, w.astype(np.float32))


def test_load_state_dict_missing_key_is_named(rng):
    m = nn.Sequential(nn.Linear(3, 2, rng=rng), nn.ReLU(), nn.Linear(2, 2, rng=rng))
    sd = m.state_dict()
    del sd["2.bias"]
    with pytest.raises(ValueError, match=r"missing keys.*2\.bias"):
        m.load_state_dict(sd)
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == []


def test_load_state_dict_unexpected_key_is_named(rng):
    m = nn.Linear(3, 2, rng=rng)
    sd = m.state_dict()
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"unexpected keys.*extra\.weight"):
        m.load_state_dict(sd)
    assert m.load_state_dict(sd, strict=False).unexpected_keys == ["extra.weight"]


def test_load_state_dict_wrong_shape_names_tensor_and_both_shapes_and_writes_nothing(rng):
    m = nn.Sequential(nn.Linear(784, 400, rng=rng), nn.ReLU(), nn.Linear(400, 20, rng=rng))
    before = {k: v.copy() for k, v in m.state_dict().items()}
    sd = {k: np.ones_like(v) for k, v in before.items()}
    sd["0.weight"] = np.zeros((400, 100), dtype=np.float32)
    for strict in (True, False):  # a shape mismatch is an error even when not strict
        with pytest.raises(ValueError, match=r"0\.weight.*\(400, 100\).*\(400, 784\)"):
            m.load_state_dict(sd, strict=strict)
    for k, v in m.state_dict().items():  # nothing was written, not even the keys that fit
        np.testing.assert_array_equal(v, before[k])


# ---------------------------------------------------------------------------- repr


MLP_REPR = """Sequential(
  (0): Linear(in_features=784, out_features=400, bias=True)
  (1): ReLU()
  (2): Linear(in_features=400, out_features=20, bias=False)
)"""


def test_repr_tree_like_pytorch(rng):
    m = nn.Sequential(nn.Linear(784, 400, rng=rng), nn.ReLU(), nn.Linear(400, 20, bias=False, rng=rng))
    assert repr(m) == MLP_REPR
    nested = repr(AutoEncoder(rng))
    assert nested.startswith("AutoEncoder(\n  (encoder): Encoder(\n    (fc1): Linear(in_features=6, out_features=5")
    assert "  (decoder): Sequential(\n    (0): Linear(in_features=3" in nested
    assert repr(nn.ModuleList([nn.Tanh(), nn.Tanh(), nn.ReLU()])) == \
        "ModuleList(\n  (0-1): 2 x Tanh()\n  (2): ReLU()\n)"
    assert repr(nn.Sequential()) == "Sequential()" and repr(nn.ModuleList()) == "ModuleList()"


def test_repr_equals_torch_repr(rng):
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Linear(784, 400), torch.nn.ReLU(), torch.nn.Linear(400, 20, bias=False),
                            torch.nn.ModuleList([torch.nn.Tanh(), torch.nn.Tanh(), torch.nn.Sigmoid()]))
    m = nn.Sequential(nn.Linear(784, 400, rng=rng), nn.ReLU(), nn.Linear(400, 20, bias=False, rng=rng),
                      nn.ModuleList([nn.Tanh(), nn.Tanh(), nn.Sigmoid()]))
    assert repr(m) == repr(t)


# ---------------------------------------------------------------------------- containers


def test_sequential_chains_indexes_slices_and_appends(rng):
    l0, l2 = nn.Linear(4, 3, rng=rng), nn.Linear(3, 2, rng=rng)
    seq = nn.Sequential(l0, nn.Tanh(), l2)
    x = ng.randn(5, 4, rng=rng)
    np.testing.assert_allclose(seq(x).data, l2(l0(x).tanh()).data)
    assert len(seq) == 3 and list(seq)[0] is l0 and seq[-1] is l2 and seq[0] is l0
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and len(tail) == 2
    assert [n for n, _ in tail.named_parameters()] == ["2.weight", "2.bias"]  # keys kept, as PyTorch
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and isinstance(seq[3], nn.Sigmoid)
    seq[1] = nn.ReLU()
    assert isinstance(seq[1], nn.ReLU)
    with pytest.raises(IndexError, match="out of range"):
        seq[4]
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), np.tanh)


def test_sequential_from_ordered_dict_uses_its_names(rng):
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3, rng=rng)), ("act", nn.ReLU())]))
    assert list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    assert repr(seq).splitlines()[1] == "  (fc): Linear(in_features=2, out_features=3, bias=True)"


def test_module_list_registers_items_and_behaves_like_a_list(rng):
    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(2, 2, rng=rng) for _ in range(2)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    s = Stack()
    assert [n for n, _ in s.named_parameters()] == ["layers.0.weight", "layers.0.bias",
                                                     "layers.1.weight", "layers.1.bias"]
    first = s.layers[0]
    s.layers.insert(0, nn.Linear(2, 2, rng=rng))
    assert len(s.layers) == 3 and s.layers[1] is first  # renumbered after insert
    s.layers.append(nn.Linear(2, 2, rng=rng))
    assert len(s.layers) == 4 and len(list(s.parameters())) == 8
    del s.layers[0]
    assert s.layers[0] is first and len(s.layers) == 3
    assert isinstance(s.layers[1:], nn.ModuleList) and len(s.layers[1:]) == 2
    assert s(ng.randn(3, 2, rng=rng)).shape == (3, 2)
    s.layers += [nn.Identity()]
    assert len(s.layers) == 4
    with pytest.raises(TypeError, match="must be Modules"):
        s.layers.append("relu")
    with pytest.raises(NotImplementedError):
        s.layers(ng.zeros(1, 2))


# ---------------------------------------------------------------------------- whole-model gradient


def test_functional_call_swaps_in_tensors_and_restores(rng):
    m = nn.Linear(3, 2, rng=rng)
    w = ng.zeros(2, 3)
    x = ng.randn(4, 3, rng=rng)
    np.testing.assert_allclose(functional_call(m, {"weight": w}, x).data, np.broadcast_to(m.bias.data, (4, 2)))
    assert isinstance(m.weight, nn.Parameter)  # put back
    with pytest.raises(KeyError, match="no parameter or buffer"):
        functional_call(m, {"wieght": w}, x)


def test_tiny_mlp_gradcheck_float64(rng):
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng)).double()
    names = [n for n, _ in model.named_parameters()]
    weights = [p.data.copy() for p in model.parameters()]
    x = rng.standard_normal((5, 3))

    def mlp(x, *ws):
        return functional_call(model, dict(zip(names, ws)), x)

    assert gradcheck(mlp, x, *weights)
    assert directional_gradcheck(mlp, x, *weights)


def test_tiny_mlp_parameter_grads_match_finite_differences(rng):
    """The gradients a real training step sees: model(x).backward() into the registered Parameters."""
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.Tanh(), nn.Linear(4, 2, rng=rng)).double()
    x = ng.Tensor(rng.standard_normal((5, 3)))
    v = rng.standard_normal((5, 2))
    model(x).backward(v)
    eps = 1e-6
    for name, p in model.named_parameters():
        flat = p.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            up = float(np.sum(model(x).data * v))
            flat[j] = orig - eps
            down = float(np.sum(model(x).data * v))
            flat[j] = orig
            assert abs(p.grad.reshape(-1)[j] - (up - down) / (2 * eps)) < 1e-6, (name, j)


def test_tiny_mlp_gradcheck_catches_a_wrong_gradient(rng):
    """The whole-model check can fail: a layer whose backward is off by a factor must be caught."""
    from nanogen.autograd import Function

    class WrongDouble(Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            return (3 * grad,)  # should be 2 * grad

    class Bad(nn.Module):
        def forward(self, x):
            return WrongDouble.apply(x)

    model = nn.Sequential(nn.Linear(3, 2, rng=rng), Bad()).double()
    names = [n for n, _ in model.named_parameters()]
    with pytest.raises(GradcheckError):
        gradcheck(lambda x, *ws: functional_call(model, dict(zip(names, ws)), x),
                  rng.standard_normal((2, 3)), *[p.data.copy() for p in model.parameters()])
