"""The teaching tasks: which pieces of nanogen a student writes, what each asks, which tests grade it.

Read with nanogen/assignments.py (the tool that cuts these pieces out of a copy and grades them)
and docs/teaching.md. TASKS is in the syllabus order of docs/reading_order.md; CHAPTERS sorts the
test files into the syllabus's chapters. tests/conftest.py loads this file on its own, without
importing nanogen (a student's half-written op must not stop the markers from being registered),
to put the `task_<id>` and `chapter_<name>` pytest markers on the tests: standard library only.
To add a task: mark its solution in the source (# BEGIN SOLUTION <id> ... # END SOLUTION) and
add a Task below.
"""

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

GRADE_REPORT_ENV = "NANOGEN_GRADE_REPORT"  # tests/conftest.py writes every test's outcome there


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
        id="conv2d_im2col", title="im2col and col2im", chapter="kernels",
        files=("nanogen/kernels/conv.py",), where="im2col_reference, col2im_reference",
        statement=(
            "Write im2col_reference and col2im_reference, the NumPy twins that turn a convolution "
            "into one matrix product. im2col: cols[(c, kh, kw), (n, oh, ow)] = xpad[n, c, "
            "oh*SH + kh*DH, ow*SW + kw*DW], x: (N, C, H, W) -> cols: (C*KH*KW, N*OH*OW), xpad being x "
            "with PH, PW zeros on each side (large enough for every window: _padded_extent). col2im "
            "is its adjoint, cols -> (N, C, H, W): every entry goes back to its pixel and entries "
            "landing on one pixel add up. Loop over the KH*KW taps and move a whole strided slice per "
            "tap; stride, padding and dilation are (h, w) pairs. Leave the result in `cols` (im2col) and "
            "`x` (col2im): the lines after your code copy it into `out` when the caller passes one. "
            "Graded against the Numba kernels "
            "and by conv2d's gradient checks on the NumPy path."),
        tests=("tests/test_kernels_conv.py::test_im2col_matches_reference[*]",
               "tests/test_kernels_conv.py::test_col2im_matches_reference[*]",
               "tests/test_kernels_conv.py::test_col2im_is_adjoint_of_im2col[numpy]",
               "tests/test_ops_conv.py::test_conv2d_grad[numpy-im2col-*]",
               "tests/test_ops_conv.py::test_conv2d_grad[numpy-direct-*]"),
        env=_NUMPY_KERNELS,
    ),
    Task(
        id="conv2d_gemm", title="Conv2d as matrix products", chapter="kernels",
        files=("nanogen/ops/conv.py",), where="Conv2d.forward, Conv2d.backward (the im2col path)",
        statement=(
            "Write the im2col path of Conv2d for one chunk of n images (the loop over chunks is "
            "given). forward: lay the chunk x[n0:n0 + n] out as columns with kernels.im2col (the "
            "geometry KH, KW, stride, padding, dilation, OH, OW; out= the workspace buffer \"cols\" of "
            "shape (C*KH*KW, n*L) and x's dtype); one GEMM per group, "
            "rows = _grouped_matmul(w3, cols.reshape(G, Cg*KH*KW, n*L), workspace.buffer(\"rows\", "
            "(F, n*L), x.dtype)); then _rows_to_nchw(rows, y[n0:n0 + n].reshape(n, F, L), b) writes the "
            "chunk's output with the bias. backward, with g = the chunk's grad as rows (G, F/G, n*L): "
            "dL/dw += g @ cols.T per group (cols recomputed from x by im2col), and dL/dx for the chunk "
            "= col2im(w3^T @ g, out=dx[n0:n0 + n]) with the geometry saved in ctx."),
        # the im2col path only: the Winograd and direct paths do not run the student's code
        tests=("tests/test_ops_conv.py::test_conv2d_grad[*-im2col-*]",),
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
        id="gradient_penalty", title="WGAN-GP gradient penalty", chapter="models",
        files=("nanogen/models/wgan.py",), where="gradient_penalty",
        statement=(
            "Write gradient_penalty(critic, x_hat) -> (penalty, norms): score the interpolates, "
            "scores = critic(x_hat), (N, 1); take g = the gradient of scores.sum() with respect to "
            "x_hat with nanogen.grad(..., create_graph=True) (recorded, so the penalty can be "
            "differentiated in the critic's weights: a second derivative), (N, 1, 28, 28); flatten it "
            "to (N, D) and take each row's norm sqrt(sum g^2 + 1e-12) (the 1e-12 keeps sqrt "
            "differentiable at 0); return penalty = mean over the batch of (norm - 1)^2, and the "
            "norms (N,) as a Tensor."),
        tests=("tests/test_models_wgan.py::test_gradient_penalty_matches_its_closed_form",
               "tests/test_models_wgan.py::test_gradient_penalty_is_per_example",
               "tests/test_models_wgan.py::test_wgan_gp_critic_loss_grad[*]",
               "tests/test_models_wgan.py::test_wgan_gp_critic_loss_gradgrad"),
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
    Task(
        id="acgan_auxiliary_loss", title="AC-GAN auxiliary losses", chapter="models",
        files=("nanogen/models/acgan.py",), where="auxiliary_discriminator_loss, auxiliary_generator_loss",
        statement=(
            "Write the two AC-GAN objectives. D has two heads: source logits (N, 1) and class logits "
            "(N, K). auxiliary_discriminator_loss returns (loss, source, classes) with source = "
            "discriminator_loss(real_logits, fake_logits, cfg.loss, cfg.real_label), classes = "
            "F.cross_entropy(real_class_logits, y_real) + F.cross_entropy(fake_class_logits, y_fake) (the "
            "second term only if cfg.fake_class_loss) and loss = source + cfg.aux_weight * classes. auxiliary_generator_loss returns (loss, source, "
            "classes) with source = generator_loss(fake_logits, cfg.loss) (non-saturating for bce), "
            "classes = F.cross_entropy(fake_class_logits, y_fake) and loss = source + cfg.aux_weight * "
            "classes: G must look real and look like the digit it was asked for."),
        tests=("tests/test_models_acgan.py::test_acgan_losses_match_their_formulas",
               "tests/test_models_acgan.py::test_acgan_discriminator_loss_grad[*]",
               "tests/test_models_acgan.py::test_acgan_generator_loss_grad_through_frozen_discriminator[*]",
               "tests/test_models_acgan.py::test_acgan_learns_to_draw_the_requested_class"),
    ),
    Task(
        id="unet_skip_connections", title="U-Net skip connections", chapter="models",
        files=("nanogen/models/pix2pix.py",), where="UNetGenerator.forward (the decoder)",
        statement=(
            "Write the decoder half of UNetGenerator.forward. From the bottleneck b (N, 4C, 3, 3): "
            "d1 = relu(noise(up1(b))), (N, 2C, 7, 7), then concatenate the encoder's e2 along the "
            "channels (F.cat([d1, e2], dim=1), (N, 4C, 7, 7)); d2 = relu(noise(up2(d1))), "
            "(N, C, 14, 14), concatenated with e1 to (N, 2C, 14, 14); the given last line maps d2 to "
            "the image. self.noise is the dropout that pix2pix uses as its noise source. The skips "
            "carry each encoder level straight across to the decoder level of the same size, so fine "
            "detail need not squeeze through the 3 x 3 bottleneck."),
        tests=("tests/test_models_pix2pix.py::test_unet_shapes_and_skip_connections",
               "tests/test_models_pix2pix.py::test_pix2pix_generator_loss_grad[*]",
               "tests/test_models_pix2pix.py::test_pix2pix_loss_falls[*]"),
    ),
    Task(
        id="srgan_content_loss", title="SRGAN generator loss", chapter="models",
        files=("nanogen/models/superres.py",), where="generator_objective",
        statement=(
            "Write the body of generator_objective(D, phi, fake, real, cfg), the SRGAN generator loss "
            "(Ledig et al. 2017, Eq. 3) for fake = G(I_LR) and real = I_HR, (N, 1, 28, 28) in [-1, 1]: "
            "mse = F.mse_loss(fake, real); content = content_loss(phi, fake, real), the MSE between "
            "the classifier features phi of both images (only when cfg.content_weight is not 0, else a "
            "zero Tensor of mse's dtype); adv = generator_loss(D(fake), cfg.loss), the non-saturating "
            "-log D(G(I_LR)) (only when cfg.adversarial, else zero); loss = cfg.pixel_weight * mse + "
            "cfg.content_weight * content + cfg.adv_weight * adv. The given return packs the four."),
        tests=("tests/test_models_superres.py::test_srgan_generator_loss_grad[*]",
               "tests/test_models_superres.py::test_superres_mse_falls"),
    ),
    Task(
        id="progan_fade_in", title="Progressive growing: the fade-in blend", chapter="models",
        files=("nanogen/models/progan.py",), where="fade_in",
        statement=(
            "Write fade_in(old, new, alpha) = (1 - alpha) * old + alpha * new, the blend that fades a "
            "grown block in: old is the small network's path (G: the old toRGB image, upsampled; D: the "
            "old fromRGB of the pooled image), new the grown block's, both the same shape; alpha goes "
            "from 0 to 1 over a phase. Write it so that alpha = 0 returns old exactly (bit for bit: the "
            "grown networks must compute what the small ones did) and alpha = 1 returns new exactly. It "
            "works on Tensors and on NumPy arrays alike (real_images blends arrays with it)."),
        tests=("tests/test_models_progan.py::test_fade_in_is_the_blend",
               "tests/test_models_progan.py::test_growing_with_alpha_zero_leaves_the_output_exactly_unchanged[*]",
               "tests/test_models_progan.py::test_real_images_follow_the_stage",
               "tests/test_models_progan.py::test_progan_learns_a_pattern_then_grows"),
    ),
    Task(
        id="adain", title="AdaIN", chapter="models",
        files=("nanogen/nn/style_layers.py",), where="adain",
        statement=(
            "Write adain(x, y_s, y_b, eps), adaptive instance normalisation: each image's channel of x is "
            "normalised over its H x W pixels to mean 0 and variance 1, then scaled by y_s and shifted by "
            "y_b, AdaIN(x, y) = y_s * (x - mu(x)) / sqrt(var(x) + eps) + y_b (Karras et al. 2019, Eq. 1). "
            "x: (N, C, H, W); y_s, y_b: (N, C) -> (N, C, H, W). Use instance_norm(x, eps) (one layer_norm "
            "node over the pixels) and reshape the styles to (N, C, 1, 1) to broadcast; the ops give the "
            "backward."),
        tests=("tests/test_nn_style_layers.py::test_adain_forward_matches_numpy[*]",
               "tests/test_nn_style_layers.py::test_adain_imposes_the_styles_statistics",
               "tests/test_nn_style_layers.py::test_adain_grad[*]",
               "tests/test_nn_style_layers.py::test_adain_module_grad_through_the_affine_map"),
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
)

#: Chapters of the syllabus; each test file belongs to the first chapter whose globs match its name.
CHAPTERS = (
    ("engine", "Tensor, autograd, gradcheck", ("test_tensor*.py", "test_autograd*.py", "test_gradcheck*.py",
                                                "test_properties*.py", "test_memory*.py", "test_graph*.py")),
    ("ops", "differentiable operations", ("test_ops_*.py", "test_functional*.py")),
    ("nn", "modules, layers, optimizers", ("test_nn_*.py", "test_optim*.py", "test_serialize*.py")),
    ("data", "datasets and loading", ("test_data_*.py",)),
    ("training", "the loop, metrics, plots, the command line", ("test_train*.py", "test_metrics*.py",
                                                                "test_plot*.py", "test_cli*.py", "test_demo*.py",
                                                                "test_notebook*.py")),
    ("models", "the generative models", ("test_models_*.py", "test_style*.py", "test_gan*.py")),
    ("kernels", "make it fast: Numba kernels", ("test_kernels_*.py", "test_bench*.py")),
    ("teaching", "assignments, the syllabus and its results page",
     ("test_assignments*.py", "test_reading_order*.py", "test_results_page*.py")),
)


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
