# %% [markdown]
# # Variational autoencoders: a code you can sample from
#
# An autoencoder squeezes a digit into a code and rebuilds it, but its codes sit wherever
# training put them, with holes between them: decode a random point and you get a smudge. A
# VAE (Kingma & Welling 2013) makes the encoder output a distribution q(z|x) = N(mu, sigma^2)
# instead of a point, samples z = mu + sigma * eps from it (the reparameterization trick), and
# adds to the reconstruction loss the KL divergence from q(z|x) to the prior N(0, I). Together
# the two terms are minus the evidence lower bound (ELBO) on log p(x). The KL term packs the
# codes into the prior with no holes, so decoding z ~ N(0, I) gives a digit. Read
# nanogen/models/vae.py alongside. This demo:
#   1. trains the reference VAE (PyTorch's examples/vae: 784-400-20, Bernoulli, Adam 1e-3, batch 128)
#      and prints the two terms of the ELBO as it learns;
#   2. draws samples from the prior, reconstructions and interpolations;
#   3. trains 2-D models: the latent manifold, and the latent scatter next to a plain
#      autoencoder's, where the holes close;
#   4. sweeps beta (the KL weight) to show reconstruction traded for a smoother code;
#   5. trains a conditional VAE and asks it for "a 7";
#   6. measures the model two ways (the protocols below): the ELBO and the IWAE bound.
#
# Run: `python demos/vae.py` (about 15 minutes on two cores) or `--quick` (under a minute).
# Figures: demos/out/vae/.
#
# ## Two evaluation protocols (numbers are only comparable within one protocol)
#
# **A. Continuous pixels, Bernoulli loss: comparable with PyTorch's examples/vae/main.py.**
# Pixels are the grey values byte / 255 in [0, 1], used as they are (not binarised). Loss per
# image: binary cross-entropy from the decoder's logits, summed over the 784 pixels, plus the
# exact KL(q(z|x) || N(0, I)) summed over the 20 latent coordinates; training sums it over the
# batch of 128 and takes Adam steps (lr 1e-3) on the sum. Reported: the test negative ELBO in
# nats per image = mean over all 10,000 test digits of (BCE + KL), one z per image drawn with
# eps from numpy.random.default_rng(seed) -- what the reference example prints as "Test set
# loss". Float32 on the CPU, seed 0 (initial weights, data order, eps), 10 epochs. The BCE of
# grey pixels is not a normalised likelihood (Loaiza-Ganem & Cunningham 2019), so these nats do
# not compare with the literature's. Measured (seed 0, this demo and `nanogen train vae --epochs 10`
# + `nanogen eval`): 105.54 = recon 80.10 + KL 25.45 nats, 20 active units; the IWAE bound with
# k = 1000 on the first 1000 test digits: 100.26 +- 0.80 (their ELBO: 104.93). benchmarks/bench_vae.py,
# same initial weights, batches and eps for both: nanogen 105.82, PyTorch 105.90 after 10 epochs.
# Wall time: 87 s for the 10 epochs with one BLAS thread on a 2-core machine shared with other jobs.
#
# **B. Dynamically binarised MNIST, IWAE estimate: comparable with the literature.**
# Training: every batch is binarised afresh, x_i ~ Bernoulli(grey value) (`--binarize`;
# Salakhutdinov & Murray 2008), so the Bernoulli likelihood is a true probability. Test set:
# binarised once with numpy.random.default_rng(seed), seed 0. Metric: -L_k, the importance-
# weighted bound (Burda et al. 2016, Eq. 8) with k = 5000 samples per image, computed as
# logmeanexp of log p(x, z_k) - log q(z_k|x) (nanogen.metrics.logmeanexp), in nats per image,
# on the first N test digits (this demo: N = 1000 and the standard error over images is printed;
# `--full-protocol`: all 10,000, about 20-30 minutes of decoding on two cores: 5 * 10^7 decoder
# passes). Literature: about 87 nats for a one-stochastic-layer MLP VAE trained to convergence
# (Burda et al. 2016, Table 1: 86.76 at k = 5000, with two 200-unit tanh layers and a 50-D code,
# after 3,280 passes over the data); 10 epochs of this network land well above that. Measured
# (seed 0, 10 epochs, first 1000 test digits): -ELBO 101.06; -L_k = 101.16 (k = 1), 97.97 (10),
# 96.68 (100), 96.00 (1000), 95.73 +- 0.82 (k = 5000: 157 s with one BLAS thread on the shared
# 2-core machine). `nanogen eval RUN` prints both the ELBO and -L_k with k = --iw-samples
# (default 1000) on --iw-subset images (default 1000), to keep `eval` under a minute.

