#!/usr/bin/env python3
"""The quality of the exact-integer profile i8x-v1, and of narrower widths, against fp32 arithmetic.

For each random-weight model (made once with fractal-mkmodel into --cache) and one job from fixed initial
noise, runs fractal-gen in f32-v1, i8x-v1 (B = 14) and i8x-bNN (other widths B, for choosing B), and --
where PyTorch and diffusers import -- diffusers' TextToVideoSDPipeline in fp32 (the reference), bf16 and
fp16 from the same noise. Prints, per model and arithmetic, against the fp32 reference and against
f32-v1: the worst per-step latent error (relative L2 over the latent, the largest over the steps), the
final latent's error, and the final frames' PSNR (float frames in [0, 1], peak 1).

  perf/i8x_quality.py --bin build/bin [--models tiny,small,ms-1.7b] [--bits 14,12,10,8] [--markdown]

Run it with a Python that has numpy (and torch + diffusers for the fp32/bf16/fp16 rows; without them the
reference is f32-v1, which matches diffusers fp32 to about 1e-6, docs/parity.md).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def rel_l2(a, b):
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def make_model(binary, preset, cache):
    path = os.path.join(cache, preset)
    if not os.path.exists(os.path.join(path, "model_index.json")):
        dtype = "f16" if preset == "ms-1.7b" else "f32"
        subprocess.run([binary, "-q", "-p", preset, "-d", dtype, path], check=True)
    return path


def run_fractal(gen, model, numerics, noise_path, args, tmp):
    dump = os.path.join(tmp, "dump-" + numerics)
    cmd = [gen, "-m", model, "-q", "--numerics", numerics, "--dump", dump, "--init-latents", noise_path, "--steps",
           str(args.steps), "--frames", str(args.frames), "--scheduler", args.scheduler, "--guidance",
           str(args.guidance), "-o", os.path.join(tmp, numerics + ".mp4"), args.prompt]
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    lat = [np.load(os.path.join(dump, f"latents_{k:03d}.npy")) for k in range(1, args.steps + 1)]
    return {"latents": lat, "frames": np.load(os.path.join(dump, "frames.npy")), "seconds": time.time() - t0}


def run_diffusers(model, noise, args, dtype_name):
    import torch
    from diffusers import DPMSolverMultistepScheduler, TextToVideoSDPipeline

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    plain = os.path.exists(os.path.join(model, "unet", "diffusion_pytorch_model.safetensors"))
    pipe = TextToVideoSDPipeline.from_pretrained(model, torch_dtype=dtype, variant=None if plain else "fp16")
    if args.scheduler == "dpm++2m":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    scale = pipe.vae_scale_factor
    h = w = pipe.unet.config.sample_size * scale
    lat = []
    t0 = time.time()
    frames = pipe(args.prompt, num_inference_steps=args.steps, num_frames=args.frames, height=h, width=w,
                  guidance_scale=args.guidance, latents=torch.from_numpy(noise).to(dtype), output_type="np",
                  callback=lambda i, t, x: lat.append(x.detach().float().numpy().copy()), callback_steps=1).frames[0]
    return {"latents": lat, "frames": np.asarray(frames, dtype=np.float32), "seconds": time.time() - t0}


def compare(run, ref):
    steps = [rel_l2(a, b) for a, b in zip(run["latents"], ref["latents"])]
    return max(steps), steps[-1], psnr(run["frames"], ref["frames"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="build/bin", help="folder with fractal-gen and fractal-mkmodel")
    ap.add_argument("--models", default="tiny,small", help="presets: tiny, small, ms-1.7b")
    ap.add_argument("--bits", default="14,12,10,8", help="i8x widths B to run (14 is the i8x-v1 profile)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/fractal/quality"), help="where models are kept")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--scheduler", choices=["ddim", "dpm++2m"], default="dpm++2m")
    ap.add_argument("--guidance", type=float, default=9.0)
    ap.add_argument("--prompt", default="a lighthouse in a storm, waves crashing, cinematic")
    ap.add_argument("--no-torch", action="store_true", help="skip the diffusers runs")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    gen, mk = os.path.join(args.bin, "fractal-gen"), os.path.join(args.bin, "fractal-mkmodel")
    have_torch = False
    if not args.no_torch:
        try:
            import diffusers  # noqa: F401
            import torch  # noqa: F401
            have_torch = True
        except ImportError:
            print("(no torch/diffusers here: the reference is f32-v1)", file=sys.stderr)
    os.makedirs(args.cache, exist_ok=True)
    rows = []
    for preset in args.models.split(","):
        model = make_model(mk, preset, args.cache)
        with tempfile.TemporaryDirectory() as tmp:
            # the initial noise: the latent shape from one f32-v1 run's dump (fractal-gen knows the model's size)
            probe = os.path.join(tmp, "probe")
            subprocess.run([gen, "-m", model, "-q", "--steps", "1", "--frames", str(args.frames), "--dump", probe,
                            "-o", os.path.join(tmp, "p.mp4"), "--guidance", "0", "x"], check=True,
                           stdout=subprocess.DEVNULL)
            shape = np.load(os.path.join(probe, "latents_000.npy")).shape
            noise = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
            noise_path = os.path.join(tmp, "noise.npy")
            np.save(noise_path, noise)
            runs = {"f32-v1": run_fractal(gen, model, "f32-v1", noise_path, args, tmp)}
            for b in [int(x) for x in args.bits.split(",") if x]:
                name = "i8x-v1" if b == 14 else f"i8x-b{b}"
                runs[name] = run_fractal(gen, model, name, noise_path, args, tmp)
            if have_torch:
                for dt in ("fp32", "bf16", "fp16"):
                    try:
                        runs["torch " + dt] = run_diffusers(model, noise, args, dt)
                    except Exception as e:  # CPU PyTorch lacks some half-precision kernels
                        print(f"{preset}: diffusers {dt} failed: {type(e).__name__}: {str(e)[:120]}", file=sys.stderr)
            ref_name = "torch fp32" if "torch fp32" in runs else "f32-v1"
            ref = runs[ref_name]
            for name, run in runs.items():
                if name == ref_name:
                    continue
                worst, final, p = compare(run, ref)
                w32, f32, p32 = compare(run, runs["f32-v1"]) if name != "f32-v1" else (0.0, 0.0, float("inf"))
                rows.append((preset, name, ref_name, worst, final, p, w32, f32, p32, run["seconds"]))
            took = ", ".join("%s %.1fs" % (k, v["seconds"]) for k, v in runs.items())
            print(f"{preset}: done ({took})", file=sys.stderr)
    head = ("model", "arithmetic", "reference", "worst step err", "final latent err", "frames PSNR dB",
            "vs f32-v1: worst step", "final", "PSNR dB", "seconds")
    fmt = lambda r: [r[0], r[1], r[2], f"{r[3]:.2e}", f"{r[4]:.2e}", f"{r[5]:.1f}", f"{r[6]:.2e}", f"{r[7]:.2e}",
                     "inf" if r[8] == float("inf") else f"{r[8]:.1f}", f"{r[9]:.1f}"]
    print(f"job: {args.steps} {args.scheduler} steps, {args.frames} frames, guidance {args.guidance}, "
          f"prompt {args.prompt!r}; errors are relative L2 over the latent")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(fmt(r)) + " |")
    else:
        print("  ".join(f"{h:>14}" for h in head))
        for r in rows:
            print("  ".join(f"{c:>14}" for c in fmt(r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
