"""Neural style transfer: gradient descent on the pixels of an image, not on the weights of a network.

The idea (Gatys, Ecker & Bethge 2016, "Image Style Transfer Using Convolutional Neural Networks",
§2-3). A CNN's feature maps F_l(x) at layer l (C_l channels over H_l x W_l positions) say what is
where in the image x. Their channel correlations averaged over all positions,
    G_l(x) = F_l F_l^T / (C_l H_l W_l)          (F_l flattened to (C_l, H_l W_l); G_l: (C_l, C_l))
keep which features occur together and forget where: that is texture, or "style". So start from
noise (or from the content image c) and descend on the image x itself:
    L(x) = α Σ_{l in content} mean (F_l(x) - F_l(c))²                       content: the layout of c
         + β Σ_{l in style}   w_l ||G_l(x) - G_l(s)||²_F                    style: the textures of s
         + γ tv(x),  tv(x) = mean (x[i+1, j] - x[i, j])² + mean (x[i, j+1] - x[i, j])²
The gradient dL/dx comes from the same backward pass as training: the image is the only leaf that
requires grad, the network's weights are constants. Texture synthesis is the case α = 0.

The network need not be trained. A multi-scale CNN with fixed random weights already gives real
texture synthesis and style transfer (Ustyuzhaninov, Brendel, Gatys & Bethge 2017, "What does it
take to generate natural textures?"; He, Wang & Hopcroft 2016, "A powerful generative model using
random weights for the deep image representation"), so `random_features` is the default; the
MNIST `classifier` (digit-to-digit transfer) and VGG-19 weights given as an .npz also plug in.

Shapes: image x (1, C, H, W) in [0, 1]; features F_l (1, C_l, H_l, W_l); Gram G_l (1, C_l, C_l).
Failure modes: the Gram matrix is blind to arrangement, so style images with large structures
(faces, buildings) come back as shuffled patches; β too small copies the content, too large loses
it; without the tv term the result crawls with high-frequency noise, with too much it blurs;
random features know colour and local texture, not objects, so "content" means edges and layout.
Read after nn/, optim/ and models/classifier.py; nanogen/style_cli.py loads images and runs it.
"""

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..autograd import Function, no_grad
from ..ops.loss import mse_loss
from ..ops.shape import cat
from ..optim import Adam
from ..tensor import Tensor

# ---------------------------------------------------------------------------- configuration


@dataclass
class StyleConfig:
    steps: int = 200  # optimisation steps (Adam updates, or L-BFGS iterations)
    lr: float = 0.02  # Adam step size in pixel units (images live in [0, 1])
    content_weight: float = 1.0  # α: how strongly the result keeps the content's features
    style_weight: float = 100.0  # β: how strongly it takes on the style's Gram matrices
    tv_weight: float = 1.0  # γ: how strongly neighbouring pixels are pulled together
    init: str = "content"  # "content" (start from the content image) or "noise"
    optimizer: str = "adam"  # "adam" or "lbfgs"
    content_layers: tuple = None  # layer names for the content loss (None: the network's default)
    style_layers: tuple = None  # layer names for the style loss (None: the network's default)
    style_layer_weights: tuple = None  # w_l, one per style layer (None: equal weights summing to 1)
    seed: int = 0  # seeds the noise image of init="noise"


# ---------------------------------------------------------------------------- the three losses