# %%
import argparse
import os
import time

import nanogen  # noqa: F401  first, before NumPy: see OPENBLAS_THREAD_TIMEOUT in nanogen/__init__.py
import numpy as np

from nanogen import plot
from nanogen.autograd import no_grad
from nanogen.data import DataLoader, dynamic_binarize, mnist
from nanogen.metrics import active_units
from nanogen.models import autoencoder as A
from nanogen.models.vae import VAE, VAEConfig, elbo_terms, iwae_nll, train_step
from nanogen.optim import Adam
from nanogen.tensor import Tensor

parser = argparse.ArgumentParser(description="variational autoencoders on MNIST")
parser.add_argument("--quick", action="store_true", help="a small, fast run (also NANOGEN_QUICK=1)")
parser.add_argument("--full-protocol", action="store_true", help="protocol B on all 10,000 test digits")
args, _ = parser.parse_known_args()
QUICK = args.quick or os.environ.get("NANOGEN_QUICK") == "1"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "vae")
os.makedirs(OUT, exist_ok=True)
path = lambda name: os.path.join(OUT, f"{name}.png")      # noqa: E731

x_train, y_train = mnist("train")
x_test, y_test = mnist("test")
if QUICK:
    x_train, y_train = x_train[:5000], y_train[:5000]
EPOCHS = 1 if QUICK else 10
print(f"{len(x_train)} training digits, {len(x_test)} test digits, {EPOCHS} epoch(s) per model")


def fit(config, epochs=EPOCHS, binarize=False, seed=0, verbose=False, quiet=False):
    """Train a VAE with the reference hyperparameters; print the ELBO's two terms as it learns."""
    rng = np.random.default_rng(seed)
    model = VAE(config, rng=rng)
    opt = Adam(model.parameters(), lr=1e-3)
    arrays = (x_train, y_train) if config.n_classes else (x_train,)
    loader = DataLoader(*arrays, batch_size=128, shuffle=True, seed=seed)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        sums, n = {"loss": 0.0, "recon": 0.0, "kl": 0.0}, 0
        for batch in loader:
            x = batch[0]
            if binarize:
                x = Tensor(dynamic_binarize((x.data,), rng)[0])   # fresh binary pixels every batch
            y = batch[1].data if config.n_classes else None
            terms = train_step(model, opt, x, rng, y)
            for k in sums:
                sums[k] += terms[k] * len(x)
            n += len(x)
        if verbose:
            print(f"  epoch {epoch + 1}: loss {sums['loss'] / n:7.2f} = recon {sums['recon'] / n:7.2f} "
                  f"+ {config.beta:g} * KL {sums['kl'] / n:6.2f}   nats per image, training set")
    if not quiet:
        print(f"  trained in {time.perf_counter() - t0:.0f} s")
    return model


# %% [markdown]
# ## 1. The reference VAE
#
# Watch the two terms: the reconstruction error falls, while the KL first rises from 0 (at
# initialisation every q(z|x) is close to the prior and the code carries nothing) to the number
# of nats the encoder spends on describing each digit.

# %%
print("vae (784-400-20, Bernoulli likelihood on grey pixels):")
vae = fit(VAEConfig(), verbose=True)
test = elbo_terms(vae, x_test, np.random.default_rng(0))
print(f"test: -ELBO {test['neg_elbo'].mean():.2f} = recon {test['recon'].mean():.2f} + KL {test['kl'].mean():.2f} "
      f"nats per image; {active_units(test['mu'])} of 20 latent units active")

