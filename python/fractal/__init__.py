"""Fractal from Python: bitwise-reproducible text-to-video generation.

A thin ctypes binding of libfractal's foreign-function interface (include/fractal/ffi.h): a job goes in as
its JSON spec, the result comes back as its JSON, its frames and an MP4. The digest and step hashes are
the ones fractal-gen, the prover and the verifier compute for the same job.

VideosClient (fractal.videos) is a client of a verifier's videos API (docs/videos.md); it needs only the
standard library, so `import fractal` works without numpy (the Model's results need it).
"""

import ctypes
import ctypes.util
import json
import os

__all__ = ["FractalError", "Model", "Result", "VideosClient", "VideosError", "library_path"]
__version__ = "0.1.0"


class FractalError(RuntimeError):
    """An error of libfractal, with its message."""


def library_path():
    """Where libfractal.so is: $FRACTAL_LIB, beside this package, the system's library path, /usr/local/lib."""
    env = os.environ.get("FRACTAL_LIB")
    if env:
        if not os.path.exists(env):
            raise FractalError("FRACTAL_LIB=%s: no such file" % env)
        return env
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libfractal.so")
    if os.path.exists(here):
        return here
    found = ctypes.util.find_library("fractal")
    if found:
        return found
    for prefix in ("/usr/local/lib", "/usr/lib"):
        p = os.path.join(prefix, "libfractal.so")
        if os.path.exists(p):
            return p
    raise FractalError("libfractal.so not found: build it (cmake --build BUILD, it is BUILD/lib/libfractal.so) "
                       "and set FRACTAL_LIB to its path, or install it (cmake --install BUILD)")


def _numpy():
    """numpy, imported on first use: the Model's frames need it, the videos client does not."""
    try:
        import numpy
    except ImportError as e:
        raise ImportError("fractal.Model needs numpy (pip install numpy): %s" % e) from e
    return numpy


_lib = None
_PROGRESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int)


def _load():
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(library_path())
    c_p, c_s, c_i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    sigs = {
        "fr_last_error": (c_s, []),
        "fr_ffi_model_open": (c_i, [c_s, c_s, c_i, c_s, ctypes.POINTER(c_p)]),
        "fr_ffi_model_close": (None, [c_p]),
        "fr_ffi_model_digest": (c_s, [c_p]),
        "fr_ffi_model_backend": (c_s, [c_p]),
        "fr_ffi_generate": (c_i, [c_p, c_s, _PROGRESS, c_p, ctypes.POINTER(c_p)]),
        "fr_ffi_result_json": (c_s, [c_p]),
        "fr_ffi_result_job_json": (c_s, [c_p]),
        "fr_ffi_result_frames": (ctypes.POINTER(ctypes.c_uint8), [c_p] + [ctypes.POINTER(c_i)] * 3),
        "fr_ffi_result_save": (c_i, [c_p, c_s, c_i]),
        "fr_ffi_result_free": (None, [c_p]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    _lib = lib
    return lib


def _check(status, what):
    if status != 0:
        raise FractalError("%s: %s" % (what, _load().fr_last_error().decode("utf-8", "replace")))


class Result:
    """One job's result: frames (numpy uint8 [frames, height, width, 3]), step_hashes, digest, the job as run."""

    def __init__(self, handle):
        np = _numpy()
        self._lib = lib = _load()
        self._handle = handle
        self.record = json.loads(lib.fr_ffi_result_json(handle).decode())
        self.job = json.loads(lib.fr_ffi_result_job_json(handle).decode())
        f, h, w = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        ptr = lib.fr_ffi_result_frames(handle, ctypes.byref(f), ctypes.byref(h), ctypes.byref(w))
        shape = (f.value, h.value, w.value, 3)
        self.frames = np.ctypeslib.as_array(ptr, shape=(f.value * h.value * w.value * 3,)).reshape(shape).copy()
        self.step_hashes = list(self.record["step_hashes"])
        self.frame_hashes = list(self.record["frame_hashes"])
        self.frames_hash = self.record["frames_hash"]
        self.digest = self.record["digest"]
        self.timing = self.record.get("timing", {})

    def save(self, path, fps=8):
        """Writes the frames as fractal-gen does, in the format the name says: .mp4 (H.264), .webm (VP9),
        .gif, or a frame pattern such as frame_%03d.png (one PNG per frame, numbered from 0)."""
        _check(self._lib.fr_ffi_result_save(self._handle, os.fspath(path).encode(), int(fps)), "saving")

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.fr_ffi_result_free(self._handle)
            self._handle = None

    def __repr__(self):
        f, h, w, _ = self.frames.shape
        return "<fractal.Result %d frames %dx%d digest %s>" % (f, w, h, self.digest)


class Model:
    """A model folder (diffusers layout) loaded on a backend ("auto", "cpu", "cuda", "cuda:N") for the numerics
    profiles listed: "f32-v1", or "f32-v1,i8x-v1", which also quantizes the weights so that generate() may use
    numerics="i8x-v1"."""

    def __init__(self, path, backend="auto", threads=0, numerics="f32-v1"):
        _numpy()  # before the model is loaded, not after a job has run
        lib = _load()
        self._lib = lib
        self._handle = None
        h = ctypes.c_void_p()
        _check(lib.fr_ffi_model_open(os.fspath(path).encode(), backend.encode(), int(threads), numerics.encode(),
                                     ctypes.byref(h)),
               "loading %s" % os.fspath(path))
        self._handle = h
        self.digest = lib.fr_ffi_model_digest(h).decode()
        self.backend = lib.fr_ffi_model_backend(h).decode()
        self.numerics = numerics

    def generate(self, prompt, seed=0, steps=25, frames=16, height=None, width=None, guidance=9.0,
                 scheduler="dpm++2m", negative_prompt="", numerics="f32-v1", job_id="", progress=None):
        """Runs one job and returns its Result. height/width None: the model's size. progress(done, total)
        is called after every denoising step and when the frames are decoded (total = steps + 1)."""
        if self._handle is None:
            raise FractalError("the model is closed")
        job = {"job_id": job_id, "prompt": prompt, "negative_prompt": negative_prompt, "seed": int(seed),
               "steps": int(steps), "frames": int(frames), "guidance": float(guidance), "scheduler": scheduler,
               "numerics": numerics, "height": int(height or 0), "width": int(width or 0)}
        cb = _PROGRESS(lambda ctx, step, total: progress(step, total)) if progress else _PROGRESS()
        out = ctypes.c_void_p()
        _check(self._lib.fr_ffi_generate(self._handle, json.dumps(job).encode(), cb, None, ctypes.byref(out)),
               "generating")
        return Result(out)

    def close(self):
        if getattr(self, "_handle", None) is not None:  # absent when __init__ failed before setting it
            self._lib.fr_ffi_model_close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        return "<fractal.Model %s on %s>" % (self.digest, self.backend)


from .videos import VideosClient, VideosError  # noqa: E402 (after FractalError, which it subclasses)