class Gram(Function):
    """G[n] = f[n] @ f[n].T / (C*H*W),   f = x reshaped to (N, C, H*W)

    x: (N, C, H, W) -> G: (N, C, C)          G[n, a, b] = mean over positions of x[n, a] * x[n, b] / C
    Backward, with grad = dL/dG of shape (N, C, C):
        dL/df = (grad + grad^T) @ f / (C*H*W)      (N, C, C)(N, C, H*W) -> (N, C, H*W) -> (N, C, H, W)
    (G depends on f twice, as f and as f^T: hence grad + grad^T.)
    Normalisation: dividing by H*W makes G an average over positions, independent of the image's
    size, so a style image of another size compares fairly with the result; dividing by C too keeps
    the entries of wide and narrow layers on one scale, so the layer weights w_l mean what they
    say. It is Gatys et al.'s 1/(N_l M_l) (their eq. 4, N_l = C, M_l = H*W) moved into G.
    """

    @staticmethod
    def forward(ctx, x):
        # BEGIN SOLUTION gram_matrix
        N, C, H, W = x.shape
        f = x.reshape(N, C, H * W)  # (N, C, H, W) -> (N, C, HW)
        ctx.save_for_backward(f)
        ctx.shape = x.shape
        g = np.empty((N, C, C), dtype=x.dtype)
        for n in range(N):  # one 2-D BLAS GEMM per image; NumPy's stacked matmul with a transposed
            g[n] = f[n] @ f[n].T  # view measured ~1000x slower here   (C, HW)(HW, C) -> (C, C)
        return g / (C * H * W)
        # END SOLUTION

    @staticmethod
    def backward(ctx, grad):
        # BEGIN SOLUTION gram_matrix
        (f,) = ctx.saved
        N, C, H, W = ctx.shape
        df = np.empty_like(f)
        for n in range(N):
            df[n] = ((grad[n] + grad[n].T) / (C * H * W)) @ f[n]  # (C, C)(C, HW) -> (C, HW)
        return df.reshape(N, C, H, W)
        # END SOLUTION


def gram_matrix(x):
    """The Gram matrix of feature maps, G = F F^T / (C*H*W): (N, C, H, W) -> (N, C, C). See Gram."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim != 4:
        raise ValueError(f"gram_matrix: features must be (N, C, H, W), got shape {tuple(x.shape)}"
                         + ("; add a batch axis with x[None]" if x.ndim == 3 else ""))
    if x.dtype.kind != "f":
        raise TypeError(f"gram_matrix: features must be floating point, got dtype {x.dtype}")
    return Gram.apply(x)


class TotalVariation(Function):
    """tv(x) = mean (x[.., i+1, j] - x[.., i, j])²  +  mean (x[.., i, j+1] - x[.., i, j])²

    x: (N, C, H, W) with H, W >= 2 -> a scalar.  dh = x[:, :, 1:] - x[:, :, :-1]: (N, C, H-1, W),
    dw = x[..., 1:] - x[..., :-1]: (N, C, H, W-1). Backward, with grad = dL/dtv (a scalar):
        a = 2 grad dh / dh.size:   dL/dx[:, :, 1:]  += a,   dL/dx[:, :, :-1]  -= a
        b = 2 grad dw / dw.size:   dL/dx[..., 1:]   += b,   dL/dx[..., :-1]   -= b
    Squared differences, not the absolute ones of the original total variation (Rudin, Osher &
    Fatemi 1992): smooth at 0, so the gradient never jumps (the β = 2 case of Mahendran & Vedaldi
    2015, "Understanding Deep Image Representations by Inverting Them").
    """

    @staticmethod
    def forward(ctx, x):
        dh = x[:, :, 1:, :] - x[:, :, :-1, :]  # (N, C, H-1, W)
        dw = x[:, :, :, 1:] - x[:, :, :, :-1]  # (N, C, H, W-1)
        ctx.save_for_backward(dh, dw)
        ctx.shape = x.shape
        return np.asarray(np.mean(dh * dh) + np.mean(dw * dw), dtype=x.dtype)

    @staticmethod
    def backward(ctx, grad):
        dh, dw = ctx.saved
        dx = np.zeros(ctx.shape, dtype=dh.dtype)
        a = (2 * grad / dh.size) * dh
        dx[:, :, 1:, :] += a
        dx[:, :, :-1, :] -= a
        b = (2 * grad / dw.size) * dw
        dx[:, :, :, 1:] += b
        dx[:, :, :, :-1] -= b
        return dx


def tv_loss(x):
    """Total variation (squared differences of neighbouring pixels) of images (N, C, H, W) -> scalar."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        raise ValueError(f"tv_loss: x must be images (N, C, H, W) with H, W >= 2, got shape {tuple(x.shape)}")
    return TotalVariation.apply(x)