# %% [markdown]
# ## 2. Samples, reconstructions, interpolations
#
# Samples decode z ~ N(0, I) (we show the mean image sigmoid(logits), not coin flips per pixel).
# They are blurrier than the reconstructions: a reconstruction decodes a code the encoder chose
# for this very digit, a sample a code nobody chose. Interpolating between two digits' codes
# passes through other plausible digits, not through a ghostly overlay of the two.

# %%
rng = np.random.default_rng(0)
plot.image_grid(vae.sample(64, rng), nrow=8, path=path("samples"), title="vae: decoded z ~ N(0, I)")
plot.reconstructions(x_test[:10], vae.reconstruct(x_test[:10]), path=path("reconstructions"),
                     title="vae: test digits (top) and decoded posterior means (bottom)")
first = [int(np.flatnonzero(y_test == d)[0]) for d in range(10)]
pairs = [(1, 7), (3, 8), (4, 9), (0, 6), (2, 5)]
mu = test["mu"]
zs = plot.interpolate(mu[[first[a] for a, _ in pairs]], mu[[first[b] for _, b in pairs]], 10)   # (5, 10, 20)
with no_grad():
    strips = vae.mean_images(vae.decode(Tensor(zs.reshape(-1, 20)))).reshape(5, 10, 1, 28, 28)
plot.interpolation_strip(strips, path=path("interpolation"), row_labels=[f"{a} -> {b}" for a, b in pairs],
                         title="vae: straight lines between two digits' codes")
print(f"wrote {path('samples')}, {path('reconstructions')}, {path('interpolation')}")

# %% [markdown]
# ## 3. A 2-D code: the manifold, and the holes closing
#
# With Z = 2 we can look at the whole latent space. The manifold decodes a grid of z placed at
# the quantiles of N(0, 1), so each cell holds the same prior mass (Kingma & Welling, Fig. 4).
# Next to it, the test digits' codes: the plain autoencoder (same 784-400-2 layout, no KL)
# scatters them over an arbitrary, gappy region; the VAE packs them into a round blob around 0,
# with neighbouring digits bordering each other -- which is why a random z decodes to a digit.

# %%
print("vae with latent_dim 2:")
vae2 = fit(VAEConfig(latent_dim=2))
plot.latent_manifold(lambda z: vae2.mean_images(vae2.decode(Tensor(z))), grid_size=20, use_normal_quantiles=True,
                     path=path("manifold"), title="vae, Z = 2: decoded grid at the prior's quantiles")
print("plain autoencoder 784-400-2 (no KL):")
ae_rng = np.random.default_rng(0)
ae = A.build_model(A.AEConfig(hidden_dims=(400,), latent_dim=2), rng=ae_rng)
ae_opt = Adam(ae.parameters(), lr=1e-3)
t0 = time.perf_counter()
for epoch in range(EPOCHS):
    for (xb,) in DataLoader(x_train, batch_size=128, shuffle=True, seed=epoch):
        A.train_step(ae, ae_opt, xb, ae_rng)
print(f"  trained in {time.perf_counter() - t0:.0f} s")
z_ae = A.encode_all(ae, x_test[:3000])
z_vae = elbo_terms(vae2, x_test[:3000], rng)["mu"]
plot.side_by_side_latent(z_ae, z_vae, y_test[:3000], titles=("autoencoder codes", "VAE posterior means"),
                         path=path("latent_ae_vs_vae"))
print(f"wrote {path('manifold')}, {path('latent_ae_vs_vae')}")

# %% [markdown]
# ## 4. beta: reconstruction against a smooth code
#
# The beta-VAE (Higgins et al. 2017) weighs the KL by beta. beta < 1 buys sharper
# reconstructions with a code that strays from the prior; beta > 1 presses every q(z|x) towards
# N(0, I): reconstructions blur, coordinates switch off (fewer active units), and what is left
# varies smoothly. The test -ELBO below is always the true one (beta = 1), so it shows the price.

