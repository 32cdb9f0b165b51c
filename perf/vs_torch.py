#!/usr/bin/env python3
"""Fractal's CPU backend against PyTorch on the CPU (fp32), the same work side by side: the op cases at the
ms-1.7b UNet's shapes (fractal-bench's BENCH cases at N frame-images), and with --model-ms / --model-small
whole pieces through diffusers (a UNet forward, a VAE decode, the small model's job). Runs alternate between
the two (one Fractal run, one PyTorch run, R times) and the median of each is reported, with the ratio
PyTorch time / Fractal time: above 1, Fractal is faster. --markdown prints the README's table.

Needs a Python with torch (Debian's python3-torch, 1.13 with OpenBLAS, is the reference used in the
README); the model rows also need diffusers 0.33 and transformers 4.x (docs/parity.md).

  perf/vs_torch.py --bin build/bin [--threads 2] [--repeat 3] [--images 16] [--only SUBSTR]
                   [--model-ms DIR] [--model-small DIR] [--markdown]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

QUIET_S = 0.5  # seconds of rest before each timed run

# fractal-bench BENCH case -> (label, a function building the PyTorch work for n frame-images)
def conv(n, c, hw, k=3, stride=1, pad=1, cout=None):
    x = torch.randn(n, c, hw, hw)
    w = torch.randn(cout or c, c, k, k) * 0.02
    b = torch.randn(cout or c)
    return lambda: F.conv2d(x, w, b, stride=stride, padding=pad)


def linear(rows, k, n, residual=False):
    x = torch.randn(rows, k)
    w = torch.randn(n, k) * 0.05
    b = torch.randn(n)
    r = torch.randn(rows, n) if residual else None
    return (lambda: F.linear(x, w, b) + r) if residual else (lambda: F.linear(x, w, b))


def conv_frames(n, c, hw):
    x = torch.randn(1, c, n, hw, hw)  # [B, C, F, H, W], the frame conv of the temporal layers
    w = torch.randn(c, c, 3, 1, 1) * 0.02
    b = torch.randn(c)
    return lambda: F.conv3d(x, w, b, padding=(1, 0, 0))


def group_norm_silu(n, c, hw):
    x = torch.randn(n, c, hw, hw)
    g, b = torch.rand(c) + 0.5, torch.randn(c)
    return lambda: F.silu(F.group_norm(x, 32, g, b, 1e-5))


def attention(batches, lq, lk, heads, d):
    # diffusers' attention on torch 1.13: baddbmm for the scores, softmax, bmm
    q, k, v = torch.randn(batches * heads, lq, d), torch.randn(batches * heads, lk, d), torch.randn(batches * heads, lk, d)
    scale = d ** -0.5

    def run():
        s = torch.baddbmm(torch.empty(q.shape[0], lq, lk), q, k.transpose(1, 2), beta=0, alpha=scale)
        return torch.bmm(s.softmax(dim=-1), v)

    return run


def layer_norm(rows, c):
    x, g, b = torch.randn(rows, c), torch.rand(c) + 0.5, torch.randn(c)
    return lambda: F.layer_norm(x, (c,), g, b, 1e-5)


def geglu(rows, n):
    h = torch.randn(rows, 2 * n)
    return lambda: (lambda a, g: a * F.gelu(g))(*h.chunk(2, dim=-1))


def softmax(rows, n):
    x = torch.randn(rows, n)
    return lambda: x.softmax(dim=-1)


OPS = [
    ("linear_320_b32", "linear 320→320, {t} tokens", lambda n: linear(n * 1024, 320, 320)),
    ("linear_geglu_proj_320_b32", "linear 320→2560 (GEGLU projection), {t} tokens", lambda n: linear(n * 1024, 320, 2560)),
    ("linear_ff_out_320_b32", "linear 1280→320 + residual, {t} tokens", lambda n: linear(n * 1024, 1280, 320, True)),
    ("conv2d_3x3_320_b32", "conv 3×3, 320→320 on {n}×32×32", lambda n: conv(n, 320, 32)),
    ("conv2d_1x1_320_b32", "conv 1×1, 320→320 on {n}×32×32", lambda n: conv(n, 320, 32, 1, 1, 0)),
    ("conv2d_3x3_640_b32", "conv 3×3, 640→640 on {n}×16×16", lambda n: conv(n, 640, 16)),
    ("conv2d_3x3_1280_8x8_b32", "conv 3×3, 1280→1280 on {n}×8×8", lambda n: conv(n, 1280, 8)),
    ("conv2d_down_320_b32", "conv 3×3 stride 2, 320 on {n}×32×32", lambda n: conv(n, 320, 32, 3, 2, 1)),
    ("conv_frames_320_b32", "frame conv (3,1,1), 320 on {n}×32×32", lambda n: conv_frames(n, 320, 32)),
    ("group_norm_silu_320_b32", "GroupNorm + SiLU, {n}×320×32×32", lambda n: group_norm_silu(n, 320, 32)),
    ("layer_norm_320_b32", "LayerNorm, {t}×320", lambda n: layer_norm(n * 1024, 320)),
    ("geglu_320_b32", "GEGLU, {t}×1280", lambda n: geglu(n * 1024, 1280)),
    ("softmax_1024_b32", "softmax, {t} rows of 1024", lambda n: softmax(n * 1024, 1024)),
    ("attention_self_320_b32", "spatial self-attention, {n} × 5 heads × 1024 tokens × 64", lambda n: attention(n, 1024, 1024, 5, 64)),
    ("attention_cross_320_b32", "cross-attention, {n} × 5 heads × 1024 × 77 × 64", lambda n: attention(n, 1024, 77, 5, 64)),
    ("attention_temporal_320_b32", "temporal attention, {p} × 5 heads × 16 tokens × 64", lambda n: attention(n * 64, 16, 16, 5, 64)),
]


def run_bench(args, extra):
    # PyTorch's BLAS and OpenMP threads spin for a while after their last call (OpenBLAS ~0.1 s): let them
    # stop before Fractal runs, and Fractal's pool before PyTorch does, so neither times the other's spinning
    time.sleep(QUIET_S)
    out = subprocess.run([f"{args.bin}/fractal-bench", "-b", "cpu", "-t", str(args.threads), "--json", *extra],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"vs_torch: fractal-bench {' '.join(extra)} failed: {out.stderr.strip()}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def time_torch(fn):
    time.sleep(QUIET_S)
    with torch.no_grad():
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3


def compare_ops(args, rows):
    for case, label, make in OPS:
        if args.only and args.only not in case:
            continue
        with torch.no_grad():
            fn = make(args.images)
            fn()  # warm-up
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(run_bench(args, ["-n", str(args.images), "-r", "1", "-o", case])[0]["ms"])
            theirs.append(time_torch(fn))
        rows.append((label.format(n=args.images, t=args.images * 1024, p=args.images * 64), statistics.median(ours),
                     statistics.median(theirs)))
        print_row(rows[-1], args)


def compare_model(args, rows, model, what):
    """Whole pieces through diffusers, from the same model folder (fp16 weights widened to fp32)."""
    try:
        from diffusers import TextToVideoSDPipeline
    except ImportError:
        print(f"(no diffusers: the {what} rows are left out)")
        return
    # a folder of fp16 weights names them as diffusers' "fp16" variant (fractal-mkmodel -d f16 does)
    variant = "fp16" if any(".fp16." in f for f in os.listdir(os.path.join(model, "unet"))) else None
    pipe = TextToVideoSDPipeline.from_pretrained(model, torch_dtype=torch.float32, variant=variant)
    pipe.set_progress_bar_config(disable=True)
    if what == "ms-1.7b":
        frames, size = 4, 256
        sample = torch.randn(2, 4, frames, size // 8, size // 8)
        text = torch.randn(2, 77, pipe.unet.config.cross_attention_dim)
        t = torch.tensor([500.0])

        def unet():
            pipe.unet(sample, t, encoder_hidden_states=text)

        latents = torch.randn(16, 4, size // 8, size // 8)

        def vae():
            pipe.vae.decode(latents / pipe.vae.config.scaling_factor)

        ours_unet, ours_vae, their_unet, their_vae = [], [], [], []
        for _ in range(args.repeat):
            r = run_bench(args, ["-m", model, "--steps", "1", "--frames", str(frames), "-r", "1"])[0]
            ours_unet.append(r["step_ms"])
            their_unet.append(time_torch(unet))
            r = run_bench(args, ["-m", model, "--steps", "1", "--frames", "16", "-r", "1"])[0]
            ours_vae.append(r["decode_ms"])
            their_vae.append(time_torch(vae))
        rows.append(("one UNet forward, batch 2 (guidance), 4 frames of 32×32 latents", statistics.median(ours_unet),
                     statistics.median(their_unet)))
        print_row(rows[-1], args)
        rows.append(("VAE decode, 16 frames to 256×256", statistics.median(ours_vae), statistics.median(their_vae)))
        print_row(rows[-1], args)
    else:
        def job():
            pipe("a timelapse of clouds over a mountain lake", num_frames=8, height=128, width=128,
                 num_inference_steps=5, guidance_scale=9.0, output_type="np")

        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(run_bench(args, ["-m", model, "--steps", "5", "--frames", "8", "-r", "1"])[0]["total_ms"])
            theirs.append(time_torch(job))
        rows.append(("the small model's whole job (8 frames 128², 5 DPM++ steps)", statistics.median(ours),
                     statistics.median(theirs)))
        print_row(rows[-1], args)


def print_row(row, args):
    if not args.markdown:
        label, ours, theirs = row
        print(f"{label:62s} Fractal {ours:10.1f} ms  PyTorch {theirs:10.1f} ms  {theirs / ours:5.2f}×", flush=True)


def loaded_blas():
    """The BLAS library this process has mapped after one matrix product (Debian's PyTorch links the generic
    libblas.so.3, which is the slow reference BLAS unless OpenBLAS is installed as its alternative)."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() or "mkl" in line.lower()}
    except OSError:
        return "unknown"
    libs = {os.path.realpath(x) for x in libs if x.startswith("/")}
    return ", ".join(sorted(os.path.basename(os.path.dirname(x)) + "/" + os.path.basename(x) for x in libs)) or "built in"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the build's bin folder (fractal-bench)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--images", type=int, default=16, help="frame-images per op case (default 16: one video)")
    ap.add_argument("--only", help="only op cases whose name contains this")
    ap.add_argument("--model-ms", help="an ms-1.7b-shape model folder (fractal-mkmodel -p ms-1.7b -d f16)")
    ap.add_argument("--model-small", help="a small model folder (fractal-mkmodel -p small)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    blas = loaded_blas()
    print(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads, BLAS: {blas}) against fractal-bench -b cpu "
          f"-t {args.threads}; median of {args.repeat} alternating runs", flush=True)
    if "openblas" not in blas and "mkl" not in blas:
        print("vs_torch.py: warning: PyTorch is not using an optimised BLAS; its linear and attention times are not "
              "representative (Debian: apt-get install libopenblas0-pthread)", file=sys.stderr, flush=True)
    rows = []
    compare_ops(args, rows)
    if args.model_ms:
        compare_model(args, rows, args.model_ms, "ms-1.7b")
    if args.model_small:
        compare_model(args, rows, args.model_small, "small")
    if args.markdown:
        print("| work (ms-1.7b shapes unless noted) | Fractal | PyTorch | Fractal speed vs PyTorch |")
        print("|---|---|---|---|")
        for label, ours, theirs in rows:
            fmt = lambda ms: f"{ms / 1e3:.2f} s" if ms >= 1000 else f"{ms:.1f} ms"
            print(f"| {label} | {fmt(ours)} | {fmt(theirs)} | {theirs / ours:.2f}× |")


if __name__ == "__main__":
    main()
