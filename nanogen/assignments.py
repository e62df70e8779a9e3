"""Teaching assignments: cut marked solutions out of nanogen, grade the result with its own tests.

Read docs/teaching.md first: this file is the tool it describes. Source lines between a
`# BEGIN SOLUTION <task id>` comment and the next `# END SOLUTION` comment are a teachable piece;
TASKS below, in the syllabus order of docs/reading_order.md, says what each task asks and which
tests grade it. `make_assignment` copies the project with the chosen pieces replaced by a stub
that raises NotImplementedError with the task's statement; `grade` runs the grading tests inside
such a copy and scores them. tests/conftest.py reads TASKS and CHAPTERS to put the `task_<id>`
and `chapter_<name>` pytest markers on the tests, so test files never list their tasks.
Standard library only, on purpose: the conftest loads this file without importing nanogen.
"""

import argparse
import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

#: The project this file belongs to: nanogen/assignments.py -> the folder holding nanogen/.
ROOT = Path(__file__).resolve().parent.parent


class AssignmentError(ValueError):
    """Bad markers, unknown task ids, or a copy that cannot be written; the message names file and line."""


@dataclass(frozen=True)
class Task:
    """One teachable piece. `tests` are pytest node-id patterns relative to the project root in which
    `*` is the only wildcard (brackets are literal, so `test_grad[*mul*]` means what it says)."""

    id: str            # lowercase with underscores; the pytest marker is task_<id>
    title: str         # a few words, for tables
    chapter: str       # a CHAPTERS name
    files: tuple       # where the marker pairs sit (relative paths); one task may span files
    where: str         # the function, class or method the student writes
    statement: str     # one paragraph: what to write, the math, the shapes
    tests: tuple       # node-id patterns of the tests that grade this task
    env: tuple = ()    # (name, value) pairs set while grading, e.g. the NumPy kernel path


_NUMPY_KERNELS = (("NANOGEN_KERNELS", "numpy"),)
# one test runs a D step then a G step: it grades both (each fails on its own stub)
_GAN_BOTH_STEPS = ("tests/test_models_gan.py::"
                   "test_d_step_leaves_generator_untouched_and_g_step_leaves_discriminator_untouched[*]")

# ------------------------------------------------------------------------------------------------
# The registry, in syllabus order (docs/reading_order.md). A task whose markers are not in the
# source yet shows as "markers missing" in `nanogen assignment list` and cannot be cut.
# ------------------------------------------------------------------------------------------------