def content_loss(features, targets):
    """Σ over layers of mean (F_l(x) - F_l(c))²: dicts layer name -> (1, C_l, H_l, W_l) features.

    The mean (not Gatys et al.'s ½ Σ) makes layers of different sizes count alike. `targets` are
    constants (ndarrays): the content image's features, computed once before the loop.
    """
    total = None
    for name, target in targets.items():
        if name not in features:
            raise ValueError(f"content_loss: no features for layer {name!r}; got {sorted(features)}")
        f = features[name]
        if tuple(f.shape) != tuple(np.shape(target)):
            raise ValueError(f"content_loss: layer {name!r}: features {tuple(f.shape)} and content target "
                             f"{tuple(np.shape(target))} differ; the result must have the content image's size")
        term = mse_loss(f, target)
        total = term if total is None else total + term
    return total


def style_loss(features, target_grams, weights):
    """Σ_l w_l ||G_l(x) - G_l(s)||²_F over the style layers.

    features: layer name -> (1, C_l, H_l, W_l); target_grams: layer name -> (1, C_l, C_l) ndarray,
    the style image's Gram matrices (constants); weights: layer name -> w_l. With our normalised G
    this is 4x Gatys et al.'s E_l (eq. 4-5), the factor 4 being absorbed into β.
    """
    total = None
    for name, target in target_grams.items():
        if name not in features:
            raise ValueError(f"style_loss: no features for layer {name!r}; got {sorted(features)}")
        term = mse_loss(gram_matrix(features[name]), target, reduction="sum") * weights[name]
        total = term if total is None else total + term
    return total


# ---------------------------------------------------------------------------- feature networks


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights: RGB -> grey for one-channel networks
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the inputs VGG was trained on


class FeatureNet(nn.Module):
    """A CNN read as a feature extractor: run its layers in order and keep the named outputs.

    features: an nn.Sequential of the layers (stored as `features`, so the state_dict keys read
              `features.0.weight` exactly like torchvision's VGG-19, and a converted file loads as is)
    names:    one name per layer, e.g. "conv1_1", "relu1_1", "pool1"
    mean, std: per input channel; prepare() maps an image in [0, 1] to (x - mean) / std
    content_layers, style_layers: the defaults the losses use
    style_weight: a β that suits this network (the size of Gram entries depends on the network)
    The weights are frozen (requires_grad=False): backward then computes only dL/dimage.
    """

    def __init__(self, features, names, mean, std, content_layers, style_layers, style_weight=100.0, description=""):
        super().__init__()
        if len(names) != len(features):
            raise ValueError(f"FeatureNet: {len(names)} names for {len(features)} layers")
        self.features = features
        self.names = list(names)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.in_channels = len(self.mean)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.style_weight = float(style_weight)
        self.description = description
        self.check_layers(self.content_layers + self.style_layers)
        self.requires_grad_(False)
        self.eval()

    def check_layers(self, layers):
        unknown = [name for name in layers if name not in self.names]
        if unknown:
            raise ValueError(f"{self.description or 'FeatureNet'}: unknown layer(s) {unknown}; "
                             f"this network has {', '.join(self.names)}")

    def min_size(self, layers):
        """The smallest H (and W) the image may have: each pooling layer before the deepest of
        `layers` halves the size, and the last one must still leave one pixel."""
        deepest = max(self.names.index(name) for name in layers)
        pools = sum(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in list(self.features)[: deepest + 1])
        return 2**pools

    def prepare(self, image):
        """Image (N, C, H, W) in [0, 1] -> the network's input: channels matched, then normalised."""
        N, C, H, W = image.shape
        if C == 3 and self.in_channels == 1:
            luma = np.asarray(LUMA, dtype=image.dtype).reshape(1, 3, 1, 1)
            image = (image * luma).sum(dim=1, keepdim=True)  # (N, 3, H, W) -> (N, 1, H, W)
        elif C == 1 and self.in_channels == 3:
            image = image.expand(N, 3, H, W)  # grey -> RGB, each channel the same
        elif C != self.in_channels:
            raise ValueError(f"{self.description or 'FeatureNet'}: expected images with 1 or 3 channels, "
                             f"got shape {tuple(image.shape)}")
        mean = self.mean.astype(image.dtype).reshape(1, -1, 1, 1)
        std = self.std.astype(image.dtype).reshape(1, -1, 1, 1)
        return (image - mean) / std

    def forward(self, image, layers):
        """{name: features (N, C_l, H_l, W_l)} for each name in `layers`; stops after the deepest."""
        if not isinstance(image, Tensor):
            image = Tensor(image)
        if image.ndim != 4:
            raise ValueError(f"{self.description or 'FeatureNet'}: image must be (N, C, H, W), got shape "
                             f"{tuple(image.shape)}" + ("; add a batch axis with x[None]" if image.ndim == 3 else ""))
        self.check_layers(layers)
        wanted = set(layers)
        deepest = max(self.names.index(name) for name in wanted)
        x = self.prepare(image)
        out = {}
        for name, layer in zip(self.names[: deepest + 1], self.features):
            x = layer(x)
            if name in wanted:
                out[name] = x
        return out


