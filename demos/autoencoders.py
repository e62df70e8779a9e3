# %% [markdown]
# # Autoencoders: squeeze a digit through a bottleneck and rebuild it
#
# The first lecture of generative modelling, run on MNIST with nanogen/models/autoencoder.py.
# An encoder maps a 784-pixel digit to a short code z, a decoder rebuilds the digit from z, and
# the only training signal is the image itself. Each section trains one variant and shows why it
# exists: the plain autoencoder, a deeper (stacked) one, a sparse one with an overcomplete code, a
# denoising one, a convolutional one -- and finally we throw the decoder away and keep the
# encoder as a feature extractor for a linear classifier.
#
# Run: `python demos/autoencoders.py` (a few minutes on two cores) or `--quick` for a smoke run.
# Figures go to demos/out/autoencoders/.

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

import nanogen.functional as F
from nanogen import plot
from nanogen.autograd import no_grad
from nanogen.data import DataLoader, mnist
from nanogen.metrics import accuracy
from nanogen.models import autoencoder as A
from nanogen.nn import Linear
from nanogen.optim import Adam
from nanogen.tensor import Tensor

parser = argparse.ArgumentParser(description="the autoencoder lecture on MNIST")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
args, _ = parser.parse_known_args()  # known args only: a notebook kernel passes its own
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "autoencoders")
os.makedirs(OUT, exist_ok=True)

x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
if QUICK:
    x_train, y_train, x_test, y_test = x_train[:4000], y_train[:4000], x_test[:1000], y_test[:1000]
EPOCHS = 2 if QUICK else 5
BATCH = 32 if QUICK else 128  # quick: more, smaller steps, to get past the "average digit" plateau
print(f"MNIST: {len(x_train)} training and {len(x_test)} test digits; {EPOCHS} epochs per model; figures in {OUT}")


def out(name):
    return os.path.join(OUT, name)