TASKS = (
    Task(
        id="mul_backward", title="Mul backward", chapter="ops",
        files=("nanogen/ops/elementwise.py",), where="Mul.backward",
        statement=(
            "Write Mul.backward for y = a * b (elementwise, broadcasting allowed). ctx.saved holds "
            "(a, b) as forward saved them and grad is dL/dy, shaped like y. Return one gradient per "
            "input, in input order: dL/da = grad * b and dL/db = grad * a, and None for an input whose "
            "ctx.needs_input_grad entry is False (a constant needs no gradient). Do not undo the "
            "broadcasting yourself: the engine sums each gradient back to its input's shape."),
        tests=("tests/test_ops_elementwise.py::test_binary_grad[*-mul]",
               "tests/test_ops_elementwise.py::test_reflected_scalar_operators[rmul]"),
    ),
    Task(
        id="div_backward", title="Div backward", chapter="ops",
        files=("nanogen/ops/elementwise.py",), where="Div.backward",
        statement=(
            "Write Div.backward for y = a / b. forward saved (b, y) in ctx.saved. The quotient rule "
            "gives dL/da = grad / b and dL/db = -grad * a / b^2, which is -grad * y / b: the saved "
            "output spares you a. Return (da, db), with None for an input whose "
            "ctx.needs_input_grad entry is False."),
        tests=("tests/test_ops_elementwise.py::test_binary_grad[*-div]",
               "tests/test_ops_elementwise.py::test_reflected_scalar_operators[rdiv]"),
    ),
    Task(
        id="exp_log_backward", title="Exp and Log backward", chapter="ops",
        files=("nanogen/ops/elementwise.py",), where="Exp.backward, Log.backward",
        statement=(
            "Write Exp.backward and Log.backward. For y = exp(x), dy/dx = exp(x) = y, and forward "
            "saved y: dL/dx = grad * y, no second exponential. For y = log(x), dL/dx = grad / x, with "
            "x saved by forward. Each backward returns a one-element tuple (dx,)."),
        tests=("tests/test_ops_elementwise.py::test_unary_forward_and_grad[*-exp]",
               "tests/test_ops_elementwise.py::test_unary_forward_and_grad[*-log]"),
    ),
    Task(
        id="sum_backward", title="Sum backward with broadcasting", chapter="ops",
        files=("nanogen/ops/reduce.py",), where="Sum.backward",
        statement=(
            "Write Sum.backward. forward summed x (shape ctx.shape) over the axes ctx.axes (a tuple; "
            "every axis for a full sum), keeping them as size-1 axes only if ctx.keepdim. Every "
            "element of x counts once in the sum, so dL/dx is grad copied back along the summed axes: "
            "put the reduced axes back as size-1 axes (the helper _keep(grad, ctx.shape, ctx.axes, "
            "ctx.keepdim) does that), then broadcast to ctx.shape with np.broadcast_to. Return (dx,)."),
        tests=("tests/test_ops_reduce.py::test_reduction_forward_and_grad[*-sum]",),
    ),
    Task(
        id="matmul_backward", title="MatMul backward", chapter="ops",
        files=("nanogen/ops/linalg.py",), where="MatMul.backward",
        statement=(
            "Write MatMul.backward for y = a @ b, a: (..., N, K), b: (..., K, M) -> y: (..., N, M). "
            "dL/da = grad @ b^T and dL/db = a^T @ grad, transposing only the last two axes (the "
            "helper _mT); batch axes broadcast and the engine sums their gradients back. 1-D "
            "operands act as in NumPy: a (K,) is a row (1, K), b (K,) a column (K, 1), and two 1-D "
            "operands make a dot product; give grad the missing axis before the products and take it "
            "off the results, so that each gradient has its input's shape. Return (da, db), None "
            "where ctx.needs_input_grad is False."),
        tests=("tests/test_ops_linalg.py::test_matmul_forward_and_grad[*]",),
    ),
    Task(
        id="linear", title="Linear forward and backward", chapter="ops",
        files=("nanogen/ops/linalg.py",), where="Linear.forward, Linear.backward",
        statement=(
            "Write Linear.forward and Linear.backward: y = x @ w.T + b as one node, x: (N, I) or "
            "(..., I), w: (O, I), b: (O,) or None -> y: (..., O). forward saves what backward needs "
            "with ctx.save_for_backward and adds b only when it is given. backward, with grad = dL/dy "
            "of shape (..., O): dL/dx = grad @ w, dL/dw = grad.T @ x and dL/db = grad.sum(0), after "
            "folding the leading axes of grad and x into N (reshape(-1, last)). Return (dx, dw, db), "
            "None where ctx.needs_input_grad is False."),
        tests=("tests/test_ops_linalg.py::test_linear_forward_and_grad[*]",),
    ),
    Task(
        id="relu_backward", title="ReLU backward", chapter="ops",
        files=("nanogen/ops/activation.py",), where="ReLU.backward",
        statement=(
            "Write ReLU.backward for y = max(x, 0): dL/dx = grad where x > 0 and 0 elsewhere. forward "
            "saved the output y, which is > 0 exactly where x is. Keep grad's dtype (multiplying by a "
            "boolean mask does). Return (dx,)."),
        tests=("tests/test_ops_activation.py::test_activation_grad[*-relu]",),
    ),
    Task(
        id="sigmoid_backward", title="Sigmoid backward", chapter="ops",
        files=("nanogen/ops/activation.py",), where="Sigmoid.backward",
        statement=(
            "Write Sigmoid.backward for y = σ(x) = 1 / (1 + exp(-x)). Its derivative is "
            "σ(x)(1 - σ(x)), so from the output y that forward saved, dL/dx = grad * y * (1 - y): no "
            "exponential needed. Return (dx,)."),
        tests=("tests/test_ops_activation.py::test_activation_grad[*-sigmoid]",),
    ),
    Task(
        id="kl_standard_normal", title="KL to N(0, 1), forward and backward", chapter="ops",
        files=("nanogen/ops/loss.py",), where="KLStandardNormal.forward, KLStandardNormal.backward",
        statement=(
            "Write KLStandardNormal.forward and .backward, the KL divergence of N(mu, exp(logvar)) "
            "from N(0, 1) per element: kl = 0.5 * (mu^2 + exp(logvar) - 1 - logvar) (Kingma & Welling "
            "2013, App. B); mu and logvar have one (any) shape. forward saves what backward needs "
            "(compute exp(logvar) once). backward: dL/dmu = grad * mu and dL/dlogvar = "
            "grad * 0.5 * (exp(logvar) - 1). The VAE's KL term is built on this op."),
        tests=("tests/test_ops_loss.py::test_kl_standard_normal_formula_and_grad[*]",
               "tests/test_ops_loss.py::test_kl_standard_normal_matches_monte_carlo",
               "tests/test_ops_loss.py::test_kl_normal_normal_reduces_to_standard_and_grad"),
    ),
    Task(
        id="adam_step", title="Adam update", chapter="nn",
        files=("nanogen/kernels/optim.py",), where="adam_step_reference_",
        statement=(
            "Write adam_step_reference_, one Adam (decoupled=False) or AdamW (decoupled=True) step in "
            "place on p, m and v (arrays shaped like p; step = t counts from 1). Adam adds the L2 decay "
            "to the gradient, g <- g + weight_decay * p (a new array: never write into the caller's "
            "g); AdamW shrinks the weights instead, p <- p * (1 - lr * weight_decay). Then "
            "m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2 and "
            "p <- p - lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / (1 - beta1^t), "
            "v_hat = v / (1 - beta2^t): eps outside the root, as PyTorch. Change p, m and v in place "
            "(p -= ..., m *= ...) and keep p's dtype (wrap Python floats in p.dtype.type). Graded with "
            "NANOGEN_KERNELS=numpy, so the optimizers call this function."),
        tests=("tests/test_optim.py::test_adam_follows_kingma_ba_algorithm_1[numpy-*]",
               "tests/test_optim.py::test_adamw_decays_weights_decoupled[numpy]",
               "tests/test_kernels_misc.py::test_adam_step_matches_reference[*]",
               "tests/test_kernels_misc.py::test_adam_step_matches_written_out_formulas[*]"),
        env=_NUMPY_KERNELS,
    ),
    Task(
        id="sparse_penalty", title="Sparse autoencoder penalty", chapter="models",
        files=("nanogen/models/autoencoder.py",), where="kl_bernoulli, kl_sparsity",
        statement=(
            "Write kl_bernoulli(rho, rho_hat) and kl_sparsity(z, rho, eps), the sparse autoencoder's "
            "penalty. KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / "
            "(1 - rho_hat)), elementwise, with rho a Python number (math.log) and rho_hat a Tensor "
            "(F.log). kl_sparsity: rho_hat_j is the mean activation of code unit j over the batch, "
            "z: (N, Z) in (0, 1) -> rho_hat: (Z,), clamped into [eps, 1 - eps] so that the logs stay "
            "finite; the penalty is the mean over the Z units of KL(rho || rho_hat_j)."),
        tests=("tests/test_models_autoencoder.py::test_kl_bernoulli_matches_formula_and_vanishes_at_rho",
               "tests/test_models_autoencoder.py::test_sparsity_penalties_values",
               "tests/test_models_autoencoder.py::test_autoencoder_loss_grad[sparse-ae-kl]"),
    ),
    Task(
        id="denoising_corruption", title="Denoising corruption", chapter="models",
        files=("nanogen/models/autoencoder.py",), where="corrupt",
        statement=(
            "Write corrupt(x, noise, level, rng), the denoising autoencoder's input x~ ~ q(x~ | x). "
            "'none' returns x itself; 'mask' zeroes each pixel with probability level, x * (u >= level) "
            "with u = rng.random(x.shape); 'gaussian' adds level * rng.standard_normal(x.shape, "
            "dtype=x.dtype) and clips to [0, 1]; any other name raises ValueError naming corrupt and "
            "the three choices. The noise is data, not a parameter: work on the raw array (x.data for "
            "a Tensor), draw from rng = default_rng(rng), and return the type of x (a new Tensor "
            "without a graph, or an ndarray) with x's dtype."),
        tests=("tests/test_models_autoencoder.py::test_corrupt_mask_zeroes_a_fraction_p",
               "tests/test_models_autoencoder.py::test_corrupt_gaussian_is_clipped_noise",
               "tests/test_models_autoencoder.py::test_denoising_loss_compares_with_the_clean_image",
               "tests/test_models_autoencoder.py::test_autoencoder_loss_grad[denoising-*]"),
    ),
    Task(
        id="vae_reparameterize", title="The reparameterization trick", chapter="models",
        files=("nanogen/models/vae.py",), where="reparameterize",
        statement=(
            "Write reparameterize(mu, logvar, eps): z = mu + sigma * eps with sigma = exp(logvar / 2), "
            "so that z ~ N(mu, sigma^2) while the randomness sits in eps ~ N(0, I), passed in. Use "
            "Tensor operations only (logvar.exp(), *, +) so that the gradient reaches the encoder: "
            "dz/dmu = 1 and dz/dlogvar = 0.5 * sigma * eps. mu, logvar: (N, Z); eps: (N, Z) or "
            "(K, N, Z) for K importance samples (broadcasting does the rest)."),
        tests=("tests/test_models_vae.py::test_reparameterized_sample_has_requested_mean_and_variance",
               "tests/test_models_vae.py::test_reparameterize_grad"),
    ),
    Task(
        id="vae_elbo", title="KL term and the ELBO", chapter="models",
        files=("nanogen/models/vae.py",), where="kl_to_standard_normal, elbo",
        statement=(
            "Write kl_to_standard_normal(mu, logvar) and elbo(x, logits, mu, logvar, nll, beta). The "
            "KL term of one example is the closed form KL(N(mu, diag exp(logvar)) || N(0, I)) summed "
            "over its Z latent units: F.kl_normal_standard(mu, logvar, reduction='none') summed over "
            "the last axis, (N, Z) -> (N,). elbo returns a dict of Tensors, each summed over the "
            "batch: recon = sum over n of nll(x, logits) (one value per image), kl = sum over n of the "
            "KL term, and loss = recon + beta * kl (minus the ELBO when beta = 1)."),
        tests=("tests/test_models_vae.py::test_analytic_kl_matches_monte_carlo",
               "tests/test_models_vae.py::test_elbo_terms_match_numpy",
               "tests/test_models_vae.py::test_vae_loss_grad[*]"),
    ),
    Task(
        id="ood_input_complexity", title="Corrected outlier scores", chapter="models",
        files=("nanogen/models/outliers.py",), where="compressed_bits, input_complexity, likelihood_ratio",
        statement=(
            "Write the two likelihood ratios that fix the likelihood's outlier paradox. "
            "compressed_bits(x, level): for each image of x (N, C, H, W) in [0, 1], round x * 255 to "
            "uint8 and return 8 * len(zlib.compress(image.tobytes(), level)) as a float64 (N,) array: "
            "L(x), the bits a generic compressor needs. input_complexity(nll, bits) = nll - bits * ln 2 "
            "(Serra et al. 2020: the model's code length minus the compressor's, both in nats). "
            "likelihood_ratio(nll, nll_background) = nll - nll_background (Ren et al. 2019). "
            "Return float64 arrays of shape (N,)."),
        tests=("tests/test_models_outliers.py::test_compressed_bits_is_zlib_of_the_8_bit_pixels",
               "tests/test_models_outliers.py::test_input_complexity_and_likelihood_ratio_formulas",
               "tests/test_models_outliers.py::test_outlier_scores_are_the_vae_estimates_in_the_order_asked"),
    ),
    Task(
        id="gan_discriminator_step", title="GAN discriminator step", chapter="models",
        files=("nanogen/models/gan.py",), where="d_step",
        statement=(
            "Write d_step(D, opt_d, x_real, x_fake, cfg, y), one update of the discriminator: clear "
            "D's old gradients (opt_d.zero_grad()), score both batches (D(x_real, y) and D(x_fake, y), "
            "logits (N, 1)), take loss = discriminator_loss(real_logits, fake_logits, cfg.loss, "
            "cfg.real_label), backpropagate and step opt_d. x_fake carries no graph, so G gets no "
            "gradient. Return the diagnostics: loss_d, d_real and d_fake (d_output_probability of each "
            "batch's logits) and grad_norm_d (grad_norm(D.parameters()) after backward); when "
            "cfg.d_skip_below is set, also skipped_d = 1.0 if loss_d < cfg.d_skip_below (and then no "
            "backward and no step), else 0.0."),
        tests=(_GAN_BOTH_STEPS,
               "tests/test_models_gan.py::test_d_skip_below_skips_the_update"),
    ),
    Task(
        id="gan_generator_step", title="GAN generator step", chapter="models",
        files=("nanogen/models/gan.py",), where="g_step",
        statement=(
            "Write g_step(G, D, opt_g, x_fake, cfg, y), one update of the generator through a frozen "
            "discriminator; x_fake = G(z) still carries its graph. Clear G's gradients, freeze D with "
            "D.requires_grad_(False) so that backward passes through D's layers into x_fake while D's "
            "weights get no .grad, take loss = generator_loss(D(x_fake, y), cfg.loss) (for bce the "
            "non-saturating -log D(G(z))), backpropagate, unfreeze D even if something raised "
            "(try/finally), then step opt_g. Return {'loss_g': loss.item(), 'grad_norm_g': "
            "grad_norm(G.parameters())}."),
        tests=(_GAN_BOTH_STEPS,),
    ),
    Task(
        id="conv2d_im2col", title="im2col and col2im", chapter="kernels",
        files=("nanogen/kernels/conv.py",), where="im2col_reference, col2im_reference",
        statement=(
            "Write im2col_reference and col2im_reference, the NumPy twins that turn a convolution "
            "into one matrix product. im2col: cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, "
            "oh*SH + kh*DH, ow*SW + kw*DW], x: (N, C, H, W) -> cols: (C*KH*KW, N*OH*OW), xpad being x "
            "with PH, PW zeros on each side (large enough for every window: _padded_extent). col2im "
            "is its adjoint, cols -> (N, C, H, W): every entry goes back to its pixel and entries "
            "landing on one pixel add up. Loop over the KH*KW taps and move a whole strided slice per "
            "tap; stride, padding and dilation are (h, w) pairs. Graded against the Numba kernels "
            "and by conv2d's gradient checks on the NumPy path."),
        tests=("tests/test_kernels_conv.py::test_im2col_matches_reference[*]",
               "tests/test_kernels_conv.py::test_col2im_matches_reference[*]",
               "tests/test_kernels_conv.py::test_col2im_is_adjoint_of_im2col[numpy]",
               "tests/test_ops_conv.py::test_conv2d_grad[numpy-*]"),
        env=_NUMPY_KERNELS,
    ),
    Task(
        id="conv2d_gemm", title="Conv2d as matrix products", chapter="kernels",
        files=("nanogen/ops/conv.py",), where="Conv2d.forward, Conv2d.backward (the im2col path)",
        statement=(
            "Write the im2col path of Conv2d. forward: cols = kernels.im2col(x, KH, KW, stride, "
            "padding, dilation, OH, OW), (C*KH*KW, N*OH*OW); one GEMM per group, "
            "y = _grouped_matmul(w3, cols.reshape(G, Cg*KH*KW, N*OH*OW)), (F, N*OH*OW); save cols "
            "(only if ctx.needs_input_grad[1]) and w3 for backward; return y as (N, F, OH, OW) with "
            "the bias added (_to_channels_first). backward, with g = grad as rows (G, F/G, N*OH*OW): "
            "dL/dw = g @ cols.T per group, reshaped to w's shape, and dL/dx = col2im(w3^T @ g) with "
            "the geometry saved in ctx."),
        tests=("tests/test_ops_conv.py::test_conv2d_grad[*]",),
    ),
    Task(
        id="max_pool_backward", title="Max-pool backward", chapter="kernels",
        files=("nanogen/kernels/pool.py",), where="max_pool2d_backward_reference",
        statement=(
            "Write max_pool2d_backward_reference(grad, idx, H, W). Forward kept, for each output "
            "(n, c, i, j), the flat index idx[n, c, i, j] = h*W + w of its window's maximum; each "
            "output sends its gradient there, and overlapping windows that share a maximum add up "
            "(np.add.at, not fancy-index assignment, which keeps only one of them). grad, idx: "
            "(N, C, OH, OW) -> dx: (N, C, H, W) with grad's dtype."),
        tests=("tests/test_kernels_pool.py::test_max_pool2d_backward_adds_shared_maxima",
               "tests/test_ops_pool.py::test_max_pool2d_grad[numpy-*]",
               "tests/test_ops_pool.py::test_max_pool2d_backward_routes_to_the_maximum[numpy]"),
        env=_NUMPY_KERNELS,
    ),
    Task(
        id="batch_norm_backward", title="Batch-norm backward", chapter="kernels",
        files=("nanogen/kernels/norm.py",), where="batch_norm_backward_reference",
        statement=(
            "Write batch_norm_backward_reference(grad, x, mean, invstd, weight, training), the "
            "gradients of y = xhat * weight + bias, xhat = (x - mean) * invstd, per channel c; grad, "
            "x: (N, C, L), mean, invstd, weight: (C,), M = N*L values per channel. dL/dbias = sum of "
            "grad and dL/dweight = sum of grad * xhat over each channel's M values. In training mean "
            "and invstd depend on x, and dL/dx = weight * invstd / M * (M grad - dL/dbias - "
            "xhat * dL/dweight); in eval they are constants and dL/dx = grad * weight * invstd. "
            "Return (dx, dweight, dbias)."),
        tests=("tests/test_kernels_norm.py::test_batch_norm_backward_matches_reference[*]",
               "tests/test_kernels_norm.py::test_batch_norm_backward_reference_is_the_derivative",
               "tests/test_ops_norm.py::test_batch_norm_grad[numpy-*]",
               "tests/test_ops_norm.py::test_batch_norm_grad_without_affine[numpy]"),
        env=_NUMPY_KERNELS,
    ),
    Task(
        id="gram_matrix", title="Gram matrix", chapter="models",
        files=("nanogen/models/style.py",), where="Gram.forward, Gram.backward",
        statement=(
            "Write Gram.forward and Gram.backward: G[n] = f[n] @ f[n].T / (C*H*W) with f = x reshaped "
            "to (N, C, H*W); x: (N, C, H, W) -> G: (N, C, C). Use one 2-D matrix product per image "
            "and save f for backward. backward, with grad = dL/dG of shape (N, C, C): dL/df = "
            "(grad + grad^T) @ f / (C*H*W) per image (G uses f twice, as f and as f^T), returned in "
            "x's shape."),
        tests=("tests/test_models_style.py::test_gram_forward_matches_numpy[*]",
               "tests/test_models_style.py::test_gram_grad[*]",
               "tests/test_models_style.py::test_gram_is_independent_of_image_size",
               "tests/test_models_style.py::test_gram_keeps_dtype"),
    ),
)