class ConvBank(nn.Module):
    """Filters of several sizes side by side: y = cat(conv_k1(x), conv_k2(x), ...) along channels.

    x: (N, C, H, W) -> y: (N, Σ F_i, H, W) (each conv padded to keep H and W). Ustyuzhaninov et
    al. (2017) found that one layer of random filters of many sizes already synthesises textures:
    what matters is many filters (more than a patch has numbers, so the Gram matrix pins the patch
    statistics down; demos/texture.py shows 8 filters failing) and several sizes (several scales
    of structure), more than depth.
    """

    def __init__(self, in_channels, out_channels, kernel_sizes, dtype=np.float32, rng=None):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, f, k, padding=k // 2, bias=False, dtype=dtype, rng=rng)
                                    for f, k in zip(out_channels, kernel_sizes)])

    def forward(self, x):
        return cat([conv(x) for conv in self.convs], dim=1)  # (N, F_i, H, W) each -> (N, Σ F_i, H, W)


def random_features(seed=0, dtype=np.float32):
    """The default feature network: multi-scale, fixed random weights, no download needed.

        conv1  3 -> 96: a ConvBank of 32 filters each of 3x3, 5x5 and 7x7     relu1   H x W
        pool1  2x2 average                                                           H/2
        conv2  96 -> 64, 3x3                                                   relu2
        pool2                                                                        H/4
        conv3  64 -> 128, 3x3 dilated by 2 (a 5x5 view for the price of 3x3)   relu3
        pool3                                                                        H/8
        conv4  128 -> 128, 3x3 dilated by 2 (sees 66 x 66 image pixels)        relu4
    Weights ~ N(0, 2 / fan_in) (He et al. 2015), so activations keep their scale through the
    ReLUs; no biases; average pooling, which Gatys et al. (§2) prefer to max pooling for smoother
    gradients. Style layers relu1-4, content relu3. `seed` fixes the weights: the same seed gives
    the same network and the same picture.
    """
    rng = np.random.default_rng(seed)

    def conv(c_in, c_out, k, d):
        return nn.Conv2d(c_in, c_out, k, padding=d * (k - 1) // 2, dilation=d, bias=False, dtype=dtype, rng=rng)

    layers = {
        "conv1": ConvBank(3, (32, 32, 32), (3, 5, 7), dtype=dtype, rng=rng),
        "relu1": nn.ReLU(), "pool1": nn.AvgPool2d(2),
        "conv2": conv(96, 64, 3, 1), "relu2": nn.ReLU(), "pool2": nn.AvgPool2d(2),
        "conv3": conv(64, 128, 3, 2), "relu3": nn.ReLU(), "pool3": nn.AvgPool2d(2),
        "conv4": conv(128, 128, 3, 2), "relu4": nn.ReLU(),
    }
    features = nn.Sequential(*layers.values())
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu", rng=rng)
    return FeatureNet(features, list(layers), mean=IMAGENET_MEAN, std=IMAGENET_STD,
                      content_layers=("relu3",), style_layers=("relu1", "relu2", "relu3", "relu4"),
                      description=f"random features (seed {seed})")


# torchvision's vgg19().features, index by index: 16 convs (3x3, padding 1), a ReLU after each, 5 max pools.
VGG19_CHANNELS = [64, 64, "pool", 128, 128, "pool", 256, 256, 256, 256, "pool",
                  512, 512, 512, 512, "pool", 512, 512, 512, 512, "pool"]


def vgg19_layer_names():
    """["conv1_1", "relu1_1", "conv1_2", ..., "pool5"]: the name of features.N for N = 0..36."""
    names, block, conv = [], 1, 1
    for c in VGG19_CHANNELS:
        if c == "pool":
            names.append(f"pool{block}")
            block, conv = block + 1, 1
        else:
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
            conv += 1
    return names


def vgg19_features(state_dict, pool="avg", dtype=np.float32):
    """VGG-19's convolutional part with weights from `state_dict` (torchvision's key names).

    state_dict: {"features.0.weight": (64, 3, 3, 3), "features.0.bias": (64,), "features.2.weight": ...},
    e.g. the arrays of an .npz written from PyTorch with
        np.savez("vgg19.npz", **{k: v.numpy() for k, v in torchvision.models.vgg19(weights="DEFAULT")
                                 .state_dict().items()})
    Keys outside `features.` (the classifier head) are ignored. A file holding only the first k
    convolutions gives a network cut after the k-th ReLU. pool: "avg" (Gatys et al. §2) or "max".
    Defaults follow Gatys et al.: content relu4_2, style relu1_1 ... relu5_1 (as far as present).
    """
    if pool not in ("avg", "max"):
        raise ValueError(f"vgg19_features: pool must be 'avg' or 'max', got {pool!r}")
    all_names = vgg19_layer_names()
    expected = {}  # key -> shape, for every conv of the full network
    layers, c_in, index = [], 3, 0
    rng = np.random.default_rng(0)  # the initial weights are overwritten; do not touch the global generator
    for c in VGG19_CHANNELS:
        if c == "pool":
            layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
            index += 1
            continue
        expected[f"features.{index}.weight"] = (c, c_in, 3, 3)
        expected[f"features.{index}.bias"] = (c,)
        layers += [nn.Conv2d(c_in, c, 3, padding=1, dtype=dtype, rng=rng), nn.ReLU()]
        c_in, index = c, index + 2
    given = {k: v for k, v in state_dict.items() if k.startswith("features.")}
    unknown = sorted(set(given) - set(expected))
    if unknown:
        raise ValueError(f"vgg19_features: unexpected keys {unknown[:5]}; VGG-19's convolutions are "
                         f"features.N.weight/bias for N in 0, 2, 5, 7, 10, ... (torchvision's names)")
    # how many convolutions, counted from the first, the file holds
    n_layers = 0
    for i, name in enumerate(all_names):
        if name.startswith("conv"):
            if f"features.{i}.weight" not in given:
                break
            n_layers = i + 2  # the conv and its ReLU
    if n_layers == 0:
        raise ValueError(f"vgg19_features: no features.0.weight among the {len(state_dict)} keys "
                         f"({sorted(state_dict)[:5]}...); is this a VGG-19 state dict in torchvision's names?")
    loaded = {}
    for key, shape in expected.items():
        if int(key.split(".")[1]) >= n_layers:
            if key in given:
                raise ValueError(f"vgg19_features: {key} is present but an earlier convolution is missing")
            continue
        if key not in given:
            raise ValueError(f"vgg19_features: {key} is missing (its weight is present)")
        if tuple(np.shape(given[key])) != shape:
            raise ValueError(f"vgg19_features: {key} has shape {tuple(np.shape(given[key]))}, expected {shape}")
        loaded[key] = np.asarray(given[key], dtype=dtype)
    names = all_names[:n_layers]
    net_layers = nn.Sequential(*layers[:n_layers])
    for i, m in enumerate(net_layers):
        if isinstance(m, nn.Conv2d):
            m.weight.data[...] = loaded[f"features.{i}.weight"]
            m.bias.data[...] = loaded[f"features.{i}.bias"]
    style = [n for n in ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1") if n in names]
    content = ["relu4_2"] if "relu4_2" in names else [names[-1]]
    return FeatureNet(net_layers, names, IMAGENET_MEAN, IMAGENET_STD, content, style,
                      description=f"VGG-19 features ({n_layers} layers, {pool} pooling)")


def sequential_features(model, mean=(0.0,), std=(1.0,), style_weight=1000.0, description="classifier features"):
    """A FeatureNet from the convolutional trunk of a trained model (e.g. the MNIST classifier).

    model: an nn.Module whose first nn.Sequential child (or the model itself, if Sequential) starts
    with Conv2d layers; the trunk runs up to the first layer that is neither Conv2d, ReLU/LeakyReLU
    nor a pooling layer (usually Flatten). Names: conv1, relu1, pool1, conv2, ...; style layers:
    every ReLU; content layers: the last two ReLUs (for MNIST's classifier both: the full-size first
    layer keeps the black background black). mean, std: the standardisation the model applies to
    its input. Copies nothing: the weights stay the model's, and are frozen.
    """
    seq = model if isinstance(model, nn.Sequential) else next(
        (m for m in model.modules() if isinstance(m, nn.Sequential) and len(m) and isinstance(m[0], nn.Conv2d)), None)
    if seq is None or not len(seq) or not isinstance(seq[0], nn.Conv2d):
        raise ValueError(f"sequential_features: {type(model).__name__} has no nn.Sequential starting with a Conv2d "
                         "to use as feature network")
    layers, names, n_conv, n_pool = [], [], 0, 0
    for m in seq:
        if isinstance(m, nn.Conv2d):
            n_conv += 1
            name = f"conv{n_conv}"
        elif isinstance(m, (nn.ReLU, nn.LeakyReLU)):
            name = f"relu{n_conv}"  # named after the convolution it follows
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            n_pool += 1
            name = f"pool{n_pool}"
        elif isinstance(m, (nn.BatchNorm2d, nn.Dropout)):
            name = f"{type(m).__name__.lower()}{n_conv}"  # eval mode: a fixed affine map / the identity
        else:
            break  # Flatten, Linear: the end of the convolutional trunk
        layers.append(m)
        names.append(name)
    relus = [n for n in names if n.startswith("relu")]
    if not relus:
        raise ValueError("sequential_features: the convolutional trunk has no ReLU to take features from")
    return FeatureNet(nn.Sequential(*layers), names, mean, std, content_layers=relus[-2:], style_layers=relus,
                      style_weight=style_weight, description=description)


# ---------------------------------------------------------------------------- the optimisation


def style_targets(net, content, style, content_layers, style_layers):
    """The constants of the losses, computed once: the content image's features at the content
    layers, and the style image's Gram matrices at the style layers (ndarrays)."""
    with no_grad():
        targets = {}
        if content is not None and content_layers:
            f = net(content, content_layers)
            targets["content"] = {k: f[k].data for k in content_layers}
        f = net(style, style_layers)
        targets["style"] = {k: gram_matrix(f[k]).data for k in style_layers}
    return targets


def objective(net, x, targets, content_weight, style_weight, tv_weight, layer_weights):
    """L(x) = α content + β style + γ tv, returned with its parts: {"loss", "content", "style", "tv"}
    (the parts unweighted, so a demo prints what each term does)."""
    content_t = targets.get("content", {}) if content_weight else {}
    layers = list(dict.fromkeys(list(content_t) + list(targets["style"])))
    features = net(x, layers)
    parts = {"style": style_loss(features, targets["style"], layer_weights)}
    loss = parts["style"] * style_weight
    if content_t:
        parts["content"] = content_loss(features, content_t)
        loss = loss + parts["content"] * content_weight
    if tv_weight:
        parts["tv"] = tv_loss(x)
        loss = loss + parts["tv"] * tv_weight
    return {"loss": loss, **parts}


def style_step(net, x, opt, targets, content_weight, style_weight, tv_weight, layer_weights):
    """One Adam step on the pixels: the training step of a model, with the image as the parameter."""
    opt.zero_grad()
    terms = objective(net, x, targets, content_weight, style_weight, tv_weight, layer_weights)
    terms["loss"].backward()  # fills x.grad only: the network's weights are frozen
    opt.step()
    with no_grad():
        np.clip(x.data, 0.0, 1.0, out=x.data)  # projected gradient descent: stay a valid image
    return {k: float(v.data) for k, v in terms.items()}


def lbfgs(fun, x0, steps, history=10, callback=None):
    """Minimise fun(x) -> (loss, gradient, info) over a flat float64 vector with L-BFGS (Nocedal &
    Wright 2006, Algorithm 7.4, the two-loop recursion) and a backtracking (Armijo) line search.

    The optimiser Gatys et al. used: it builds a curvature model from the last `history` steps and
    usually needs far fewer iterations than Adam. callback(it, loss, info) runs at the start of
    each iteration, as style_step reports the image it is about to update. Unconstrained: the
    caller clips the image afterwards. Returns the last point.
    """
    x = x0.copy()
    f, g, info = fun(x)
    s_list, y_list = [], []
    for it in range(steps):
        if callback is not None:
            callback(it, f, info)
        q = g.copy()  # two-loop recursion: d = -H g, H the inverse-Hessian estimate
        alphas = []
        for s, y in zip(reversed(s_list), reversed(y_list)):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if s_list:
            q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])  # H0 = γ I, γ = s·y / y·y
        else:
            q *= 1e-2 / max(np.abs(g).mean(), 1e-30)  # first step: about 0.01 per pixel
        for (s, y), a in zip(zip(s_list, y_list), reversed(alphas)):
            b = (y @ q) / (y @ s)
            q += (a - b) * s
        d = -q
        slope = g @ d
        if slope >= 0:  # not a descent direction (the curvature model broke down): restart
            s_list, y_list = [], []
            d = -g * (1e-2 / max(np.abs(g).mean(), 1e-30))
            slope = g @ d
        t = 1.0
        for _ in range(20):  # backtrack until the Armijo condition f(x + t d) <= f + c t g·d holds
            f_new, g_new, info_new = fun(x + t * d)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break  # no decrease along d: as converged as float precision allows
        s, y = t * d, g_new - g
        x, f, g, info = x + s, f_new, g_new, info_new
        if y @ s > 1e-10:  # keep only pairs with positive curvature, so H stays positive definite
            s_list.append(s)
            y_list.append(y)
            if len(s_list) > history:
                s_list.pop(0)
                y_list.pop(0)
    return x