# %%
betas = [0.5, 1.0, 4.0, 16.0]
print(f"{'beta':>6} {'recon':>8} {'KL':>7} {'-ELBO':>8} {'active units':>13} {'seconds':>8}")
rows, scatter = [], {}
for beta in betas:
    t0 = time.perf_counter()
    m = fit(VAEConfig(beta=beta), epochs=max(1, EPOCHS // 2), quiet=True)
    e = elbo_terms(m, x_test, np.random.default_rng(0))
    print(f"{beta:6g} {e['recon'].mean():8.2f} {e['kl'].mean():7.2f} {e['neg_elbo'].mean():8.2f} "
          f"{active_units(e['mu']):>10} / 20 {time.perf_counter() - t0:8.0f}")
    rows.append(m.reconstruct(x_test[:10]))
    scatter[beta] = e["mu"][:3000]
plot.interpolation_strip([x_test[:10]] + rows, path=path("beta_reconstructions"),
                         row_labels=["original"] + [f"beta {b:g}" for b in betas],
                         title="beta-VAE: reconstructions blur as beta grows")
plot.side_by_side_latent(scatter[betas[0]], scatter[betas[-1]], y_test[:3000],
                         titles=(f"beta = {betas[0]:g}", f"beta = {betas[-1]:g}"), path=path("beta_latent"))
print(f"wrote {path('beta_reconstructions')}, {path('beta_latent')}")

# %% [markdown]
# ## 5. The conditional VAE: "draw a 7"
#
# Give encoder and decoder the label as a one-hot vector: the decoder no longer has to store the
# digit's class in z, so z keeps the style (slant, thickness) and the label picks the class.
# Each row below asks for one digit ten times, with ten different z. The code is 2-D on purpose:
# with Z = 20, a z drawn from the prior often lands where no training code was, and the decoder
# then draws some other digit whatever the label says (try it: `VAEConfig(n_classes=10)`).

# %%
print("cvae (label into encoder and decoder, Z = 2):")
cvae = fit(VAEConfig(n_classes=10, latent_dim=2))
digits = np.repeat(np.arange(10), 10)
plot.image_grid(cvae.sample_digits(digits, np.random.default_rng(0)), nrow=10, path=path("cvae_digits"),
                title="cvae: one row per requested digit")
print(f"wrote {path('cvae_digits')}")

# %% [markdown]
# ## 6. How good is it? The ELBO and the IWAE bound
#
# The ELBO is a lower bound on log p(x); the IWAE bound L_k averages k importance weights
# inside the log and climbs towards log p(x) as k grows (Burda et al. 2016). The gap between
# -ELBO and -L_k at large k is the KL from q(z|x) to the true posterior. Protocol B: a model
# trained on dynamically binarised digits, evaluated on a binarised test set.

# %%
print("vae on dynamically binarised MNIST:")
vae_bin = fit(VAEConfig(), binarize=True)
x_bin = dynamic_binarize((x_test,), np.random.default_rng(0))[0]            # one fixed binarisation, seed 0
n_iw = 100 if QUICK else (len(x_bin) if args.full_protocol else 1000)
e = elbo_terms(vae_bin, x_bin[:n_iw], np.random.default_rng(0))
print(f"first {n_iw} binarised test digits: -ELBO {e['neg_elbo'].mean():.2f} nats")
for k in ([1, 10, 100] if QUICK else [1, 10, 100, 1000, 5000]):
    t0 = time.perf_counter()
    nll = iwae_nll(vae_bin, x_bin[:n_iw], k, np.random.default_rng(0))
    print(f"  -L_k, k = {k:5d}: {nll.mean():7.2f} +- {nll.std(ddof=1) / np.sqrt(n_iw):.2f} nats "
          f"({time.perf_counter() - t0:.0f} s)")