#: Chapters of the syllabus; each test file belongs to the first chapter whose globs match its name.
CHAPTERS = (
    ("engine", "Tensor, autograd, gradcheck", ("test_tensor*.py", "test_autograd*.py", "test_gradcheck*.py",
                                                "test_properties*.py", "test_memory*.py", "test_graph*.py")),
    ("ops", "differentiable operations", ("test_ops_*.py", "test_functional*.py")),
    ("nn", "modules, layers, optimizers", ("test_nn_*.py", "test_optim*.py", "test_serialize*.py")),
    ("data", "datasets and loading", ("test_data_*.py",)),
    ("training", "the loop, metrics, plots, the command line", ("test_train*.py", "test_metrics*.py",
                                                                "test_plot*.py", "test_cli*.py", "test_demo*.py")),
    ("models", "the generative models", ("test_models_*.py", "test_style*.py", "test_gan*.py")),
    ("kernels", "make it fast: Numba kernels", ("test_kernels_*.py", "test_bench*.py")),
    ("teaching", "assignments", ("test_assignments*.py",)),
)

#: What a student copy holds (those that exist), relative to the project root.
COPY_ITEMS = ("nanogen", "tests", "demos", "docs", "setup.cfg", "pyproject.toml", "Makefile", "README.md",
              "LICENSE", ".gitignore")
