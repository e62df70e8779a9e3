"""Feature networks for style transfer: a CNN read as a map from an image to named feature maps.

Read style.py first: the losses there compare feature maps F_l(x) and their Gram matrices; this
file supplies the networks that make them. FeatureNet runs a CNN's layers in order and keeps the
named outputs, normalising the input the way the network expects. Three come ready:
  random_features      a multi-scale CNN with fixed random weights (Ustyuzhaninov et al. 2017:
                       random filters already synthesise textures); no download, the default
  vgg19_features       VGG-19 (Simonyan & Zisserman 2015) from weights you supply as an .npz,
                       the network of Gatys et al. 2016
  sequential_features  the convolutional trunk of any nn.Sequential, e.g. nanogen's MNIST classifier
Shapes: image (1, C, H, W) in [0, 1] -> {name: (1, C_l, H_l, W_l)}.
"""

import numpy as np

from .. import nn
from ..ops.shape import cat
from ..tensor import Tensor

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