def _layer_weights(layers, weights):
    if weights is None:
        return {name: 1.0 / len(layers) for name in layers}
    weights = tuple(float(w) for w in weights)
    if len(weights) != len(layers):
        raise ValueError(f"stylize: {len(weights)} style layer weights for {len(layers)} style layers {list(layers)}")
    return dict(zip(layers, weights))


def _check_image(name, image):
    a = image.data if isinstance(image, Tensor) else image
    if not isinstance(a, np.ndarray) or a.ndim != 4 or a.shape[0] != 1 or a.shape[1] not in (1, 3):
        raise ValueError(f"stylize: {name} must be one image (1, C, H, W) with C in {{1, 3}}, got "
                         f"{getattr(a, 'shape', type(a).__name__)}")
    if a.dtype.kind != "f":
        raise TypeError(f"stylize: {name} must be floating point in [0, 1], got dtype {a.dtype}")
    return a


def stylize(net, content, style, config=None, callback=None, size=None):
    """Optimise an image to have `content`'s features and `style`'s Gram matrices.

    net: a FeatureNet; content: (1, C, H, W) in [0, 1], or None for texture synthesis (then the
    start is noise, whatever config.init says, and the result is `size` = (H, W), by default the
    style image's size); style: (1, C, H', W').
    callback(step, parts) is called once per step with the floats {"loss", "content", "style", "tv"} of
    the image that step starts from (so parts of step 0 are those of the initial image).
    Returns the result (1, C, H, W) as an ndarray of the content's dtype, values in [0, 1].
    """
    cfg = config or StyleConfig()
    style = _check_image("style", style)
    if content is not None:
        content = _check_image("content", content)
    if cfg.init not in ("content", "noise"):
        raise ValueError(f"stylize: init must be 'content' or 'noise', got {cfg.init!r}")
    if cfg.optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"stylize: optimizer must be 'adam' or 'lbfgs', got {cfg.optimizer!r}")
    if content is not None and size is not None and tuple(size) != content.shape[2:]:
        raise ValueError(f"stylize: size {tuple(size)} differs from the content image's {content.shape[2:]}; "
                         "the result has the content's size (resize the content instead)")
    content_layers = tuple(cfg.content_layers or net.content_layers) if content is not None else ()
    style_layers = tuple(cfg.style_layers or net.style_layers)
    net.check_layers(content_layers + style_layers)
    layer_weights = _layer_weights(style_layers, cfg.style_layer_weights)
    if content is not None:
        shape = content.shape
    else:
        H, W = size if size is not None else style.shape[2:]
        shape = (1, style.shape[1], int(H), int(W))
    smallest = net.min_size(content_layers + style_layers)
    for name, hw in (("content" if content is not None else "result", shape[2:]), ("style", style.shape[2:])):
        if min(hw) < smallest:
            raise ValueError(f"stylize: the {name} image is {hw[0]}x{hw[1]}, smaller than the {smallest} pixels "
                             f"{net.description} needs for these layers; use a larger size")
    dtype = content.dtype if content is not None else style.dtype
    targets = style_targets(net, content, style.astype(dtype), content_layers, style_layers)
    if cfg.init == "content" and content is not None:
        x0 = content.copy()
    else:  # mid-grey plus a little noise: starting from a blank image would give ReLUs no signal
        x0 = np.clip(0.5 + 0.1 * np.random.default_rng(cfg.seed).standard_normal(shape), 0, 1).astype(dtype)
    weights = (cfg.content_weight if content is not None else 0.0, cfg.style_weight, cfg.tv_weight)

    if cfg.optimizer == "adam":
        x = Tensor(x0, requires_grad=True)  # the image is the parameter
        opt = Adam([x], lr=cfg.lr)
        for step in range(cfg.steps):
            parts = style_step(net, x, opt, targets, *weights, layer_weights)
            if callback is not None:
                callback(step, parts)
        return x.data

    def fun(flat):  # L-BFGS's view: a flat float64 vector in, (loss, gradient, parts) out
        x = Tensor(flat.reshape(shape).astype(dtype), requires_grad=True)
        terms = objective(net, x, targets, *weights, layer_weights)
        terms["loss"].backward()
        parts = {k: float(v.data) for k, v in terms.items()}
        return parts["loss"], x.grad.reshape(-1).astype(np.float64), parts

    flat = lbfgs(fun, x0.reshape(-1).astype(np.float64), cfg.steps,
                 callback=None if callback is None else (lambda it, f, parts: callback(it, parts)))
    return np.clip(flat.reshape(shape), 0.0, 1.0).astype(dtype)


def synthesize_texture(net, style, size=None, config=None, callback=None):
    """Texture synthesis: the style loss only, from noise (Gatys, Ecker & Bethge 2015, "Texture
    Synthesis Using Convolutional Neural Networks"). size: (H, W) of the result (default: the
    style image's). config: a StyleConfig (its content settings are ignored). Returns (1, C, H, W)."""
    cfg = config or StyleConfig(tv_weight=0.0)
    return stylize(net, None, style, cfg, callback, size=size)