#: Left out of the copy: caches and outputs, and the test of this tool itself (it checks the
#: instructor's markers, which a student copy no longer has).
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", ".git", ".venv", "runs"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".nbi", ".nbc", ".egg-info")
_SKIP_PATHS = {"tests/test_assignments.py", "demos/out"}

MANIFEST = "assignment.json"
GRADE_REPORT_ENV = "NANOGEN_GRADE_REPORT"  # tests/conftest.py writes every test's outcome there


# ------------------------------------------------------------------------------------------------
# The registry: lookups, markers, patterns
# ------------------------------------------------------------------------------------------------


def task_ids():
    return [t.id for t in TASKS]


def get_task(task_id):
    for t in TASKS:
        if t.id == task_id:
            return t
    raise AssignmentError(f"unknown task id {task_id!r}; known tasks: {', '.join(task_ids())}")


def marker_name(task_id):
    """The pytest marker of a task: task_<id> (hyphens, if any, become underscores)."""
    return "task_" + task_id.replace("-", "_")


def chapter_marker(chapter):
    return "chapter_" + chapter


def chapter_of(test_file):
    """The chapter of a test file (a path or a bare name), or None when no chapter claims it."""
    from fnmatch import fnmatchcase

    name = Path(test_file).name
    for chapter, _, globs in CHAPTERS:
        if any(fnmatchcase(name, g) for g in globs):
            return chapter
    return None


