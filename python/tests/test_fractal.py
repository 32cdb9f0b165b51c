"""The Python package against the command-line tools: the same digest, step hashes and frames as
fractal-gen for the same job, errors as FractalError with the library's message, a playable MP4.
Needs FRACTAL_LIB (libfractal.so) and FRACTAL_BIN (the folder of fractal-gen and fractal-mkmodel)."""

import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

import fractal

BIN = os.environ["FRACTAL_BIN"]


class FractalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = os.path.join(cls.tmp.name, "tiny")
        subprocess.run([os.path.join(BIN, "fractal-mkmodel"), "-q", "-p", "tiny", cls.dir], check=True)
        cls.model = fractal.Model(cls.dir, backend="cpu", threads=2)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()
        cls.tmp.cleanup()

    def gen_cli(self, *args):
        dump = tempfile.mkdtemp(dir=self.tmp.name)
        out = subprocess.run([os.path.join(BIN, "fractal-gen"), "-m", self.dir, "-q", "--json", "--dump", dump,
                              "-o", os.path.join(dump, "v.mp4")] + list(args),
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out), dump

    def test_same_bits_as_fractal_gen(self):
        steps = []
        r = self.model.generate("a lighthouse in a storm", seed=2**64 - 1, steps=3, frames=3, height=32, width=48,
                                guidance=7.5, scheduler="ddim", negative_prompt="blurry",
                                progress=lambda done, total: steps.append((done, total)))
        rec, dump = self.gen_cli("--seed", str(2**64 - 1), "--steps", "3", "--frames", "3", "--height", "32",
                                 "--width", "48", "--guidance", "7.5", "--scheduler", "ddim", "--negative", "blurry",
                                 "a lighthouse in a storm")
        want = rec["result"]
        self.assertEqual(r.digest, want["digest"])
        self.assertEqual(r.step_hashes, want["step_hashes"])
        self.assertEqual(r.frame_hashes, want["frame_hashes"])
        self.assertEqual(r.frames_hash, want["frames_hash"])
        self.assertEqual(r.job, rec["job"])
        self.assertEqual(r.frames.dtype, np.uint8)
        self.assertEqual(r.frames.shape, (3, 32, 48, 3))
        frames = [f for f in os.listdir(dump) if f.startswith("frames") and "u8" in f]
        self.assertEqual(len(frames), 1, os.listdir(dump))
        self.assertTrue(np.array_equal(np.load(os.path.join(dump, frames[0])).reshape(r.frames.shape), r.frames))
        self.assertEqual(steps, [(1, 4), (2, 4), (3, 4), (4, 4)])

    def test_defaults_are_the_protocols(self):
        r = self.model.generate("x", seed=5, steps=2, frames=1)
        self.assertEqual((r.job["height"], r.job["width"]), (64, 64))  # the tiny model's own size
        self.assertEqual((r.job["guidance"], r.job["scheduler"], r.job["numerics"]), (9, "dpm++2m", "f32-v1"))
        self.assertEqual(r.job["model"], self.model.digest)
        rec, _ = self.gen_cli("--seed", "5", "--steps", "2", "--frames", "1", "x")
        self.assertEqual(r.digest, rec["result"]["digest"])

    def test_i8x(self):
        with fractal.Model(self.dir, backend="cpu", threads=2, numerics="f32-v1,i8x-v1") as m:
            r = m.generate("a fox", seed=3, steps=2, frames=2, numerics="i8x-v1")
            f = m.generate("a fox", seed=3, steps=2, frames=2)
        rec, _ = self.gen_cli("--numerics", "i8x-v1", "--seed", "3", "--steps", "2", "--frames", "2", "a fox")
        self.assertEqual(r.digest, rec["result"]["digest"])
        self.assertEqual(r.job["numerics"], "i8x-v1")
        self.assertNotEqual(r.digest, f.digest)
        with self.assertRaisesRegex(fractal.FractalError, "quantized weights"):
            self.model.generate("x", steps=1, frames=1, numerics="i8x-v1")  # loaded without them
        with self.assertRaisesRegex(fractal.FractalError, "profiles are f32-v1 and i8x-v1"):
            fractal.Model(self.dir, backend="cpu", numerics="f32-v1,i4-v1")

    def test_errors(self):
        with self.assertRaisesRegex(fractal.FractalError, "steps must be in 1..200"):
            self.model.generate("x", steps=0)
        with self.assertRaisesRegex(fractal.FractalError, "height"):
            self.model.generate("x", steps=1, frames=1, height=30, width=32)
        with self.assertRaisesRegex(fractal.FractalError, "invalid JSON at byte 32: lone low surrogate"):
            self.model.generate("\udcff", steps=1)  # a lone surrogate: no Unicode character, refused
        with self.assertRaisesRegex(fractal.FractalError, "numerics"):
            self.model.generate("x", steps=1, frames=1, numerics="f16-v9")
        with self.assertRaisesRegex(fractal.FractalError, "loading /nonexistent: .*nonexistent"):
            fractal.Model("/nonexistent")
        with self.assertRaisesRegex(fractal.FractalError, "unknown backend"):
            fractal.Model(self.dir, backend="tpu")

    def test_save(self):
        r = self.model.generate("a cat", seed=1, steps=1, frames=4, height=32, width=32)
        path = os.path.join(self.tmp.name, "cat.mp4")
        r.save(path)
        with open(path, "rb") as f:
            head = f.read(12)
        self.assertEqual(head[4:8], b"ftyp")
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=nb_read_frames,width,height", "-of", "json", path],
                               capture_output=True, text=True)
        if probe.returncode == 0:
            s = json.loads(probe.stdout)["streams"][0]
            self.assertEqual((int(s["nb_read_frames"]), s["width"], s["height"]), (4, 32, 32))
        r.save(os.path.join(self.tmp.name, "cat.gif"))
        with open(os.path.join(self.tmp.name, "cat.gif"), "rb") as f:
            self.assertEqual(f.read(6), b"GIF89a")
        with self.assertRaisesRegex(fractal.FractalError, "cat.avi: not a format Fractal writes"):
            r.save(os.path.join(self.tmp.name, "cat.avi"))
        with self.assertRaisesRegex(fractal.FractalError, "nodir"):
            r.save(os.path.join(self.tmp.name, "nodir", "cat.mp4"))


if __name__ == "__main__":
    unittest.main()
