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
The feature networks (random weights, VGG-19, a classifier's trunk) are in style_features.py,
L-BFGS in optim/lbfgs.py. Read after nn/, optim/ and models/classifier.py; nanogen/style_cli.py
loads images and runs it.
"""

from dataclasses import dataclass

import numpy as np

from ..autograd import Function, no_grad
from ..ops.loss import mse_loss
from ..optim import Adam, lbfgs
from ..settings import setting
from ..tensor import Tensor, as_array

# ---------------------------------------------------------------------------- configuration


@dataclass
class StyleConfig:
    """The optimisation's settings; fields made with setting(default, help) are `nanogen style` flags."""

    steps: int = setting(200, "optimisation steps (Adam updates, or L-BFGS iterations)", is_positive=True)
    lr: float = setting(0.02, "Adam step size, in pixel units (images live in [0, 1])", is_positive=True)
    content_weight: float = setting(1.0, "α: how strongly the result keeps the content's features", minimum=0)
    style_weight: float = 100.0  # β: how strongly it takes on the style's Gram matrices
    tv_weight: float = setting(1.0, "γ, smoothness: how strongly neighbouring pixels are pulled together", minimum=0)
    init: str = setting("content", "start image: the content image or noise", choices=("content", "noise"))
    optimizer: str = setting("adam", "adam, or lbfgs (Gatys et al.'s optimiser)", choices=("adam", "lbfgs"))
    content_layers: tuple = None  # layer names for the content loss (None: the network's default)
    style_layers: tuple = None  # layer names for the style loss (None: the network's default)
    style_layer_weights: tuple = None  # w_l, one per style layer (None: equal weights summing to 1)
    seed: int = setting(0, "seeds the noise image of init=noise (and `nanogen style`'s random feature weights)")


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


def _layer_weights(layers, weights):
    if weights is None:
        return {name: 1.0 / len(layers) for name in layers}
    weights = tuple(float(w) for w in weights)
    if len(weights) != len(layers):
        raise ValueError(f"stylize: {len(weights)} style layer weights for {len(layers)} style layers {list(layers)}")
    return dict(zip(layers, weights))


def _check_image(name, image):
    a = as_array(image)
    if a.ndim != 4 or a.shape[0] != 1 or a.shape[1] not in (1, 3):
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