def _pattern_regex(pattern):
    # `*` is the only wildcard: fnmatch would read the brackets of a parametrize id as a character set
    return re.compile(re.escape(pattern).replace(r"\*", ".*"))


_TASK_REGEX = {}


def matches(task, nodeid):
    """True when the pytest node id (relative to the project root) is one of the task's grading tests."""
    rx = _TASK_REGEX.get(task.tests)
    if rx is None:
        rx = _TASK_REGEX[task.tests] = re.compile("|".join(f"(?:{_pattern_regex(p).pattern})" for p in task.tests))
    return rx.fullmatch(nodeid) is not None


def tasks_of_test(nodeid):
    """The ids of the tasks that a test grades (usually none or one)."""
    return [t.id for t in TASKS if matches(t, nodeid)]


def grading_files(task):
    """The test files named by a task's patterns, relative to the project root."""
    return sorted({p.split("::")[0] for p in task.tests})


# ------------------------------------------------------------------------------------------------
# Markers in the source
# ------------------------------------------------------------------------------------------------

_MARKER_LIKE = re.compile(r"#\s*(begin|end)[\s_-]+solution\b", re.IGNORECASE)
_BEGIN = re.compile(r"#\s?BEGIN SOLUTION ([a-z][a-z0-9_]*)\s*")
_END = re.compile(r"#\s?END SOLUTION\s*")


@dataclass(frozen=True)
class Region:
    """Lines begin..end (1-based, both marker lines included) of `file` hold task `task`'s solution."""

    task: str
    file: str      # relative to the project root, with forward slashes
    begin: int
    end: int
    indent: str    # the BEGIN line's indentation: the stub gets the same


