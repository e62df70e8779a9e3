"""The `nanogen` command (also `python -m nanogen`): train, sample, eval, data, style, assignment.

    nanogen train MODEL [--epochs E] [--batch-size B] [--lr LR] [--latent-dim D] [--seed S]
                        [--subset N] [--dataset mnist|fashion-mnist] [--holdout-class K]
                        [--out DIR] [--resume]
    nanogen sample RUN [--n N] [--out FILE]
    nanogen eval RUN [--json] [--ood DATASET [--scores NAME ...] [--background RUN]]
    nanogen data info|verify|download
    nanogen assignment list | make --tasks ID... --out DIR | grade DIR
    nanogen style [--content IMG] [--style IMG] [--steps N] [--size S] [--out FILE]

Models register themselves in nanogen/models/ (a Recipe subclass each); this file only parses
arguments, checks them before any work starts, and hands over to nanogen.train.fit.
"""

import argparse
import json
import os
import sys

import numpy as np

from .data.images import dataset_name

from .settings import positive


def _common_train_args(p, defaults):
    p.add_argument("--epochs", type=positive(int, "--epochs"), default=defaults["epochs"],
                   help="passes over the data (default %(default)s)")
    p.add_argument("--batch-size", type=positive(int, "--batch-size"), default=defaults["batch_size"],
                   help="default %(default)s")
    p.add_argument("--lr", type=positive(float, "--lr"), default=defaults["lr"], help="learning rate (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same run (default 0)")
    p.add_argument("--subset", type=positive(int, "--subset"), default=None,
                   help="train on the first N training images only (quick experiments)")
    p.add_argument("--dataset", type=dataset_name, default="mnist", metavar="mnist|fashion-mnist|folder:PATH",
                   help="the training images: MNIST (default), Fashion-MNIST, or a folder of your own PNG/JPEG "
                        "files (subfolders = classes; see docs/own_images.md)")
    p.add_argument("--holdout-class", type=int, choices=range(10), default=None, metavar="K",
                   help="leave class K out of training (outlier detection: nanogen eval RUN --ood heldout)")
    p.add_argument("--out", default=None, help="run folder (default runs/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser():
    from .models import load_all

    REGISTRY = load_all()

    parser = argparse.ArgumentParser(
        prog="nanogen",
        description="nanogen: deep generative models built from scratch on NumPy and Numba.",
        epilog="models:\n" + "\n".join(f"  {n:<14}{r.help}" for n, r in REGISTRY.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train a model; writes a run folder (checkpoint, metrics, figures)",
                           epilog="models:\n" + "\n".join(f"  {n:<14}{r.help}" for n, r in REGISTRY.items()),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    models = train.add_subparsers(dest="model", metavar="MODEL")
    for name, recipe in REGISTRY.items():
        p = models.add_parser(name, help=recipe.help.replace("%", "%%"), description=recipe.help)
        _common_train_args(p, recipe.defaults)
        recipe.add_arguments(p)

    p = sub.add_parser("sample", help="draw new images from a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("--n", type=positive(int, "--n"), default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="PNG file (default RUN/samples.png)")

    p = sub.add_parser("eval", help="test-set metrics of a trained run")
    p.add_argument("run", help="run folder")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=positive(int, "--limit"), default=None, help="evaluate on the first N test images")
    from .ood_cli import add_ood_arguments

    add_ood_arguments(p)

    from .assignments import add_assignment_parser
    from .style_cli import add_style_parser

    add_style_parser(sub)
    add_assignment_parser(sub)

    p = sub.add_parser("data", help="datasets: where they are, verify them, fetch them; make-glyphs OUT "
                                    "draws a folder data set of letters")
    p.add_argument("action", choices=["info", "verify", "download", "make-glyphs"])
    p.add_argument("folder", nargs="?", help="make-glyphs: the folder to write (one subfolder per letter)")
    p.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist")
    p.add_argument("--n-per-class", type=positive(int, "--n-per-class"), default=300,
                   help="make-glyphs: images per letter (default %(default)s)")
    p.add_argument("--chars", default=None, help="make-glyphs: the characters to draw (default A-Z)")
    p.add_argument("--size", type=positive(int, "--size"), default=32, help="make-glyphs: image side (default 32)")
    p.add_argument("--gray", action="store_true", help="make-glyphs: white on black instead of colours")
    p.add_argument("--seed", type=int, default=0)
    return parser


def load_dataset(name, split, image_shape=(1, 28, 28)):
    """Images (N, C, H, W) float32 in [0, 1] and labels (N,) of a data set, at the run's image shape."""
    from . import data

    C, S, _ = image_shape
    return data.load(name, split, image_size=S, channels=C)


def _config_from_args(args, recipe):
    cfg = {k: v for k, v in vars(args).items() if k not in ("command", "resume", "quiet", "out")}
    cfg["model"] = recipe.name
    return cfg


def cmd_train(args):
    from .data import DataLoader
    from .models import load_all
    from .train import fit, load_checkpoint

    REGISTRY = load_all()
    recipe_cls = REGISTRY[args.model]
    out = args.out or os.path.join("runs", args.model)
    if args.resume:
        saved = load_checkpoint(os.path.join(out, "checkpoint.npz"))["meta"]["config"]
        cfg = dict(saved, epochs=args.epochs)
    else:
        cfg = _config_from_args(args, recipe_cls)
    shape = recipe_cls.image_shape(cfg)
    x, y = load_dataset(cfg["dataset"], "train", shape)
    cfg.setdefault("data_classes", int(y.max()) + 1)    # labels in the data: 10 digits, or a folder's classes
    if cfg.get("holdout_class") is not None:                  # before --subset: N images of the nine classes
        x, y = x[y != cfg["holdout_class"]], y[y != cfg["holdout_class"]]
    if cfg.get("subset"):
        x, y = x[: cfg["subset"]], y[: cfg["subset"]]
    x_test, y_test = load_dataset(cfg["dataset"], "test", shape)
    rng = np.random.default_rng(cfg["seed"])
    recipe = recipe_cls(cfg, rng)
    loader = DataLoader(*recipe.training_arrays(x, y), batch_size=cfg["batch_size"], shuffle=True,
                        seed=cfg["seed"], drop_last=getattr(recipe, "drop_last", False))
    fit(recipe, loader, cfg["epochs"], out, rng, config=cfg, data=(x_test[:1000], y_test[:1000]),
        resume=args.resume, quiet=args.quiet)
    if not args.quiet:
        print(f"done: {out}/ holds checkpoint.npz, metrics.csv, config.json and the figures", file=sys.stderr)
    return 0


def load_run(run):
    """(recipe, config) of a trained run folder, weights loaded."""
    from .models import load_all
    from .train import load_checkpoint, restore

    REGISTRY = load_all()
    path = os.path.join(run, "checkpoint.npz")
    state = load_checkpoint(path)
    cfg = state["meta"]["config"]
    if cfg.get("model") not in REGISTRY:
        raise ValueError(f"{path}: unknown model {cfg.get('model')!r}; known: {', '.join(REGISTRY)}")
    recipe = REGISTRY[cfg["model"]](cfg, np.random.default_rng(cfg.get("seed", 0)))
    restore(recipe, state)
    for m in recipe.modules.values():
        m.eval()
    return recipe, cfg


def cmd_sample(args):
    from . import plot
    from .autograd import no_grad

    recipe, _ = load_run(args.run)
    with no_grad():
        images = recipe.sample(args.n, np.random.default_rng(args.seed))
    out = args.out or os.path.join(args.run, "samples.png")
    plot.image_grid(images, path=out, title=f"{recipe.name}: {args.n} samples")
    print(out)
    return 0


def cmd_eval(args):
    from .autograd import no_grad

    if args.ood:
        from .ood_cli import eval_ood

        return eval_ood(args)
    recipe, cfg = load_run(args.run)
    x, y = load_dataset(cfg.get("dataset", "mnist"), "test", recipe.image_shape(cfg))
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    with no_grad():
        metrics = recipe.evaluate((x, y), np.random.default_rng(args.seed))
    metrics = {"model": cfg["model"], "run": args.run, "n_test": int(len(x)), **metrics}
    if args.json:
        print(json.dumps(metrics))
    else:
        for k, v in metrics.items():
            print(f"{k:>24}: {v:.4f}" if isinstance(v, float) else f"{k:>24}: {v}")
    return 0


def cmd_data(args):
    from . import data

    if args.action == "make-glyphs":
        from .data.glyphs import make_glyphs

        if not args.folder:
            raise ValueError("make-glyphs needs the folder to write: nanogen data make-glyphs data/glyphs")
        kw = {"chars": args.chars} if args.chars else {}
        n = make_glyphs(args.folder, n_per_class=args.n_per_class, size=args.size, color=not args.gray,
                        seed=args.seed, **kw)
        print(f"{n} images in {args.folder}; train on them with: nanogen train dcgan "
              f"--dataset folder:{args.folder} --channels {1 if args.gray else 3} --image-size {args.size}")
    elif args.action == "info":
        print(data.info())
    elif args.action == "verify":
        print(data.verify())
    else:
        print(data.download("mnist" if args.dataset == "mnist" else "fashion-mnist"))
    return 0


def main(argv=None):
    from .train import TrainingDiverged

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "train" and args.model is None:
        parser.parse_args(["train", "--help"])
    from .assignments import cmd_assignment
    from .style_cli import cmd_style

    handlers = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "data": cmd_data, "style": cmd_style,
                "assignment": cmd_assignment}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, TrainingDiverged) as e:
        print(f"nanogen {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