def train(config, name, epochs=EPOCHS, seed=0):
    """Build the model a config describes and train it with Adam 1e-3: the loop in full."""
    rng = np.random.default_rng(seed)
    model = A.build_model(config, rng=rng)
    opt = Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(x_train, batch_size=BATCH, shuffle=True, seed=seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for (xb,) in loader:
            terms = A.train_step(model, opt, xb, rng)   # zero_grad, loss, backward, step
        print(f"  {name} epoch {epoch + 1}: " + "  ".join(f"{k} {v:.4f}" for k, v in terms.items()))
    model.eval()
    e = A.reconstruction_errors(model, x_test)
    print(f"  {name}: test MSE {e['mse'].mean():.4f}, BCE {e['bce'].mean():.1f} nats per image "
          f"({time.perf_counter() - t0:.0f} s, {model.num_parameters()} weights)")
    return model


def reconstruct(model, x):
    with no_grad():
        return model.reconstruct(Tensor(x)).data


# %% [markdown]
# ## 1. The plain autoencoder: 784 -> 256 -> 32 -> 256 -> 784
# Binary cross-entropy from the decoder's logits. The reconstructions are recognisable but
# blurry: the decoder's best guess under uncertainty is an average of plausible digits.

# %%
print("\n1. plain autoencoder")
ae = train(A.AEConfig(hidden_dims=(256,), latent_dim=32), "ae")
plot.reconstructions(x_test[:12], reconstruct(ae, x_test[:12]), n=12, path=out("ae_reconstructions.png"),
                     title="ae (32-number code): test digits and their reconstructions")

# %% [markdown]
# ## 2. What the code looks like: a 2-number bottleneck
# With Z = 2 the codes can be drawn directly. Digits form clusters without ever seeing a label --
# but the clusters are uneven, stretched and full of holes. Decode random points of the codes'
# bounding box: most land in the huge 1 and 7 regions, the rest outside every cluster, where the
# decoder draws shapes that are no digit. An autoencoder compresses; it does not give a space
# you can sample from (the VAE's job). With Z = 32 we look through PCA instead.

# %%
print("\n2. the code space")
ae2 = train(A.AEConfig(hidden_dims=(256,), latent_dim=2), "ae, Z=2")
z2 = A.encode_all(ae2, x_test)
plot.latent_scatter(z2, y_test, path=out("latent_2d.png"), title="ae with a 2-D code: test digits, by label")
plot.latent_scatter(A.encode_all(ae, x_test), y_test, path=out("latent_32d_pca.png"),
                    title="ae with a 32-D code, first two principal components")
lo, hi = z2.min(axis=0), z2.max(axis=0)
random_z = np.random.default_rng(0).uniform(lo, hi, size=(16, 2)).astype(np.float32)
with no_grad():
    plot.image_grid(ae2.decode(Tensor(random_z)).data, nrow=8, path=out("ae_random_codes.png"),
                    title="ae, Z=2: decoding random points of the code's bounding box")

# %% [markdown]
# ## 3. Interpolation in code space
# A straight line between the codes of two test digits, decoded. The path is smooth where the
# codes are dense and passes through odd shapes where it crosses a hole.

# %%
first = {d: int(np.flatnonzero(y_test == d)[0]) for d in range(10)}
pairs = [(1, 7), (3, 8), (4, 9), (2, 5)]
z = A.encode_all(ae, x_test)
steps = plot.interpolate(z[[first[a] for a, _ in pairs]], z[[first[b] for _, b in pairs]], 10)   # (4, 10, 32)
with no_grad():
    imgs = ae.decode(Tensor(steps.reshape(-1, 32))).data.reshape(len(pairs), 10, 1, 28, 28)
plot.interpolation_strip(imgs, path=out("ae_interpolation.png"), row_labels=[f"{a} -> {b}" for a, b in pairs],
                         title="ae: straight lines between the codes of two digits")

# %% [markdown]
# ## 4. Stacked: 784-512-256-64 and back
# More layers compose features from features; with a 64-number code it rebuilds more detail.

# %%
print("\n4. stacked autoencoder")
stacked = train(A.AEConfig(hidden_dims=(512, 256), latent_dim=64), "stacked-ae")
plot.reconstructions(x_test[:12], reconstruct(stacked, x_test[:12]), n=12, path=out("stacked_reconstructions.png"),
                     title="stacked-ae (784-512-256-64): reconstructions")

# %% [markdown]
# ## 5. Sparse: an overcomplete code held back by a penalty
# 1024 sigmoid code units for 784 pixels: enough to copy the image. The KL penalty pulls each
# unit's mean activation toward rho = 0.05 (the L1 penalty pushes every activation to 0), so
# each unit fires for few digits and its weights become a part detector (a loop, a stroke).
# Compare the encoder's filters with and without the penalty. Pressed hard (weight 0.5), L1
# kills most units outright -- they are off for every digit and their filters all look alike --
# while KL, which fixes each unit's mean rather than each activation, keeps them all alive.

# %%
print("\n5. sparse autoencoder")
sparse_models = {}
for penalty, weight in [("none", 0.0), ("kl", 0.5), ("l1", 0.1), ("l1", 0.5)]:
    cfg = A.AEConfig(hidden_dims=(), latent_dim=1024, code_activation="sigmoid", penalty=penalty,
                     sparsity_weight=weight, rho=0.05)
    m = train(cfg, f"sparse-ae ({penalty} {weight})")
    act = A.encode_all(m, x_test[:2000])                      # (2000, 1024) code activations
    dead = np.mean(act.max(axis=0) < 0.5)                     # units never above 0.5 on any test digit
    print(f"  penalty {penalty} {weight}: mean code activation {act.mean():.3f}, share of activations "
          f"> 0.5: {np.mean(act > 0.5):.3f}, dead units: {dead:.1%}")
    plot.filters(m.encoder[0].weight.data[:100], path=out(f"sparse_filters_{penalty}_{weight}.png"),
                 title=f"1024 sigmoid units, penalty {penalty} (weight {weight}): first 100 encoder filters")
    sparse_models[penalty, weight] = m

# %% [markdown]
# ## 6. Denoising: rebuild the clean digit from a corrupted one
# Trained on corrupted inputs with the clean digit as the target, the model cannot win by
# copying; it learns what digits look like and fills the holes. The plain autoencoder of the
# same size, given the same corrupted digits, rebuilds the corruption along with the digit.

# %%
print("\n6. denoising autoencoder")
for noise, level in [("mask", 0.5), ("gaussian", 0.5)]:
    cfg = A.AEConfig(hidden_dims=(256,), latent_dim=32, noise=noise, noise_level=level)
    dae = train(cfg, f"denoising-ae ({noise})")
    noisy = A.corrupt(x_test, noise, level, np.random.default_rng(1))
    err_dae = A.reconstruction_errors(dae, x_test, noisy)["mse"].mean()
    err_ae = A.reconstruction_errors(ae, x_test, noisy)["mse"].mean()
    print(f"  {noise} noise {level}: MSE to the clean digit: denoising-ae {err_dae:.4f}, plain ae {err_ae:.4f}")
    plot.denoising_rows(noisy[:12], reconstruct(dae, noisy[:12]), x_test[:12], n=12,
                        path=out(f"denoising_{noise}.png"), title=f"denoising-ae, {noise} noise {level}")
    plot.denoising_rows(noisy[:12], reconstruct(ae, noisy[:12]), x_test[:12], n=12,
                        path=out(f"denoising_{noise}_plain_ae.png"), title=f"plain ae on the same {noise} noise")

# %% [markdown]
# ## 7. Convolutional: filters that slide
# Two conv + max-pool stages down to 32 x 7 x 7, two stride-2 transposed convolutions back up,
# sigmoid output and squared error: 7 thousand weights instead of 400 thousand.

# %%
print("\n7. convolutional autoencoder")
conv = train(A.AEConfig(arch="conv", loss="mse"), "conv-ae")
plot.reconstructions(x_test[:12], reconstruct(conv, x_test[:12]), n=12, path=out("conv_reconstructions.png"),
                     title="conv-ae: reconstructions")

# %% [markdown]
# ## 8. Throw the decoder away, keep the encoder
# The encoder was trained without a single label. Freeze it and train only a linear classifier
# (nanogen Linear + cross-entropy) on its codes; compare with the same classifier on the raw
# pixels and on the codes of an untrained (random) encoder of the same shape. With few labels
# the learned codes help most. (The conv encoder's 1568 features per digit would need 376 MB for
# the training set, so it sits this one out.)

# %%
print("\n8. a linear classifier on frozen codes")


def linear_probe(f_train, labels, f_test, epochs=10, seed=0):
    """Softmax regression on fixed features (standardised on the training set); test accuracy."""
    mu, sd = f_train.mean(axis=0), f_train.std(axis=0) + 1e-6
    f_train, f_test = (f_train - mu) / sd, (f_test - mu) / sd
    clf = Linear(f_train.shape[1], 10, rng=np.random.default_rng(seed))
    opt = Adam(clf.parameters(), lr=1e-3)
    for _ in range(epochs):
        for fb, yb in DataLoader(f_train, labels, batch_size=128, shuffle=True, seed=seed):
            opt.zero_grad()
            F.cross_entropy(clf(fb), yb).backward()
            opt.step()
    with no_grad():
        return accuracy(clf(Tensor(f_test)).data.argmax(axis=1), y_test)


random_ae = A.build_model(A.AEConfig(hidden_dims=(256,), latent_dim=32), rng=np.random.default_rng(1))
features = {
    "raw pixels (784)": (x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)),
    "random encoder (32)": (A.encode_all(random_ae, x_train), A.encode_all(random_ae, x_test)),
    "ae encoder (32)": (A.encode_all(ae, x_train), A.encode_all(ae, x_test)),
    "stacked-ae encoder (64)": (A.encode_all(stacked, x_train), A.encode_all(stacked, x_test)),
}
budgets = [len(x_train), 300] if QUICK else [len(x_train), 1000, 100]
print("  test accuracy of a linear classifier, by number of labelled training digits:")
print("  " + "features".ljust(26) + "".join(f"{n:>10}" for n in budgets))
for name, (f_tr, f_te) in features.items():
    accs = [linear_probe(f_tr[:n], y_train[:n], f_te, epochs=10 if n >= 10000 else 100) for n in budgets]
    print("  " + name.ljust(26) + "".join(f"{a:>10.3f}" for a in accs))

print(f"\nfigures written to {OUT}")