def _marker_comments(text, rel):
    """(line number, indentation, comment text) of every comment that stands alone on its line.

    Uses the tokenizer, so a docstring or string that merely mentions a marker is not one."""
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and not tok.line[: tok.start[1]].strip():
                out.append((tok.start[0], tok.line[: tok.start[1]], tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise AssignmentError(f"{rel}: cannot read the file to look for markers: {e}") from None
    return out


def scan_text(text, rel, known=None):
    """The solution regions of one file's text, and a list of error messages ('file:line: ...').

    known: the task ids allowed (default: the registry). A marker must stand alone on its line,
    exactly `# BEGIN SOLUTION <task id>` or `# END SOLUTION`; pairs may not nest; the END has the
    indentation of its BEGIN; no code between them sits left of the BEGIN (the stub must fit)."""
    known = set(task_ids()) if known is None else set(known)
    regions, errors = [], []
    lines = text.splitlines()
    open_ = None  # (line, indent, task id) of the BEGIN waiting for its END
    for lineno, indent, comment in _marker_comments(text, rel):
        if not _MARKER_LIKE.match(comment):
            continue
        where = f"{rel}:{lineno}"
        begin, end = _BEGIN.fullmatch(comment), _END.fullmatch(comment)
        if not begin and not end:
            errors.append(f"{where}: malformed marker {comment!r}; write '# BEGIN SOLUTION <task id>' "
                          "(lowercase id with underscores) or '# END SOLUTION'")
            continue
        if begin:
            tid = begin.group(1)
            if open_ is not None:
                errors.append(f"{where}: nested marker: BEGIN SOLUTION {tid} inside {open_[2]} "
                              f"(opened at line {open_[0]}); close it with '# END SOLUTION' first")
                continue
            if tid not in known:
                errors.append(f"{where}: unknown task id {tid!r} in BEGIN SOLUTION; registered: "
                              f"{', '.join(sorted(known))} (add the task to TASKS in nanogen/assignments.py)")
            open_ = (lineno, indent, tid)
            continue
        if open_ is None:
            errors.append(f"{where}: unbalanced marker: END SOLUTION without a BEGIN SOLUTION before it")
            continue
        b_line, b_indent, tid = open_
        open_ = None
        if indent != b_indent:
            errors.append(f"{where}: END SOLUTION is indented differently from its BEGIN SOLUTION {tid} "
                          f"(line {b_line}); give both the indentation of the code they enclose")
            continue
        body = [ln for ln in lines[b_line: lineno - 1] if ln.strip()]
        code = [ln for ln in body if not ln.strip().startswith("#")]
        if not code:
            errors.append(f"{rel}:{b_line}: BEGIN SOLUTION {tid} encloses no code")
            continue
        if any(not ln.startswith(b_indent) for ln in code):
            errors.append(f"{rel}:{b_line}: the solution of {tid} has code left of its BEGIN SOLUTION "
                          "marker; indent the markers like the code they enclose")
            continue
        if tid in known:
            regions.append(Region(tid, rel, b_line, lineno, b_indent))
    if open_ is not None:
        errors.append(f"{rel}:{open_[0]}: unbalanced marker: BEGIN SOLUTION {open_[2]} has no END SOLUTION")
    return regions, errors


def scan(root=None):
    """Every solution region under root/nanogen, and every marker error, checked against TASKS
    (a marker for a task in a file the registry does not name is an error too)."""
    root = Path(root or ROOT)
    regions, errors = [], []
    for path in sorted((root / "nanogen").rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(root).as_posix()
        try:
            found, errs = scan_text(path.read_text(encoding="utf-8"), rel)
        except AssignmentError as e:
            errors.append(str(e))
            continue
        errors += errs
        for r in found:
            t = get_task(r.task)
            if rel not in t.files:
                errors.append(f"{rel}:{r.begin}: marker for task {r.task} in {rel}, but the registry puts "
                              f"{r.task} in {', '.join(t.files)}; move the marker or fix Task.files")
            else:
                regions.append(r)
    return regions, errors


def status(root=None):
    """{task id: 'ready' | 'markers missing' | 'markers missing in FILE'} and the marker errors."""
    regions, errors = scan(root)
    marked = {}
    for r in regions:
        marked.setdefault(r.task, set()).add(r.file)
    out = {}
    for t in TASKS:
        have = marked.get(t.id, set())
        if not have:
            out[t.id] = "markers missing"
        elif set(t.files) - have:
            out[t.id] = "markers missing in " + ", ".join(sorted(set(t.files) - have))
        else:
            out[t.id] = "ready"
    return out, errors


# ------------------------------------------------------------------------------------------------
# Cutting: solution -> stub
# ------------------------------------------------------------------------------------------------


def _quoted(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_stub(task, indent):
    """The lines that replace a solution: a comment and a raise carrying the task's statement."""
    width = max(40, 100 - len(indent) - 6)
    text = f"task {task.id} ({task.title}): {task.statement}"
    chunks = textwrap.wrap(text, width, drop_whitespace=False, break_on_hyphens=False)
    lines = [f"{indent}# TODO task {task.id} ({task.where}): replace this raise with your code.",
             f"{indent}raise NotImplementedError("]
    lines += [f"{indent}    {_quoted(c)}" for c in chunks]
    lines.append(f"{indent})")
    return lines


def cut_text(text, regions, chosen, rel="<text>"):
    """Source text with each chosen task's regions replaced by its stub and every other marker line
    dropped. Returns (new text, [(task id, line of the stub in the new text)]). Refuses a result
    that does not parse."""
    lines = text.splitlines(keepends=True)
    newline = "\n"
    out, stubs, i = [], [], 0
    for r in sorted(regions, key=lambda r: r.begin):
        out += lines[i: r.begin - 1]
        if r.task in chosen:
            stubs.append((r.task, len(out) + 1))
            out += [ln + newline for ln in render_stub(get_task(r.task), r.indent)]
        else:
            out += lines[r.begin: r.end - 1]  # the solution stays, its marker lines go
        i = r.end
    out += lines[i:]
    new = "".join(out)
    try:
        ast.parse(new)
    except SyntaxError as e:
        raise AssignmentError(f"{rel}:{e.lineno}: the file no longer parses after cutting "
                              f"{', '.join(sorted(chosen))}: {e.msg}") from None
    return new, stubs


def strip_markers(text, regions):
    """The text without its marker lines (what a copy holds for a task that was not cut)."""
    return cut_text(text, regions, chosen=set())[0]


def _ignore(root, keep_caches=False):
    def ignore(directory, names):
        rel_dir = Path(directory).relative_to(root).as_posix()
        in_pycache = Path(directory).name == "__pycache__"
        skipped = []
        for n in names:
            rel = n if rel_dir == "." else f"{rel_dir}/{n}"
            if keep_caches and (n == "__pycache__" or (in_pycache and n.endswith((".nbi", ".nbc")))):
                continue
            if n in _SKIP_NAMES or n.endswith(_SKIP_SUFFIXES) or rel in _SKIP_PATHS:
                skipped.append(n)
        return skipped

    return ignore


def resolve_task_ids(requested, root=None):
    """Check the requested ids ('all' = every task whose markers are in place) -> list in syllabus order."""
    if "all" in requested:
        st, _ = status(root)
        return [tid for tid in task_ids() if st[tid] == "ready"]
    for tid in requested:
        get_task(tid)
    return [tid for tid in task_ids() if tid in set(requested)]


def make_assignment(tasks, out, root=None, items=COPY_ITEMS, keep_caches=False):
    """Write a student copy of the project into `out` with the solutions of `tasks` cut out.

    tasks: task ids, or ['all'] (every task whose markers are in place), or [] (a clean copy, e.g.
    to grade a submission with trusted tests); out: a folder that does not exist yet or is empty;
    root: the project to copy (default: this one); items: the top-level files and folders to copy
    (the missing ones are skipped); keep_caches: also copy Numba's compiled kernels
    (__pycache__/*.nbi, *.nbc; valid for the files left unchanged) so that tests of the copy skip
    recompiling -- a student copy leaves them out. Every marker in the source must be well formed
    and every chosen task marked, else AssignmentError before anything is written.
    Returns {"out", "tasks", "stubs": [(task id, file, line)]}.
    """
    root = Path(root or ROOT).resolve()
    chosen = resolve_task_ids(list(tasks), root)
    regions, errors = scan(root)
    if errors:
        raise AssignmentError("the solution markers have errors:\n  " + "\n  ".join(errors))
    st, _ = status(root)
    missing = [f"{tid} ({st[tid]}; expected in {', '.join(get_task(tid).files)})"
               for tid in chosen if st[tid] != "ready"]
    if missing:
        raise AssignmentError("no solution markers in the source for: " + "; ".join(missing))
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AssignmentError(f"{out} already exists and is not empty; choose a new folder")
    present = [item for item in items if (root / item).exists()]
    for item in present:
        if (root / item).is_dir() and (out == root / item or (root / item) in out.parents):
            raise AssignmentError(f"{out} lies inside {root / item}, which is copied; choose a folder elsewhere")

    # compute every cut file first, so that a refusal leaves nothing half written
    by_file = {}
    for r in regions:
        by_file.setdefault(r.file, []).append(r)
    new_text, stubs = {}, []
    for rel, rs in by_file.items():
        if rel.split("/")[0] not in present:
            continue
        text, where = cut_text((root / rel).read_text(encoding="utf-8"), rs, set(chosen), rel)
        new_text[rel] = text
        stubs += [(tid, rel, line) for tid, line in where]

    out.mkdir(parents=True, exist_ok=True)
    for item in present:
        src = root / item
        if src.is_dir():
            shutil.copytree(src, out / item, ignore=_ignore(root, keep_caches))  # copy2: mtimes kept
        else:
            shutil.copy2(src, out / item)
    for rel, text in new_text.items():
        (out / rel).write_text(text, encoding="utf-8")
    stubs.sort(key=lambda s: (task_ids().index(s[0]), s[1], s[2]))
    (out / MANIFEST).write_text(json.dumps({"tasks": chosen}, indent=2) + "\n", encoding="utf-8")
    (out / "ASSIGNMENT.md").write_text(_assignment_readme(chosen, stubs), encoding="utf-8")
    return {"out": str(out), "tasks": chosen, "stubs": stubs}


def _assignment_readme(chosen, stubs):
    """ASSIGNMENT.md of a student copy: how to check one's work, then each task with its place."""
    lines = ["# Assignment", "",
             f"{len(chosen)} task(s). Each is a stub in the source that raises NotImplementedError: replace",
             "the stub with your code. The command under each task runs the tests that grade it; the",
             "other tests keep passing as you go (a test that reaches an unwritten task fails with its name).", "",
             "Check your work from this folder:", "",
             "    python -m nanogen.assignments grade .      # score table, one row per task",
             "    python -m pytest -m task_<id>              # one task's tests, with pytest's full output", "",
             "A gradient check that fails names the input and the worst element, with the analytic",
             "(your backward) and the numeric (finite differences) value: start there.", ""]
    for n, tid in enumerate(chosen, 1):
        t = get_task(tid)
        at = ", ".join(f"{f}:{line}" for task, f, line in stubs if task == tid)
        env = "".join(f"{k}={v} " for k, v in t.env)
        lines += [f"## {n}. {t.title} (`{t.id}`)", "", f"Where: {t.where}, at {at}.", "",
                  textwrap.fill(t.statement, 100), "",
                  f"Run its tests: `{env}python -m pytest -m {marker_name(t.id)}`", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Grading: run the tagged tests in a copy and score them
# ------------------------------------------------------------------------------------------------


def _first_line(text):
    for line in str(text).splitlines():
        if line.strip():
            return line.strip()
    return ""


def run_tests(directory, selection, env=None, python=None, timeout=1800, extra_args=()):
    """Run pytest in `directory` (its own conftest and nanogen) on `selection` (files, node ids or a
    '-m' expression given in extra_args), with the grade report on. Returns (report dict, pytest
    output). report: {"tests": {nodeid: {"outcome", "error"}}, "collection_errors": [...]}."""
    directory = Path(directory).resolve()
    fd, report_path = tempfile.mkstemp(prefix="nanogen-grade-", suffix=".json")
    os.close(fd)
    os.unlink(report_path)
    run_env = dict(os.environ)
    paths = [str(directory)] + ([run_env["PYTHONPATH"]] if run_env.get("PYTHONPATH") else [])
    run_env["PYTHONPATH"] = os.pathsep.join(paths)  # the copy's nanogen, never an installed one
    run_env[GRADE_REPORT_ENV] = report_path
    run_env.update(env or {})
    cmd = [python or sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra_args, *selection]
    try:
        proc = subprocess.run(cmd, cwd=directory, env=run_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssignmentError(f"the tests in {directory} did not finish within {timeout:g} s "
                              "(an endless loop in a solution?); raise --timeout if they need longer") from None
    output = proc.stdout + proc.stderr
    try:
        with open(report_path, encoding="utf-8") as f:
            report = json.load(f)
        os.unlink(report_path)
    except (OSError, ValueError):
        raise AssignmentError(f"pytest in {directory} wrote no results (exit code {proc.returncode}); "
                              f"its output ends with:\n{output[-2000:]}") from None
    return report, output


def _failure_rank(task_id, error):
    """Which failure to show first: a failed gradient check (it names the worst element), then any
    other mistake, then this task's own stub, then a stub of another task it needs."""
    stub = re.match(r"NotImplementedError: task ([a-z0-9_]+)\b", error or "")
    if stub:
        return 2 if stub.group(1) == task_id else 3
    return 0 if (error or "").startswith("GradcheckError") else 1


def _describe_failure(task_id, name, error):
    m = re.match(r"NotImplementedError: task ([a-z0-9_]+)\b", error or "")
    if m and m.group(1) == task_id:
        return "not written yet (the stub raises NotImplementedError)"
    if m:
        return f"{name}: needs task {m.group(1)}, which is still a stub"
    return f"{name}: {error}"


def grade(directory, tasks=None, python=None, timeout=1800):
    """Grade a copy: run every chosen task's tests in `directory` and score them per task.

    tasks: ids (default: the copy's assignment.json, else every task). Tasks with the same `env`
    run in one pytest process. Returns {"tasks": [{"id", "title", "passed", "total", "failure",
    "failures"}], "passed", "total", "output"}; "failure" is the first failing test and the first
    line of its error (for a gradient check: the input, the worst element, analytic and numeric).
    """
    directory = Path(directory).resolve()
    if not (directory / "tests").is_dir():
        raise AssignmentError(f"{directory} has no tests/ folder; give the folder made by `assignment make`")
    if not tasks:
        manifest = directory / MANIFEST
        tasks = json.loads(manifest.read_text())["tasks"] if manifest.exists() else task_ids()
    tasks = task_ids() if "all" in tasks else tasks
    chosen = [get_task(tid) for tid in resolve_task_ids(list(tasks))]
    groups = {}
    for t in chosen:
        groups.setdefault(t.env, []).append(t)
    results, collection_errors, outputs = {}, [], []
    for env, group in groups.items():
        files = sorted({f for t in group for f in grading_files(t) if (directory / f).exists()})
        if not files:
            continue
        expr = "(" + " or ".join(marker_name(t.id) for t in group) + ") and not slow"
        report, output = run_tests(directory, files, dict(env), python, timeout, ("-m", expr))
        results.update(report["tests"])
        collection_errors += report["collection_errors"]
        outputs.append(output)
    rows = []
    for t in chosen:
        mine = {nid: r for nid, r in results.items() if matches(t, nid)}
        passed = sum(r["outcome"] == "passed" for r in mine.values())
        failures = [(nid, r) for nid, r in mine.items() if r["outcome"] in ("failed", "error")]
        failure = None
        broken = [c for c in collection_errors if c["nodeid"] in grading_files(t)]
        missing = [f for f in grading_files(t) if not (directory / f).exists()]
        if broken:
            failure = f"{broken[0]['nodeid']} does not load: {broken[0]['error']}"
        elif failures:
            nid, r = min(failures, key=lambda f: _failure_rank(t.id, f[1]["error"]))
            failure = _describe_failure(t.id, nid.split("::")[-1], r["error"])
        elif not mine:
            failure = ("no tests found" + (f" ({', '.join(missing)} missing)" if missing else "")
                       + ": check the task's test patterns")
        rows.append({"id": t.id, "title": t.title, "passed": passed, "total": len(mine), "failure": failure,
                     "failures": [{"test": nid, "error": r["error"]} for nid, r in failures]})
    return {"tasks": rows, "passed": sum(r["passed"] for r in rows), "total": sum(r["total"] for r in rows),
            "complete": all(r["failure"] is None for r in rows), "output": "\n".join(outputs)}


def format_grades(result):
    """The score table: one row per task, passed/total, and what to look at first."""
    w = max([len("task")] + [len(r["id"]) for r in result["tasks"]])
    lines = [f"{'task':<{w}}  {'passed':>7}  first failure"]
    for r in result["tasks"]:
        score = f"{r['passed']}/{r['total']}"
        lines.append(f"{r['id']:<{w}}  {score:>7}  {r['failure'] or 'ok'}")
    lines.append(f"{'total':<{w}}  {str(result['passed']) + '/' + str(result['total']):>7}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# The command line: nanogen assignment list | make | grade
# ------------------------------------------------------------------------------------------------


def add_assignment_parser(subparsers):
    """Add `assignment` (with list, make, grade) to the nanogen command's subparsers; returns it."""
    p = subparsers.add_parser(
        "assignment", help="teaching: cut solutions out of a copy of nanogen, grade it with the tests",
        description=_DESCRIPTION)
    _add_actions(p)
    return p


_DESCRIPTION = ("Make student exercises from nanogen: the source marks the pieces a student writes "
                "(# BEGIN SOLUTION <id> ... # END SOLUTION), `make` cuts them out of a copy, `grade` runs "
                "the tests that grade them. See docs/teaching.md.")


def _add_actions(p):
    sub = p.add_subparsers(dest="assignment_command", metavar="ACTION")
    p.set_defaults(assignment_parser=p)

    ls = sub.add_parser("list", help="the tasks in syllabus order and whether their markers are in place")
    ls.add_argument("-v", "--verbose", action="store_true", help="also print each statement and its tests")
    ls.add_argument("--source", default=None, help="project folder to inspect (default: this nanogen's)")

    mk = sub.add_parser("make", help="write a student copy with the chosen tasks cut out")
    mk.add_argument("--tasks", nargs="+", required=True, metavar="ID",
                    help="task ids (see `assignment list`), or 'all' for every task whose markers are in place")
    mk.add_argument("--out", required=True, help="new (or empty) folder for the copy")
    mk.add_argument("--source", default=None, help="project folder to copy (default: this nanogen's)")

    gr = sub.add_parser("grade", help="run the grading tests in a copy and print a score table")
    gr.add_argument("dir", help="the copy (a folder made by `assignment make`, or any nanogen checkout)")
    gr.add_argument("--tasks", nargs="+", metavar="ID", default=None,
                    help="grade these tasks (default: those in DIR/assignment.json, else all)")
    gr.add_argument("--json", action="store_true", help="print the result as one JSON object")
    gr.add_argument("--timeout", type=float, default=1800, help="seconds per pytest run (default %(default)s)")
    gr.add_argument("--python", default=None, help="interpreter to run the tests with (default: this one)")
    gr.add_argument("-v", "--verbose", action="store_true", help="also show pytest's output")


def _cmd_list(args):
    st, errors = status(args.source)
    w = max(len(t) for t in task_ids())
    print(f"{'task':<{w}}  {'chapter':<8}  {'status':<16}  where")
    for t in TASKS:
        print(f"{t.id:<{w}}  {t.chapter:<8}  {st[t.id]:<16}  {t.where} ({', '.join(t.files)})")
        if args.verbose:
            print(textwrap.indent(textwrap.fill(t.statement, 96), " " * 6))
            env = " ".join(f"{k}={v}" for k, v in t.env)
            print(f"      graded by{' (with ' + env + ')' if env else ''}:")
            for pattern in t.tests:
                print(f"        {pattern}")
    if errors:
        print("\nmarker errors:\n  " + "\n  ".join(errors), file=sys.stderr)
        return 1
    return 0


def _cmd_make(args):
    result = make_assignment(args.tasks, args.out, root=args.source)
    print(f"wrote {result['out']}: {len(result['tasks'])} task(s) cut out")
    for tid, rel, line in result["stubs"]:
        print(f"  {tid:<24} {rel}:{line}")
    print(f"students read {Path(result['out']) / 'ASSIGNMENT.md'}; grade with: "
          f"nanogen assignment grade {result['out']}")
    return 0


def _cmd_grade(args):
    result = grade(args.dir, args.tasks, python=args.python, timeout=args.timeout)
    if args.verbose:
        print(result["output"])
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "output"}, indent=2))
    else:
        print(format_grades(result))
    return 0 if result["complete"] else 1


def cmd_assignment(args):
    """Run `nanogen assignment ACTION`; returns the exit code (grade: 0 only if every test passed)."""
    action = getattr(args, "assignment_command", None)
    if action is None:
        args.assignment_parser.print_help()
        return 2
    return {"list": _cmd_list, "make": _cmd_make, "grade": _cmd_grade}[action](args)


def main(argv=None):
    """`python -m nanogen.assignments ACTION ...`: the same as `nanogen assignment ACTION ...`."""
    parser = argparse.ArgumentParser(prog="python -m nanogen.assignments", description=_DESCRIPTION)
    _add_actions(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_assignment(args)
    except AssignmentError as e:
        print(f"{parser.prog} {args.assignment_command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
