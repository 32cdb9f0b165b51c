#!/usr/bin/env python3
"""Fractal vs Hugging Face diffusers + transformers on the same model folder and the same initial noise.

Runs `fractal-gen --dump` and diffusers' TextToVideoSDPipeline (float32, CPU) on a model made by
`fractal-mkmodel` (or any diffusers-layout ModelScope model), then compares, stage by stage:
token ids (exact), text embeddings, the first UNet call (guided noise prediction), every scheduler step's
latent, and the decoded frames (diffusers' VAE decode of the same final latent, then the full run).

Needs: torch, diffusers==0.33.1, transformers 4.3x-4.5x (the slow CLIPTokenizer), numpy; ftfy must NOT be
installed (see docs/tokenizer.md). Exit status 0 when every comparison is within its tolerance.

  python3 tests/parity/pipeline_parity.py --gen build/bin/fractal-gen --model /tmp/tiny --scheduler ddim
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

# Tolerances, float32 against torch float32 (different but correct summation orders and libm):
TOL = {
    "text": 2e-5,   # max |diff| / max |reference|
    "unet": 1e-4,   # first guided noise prediction, same inputs
    "step": 2e-4,   # each latent, relative L2 (errors compound over steps)
    "vae": 1e-4,    # decode of the same latent, max |diff| on frames in [0, 1]
    "frames": 2e-3, # full-run frames, max |diff| in [0, 1]
}


def rel_l2(a, b):
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gen", required=True, help="path of the fractal-gen binary")
    ap.add_argument("--model", required=True, help="diffusers-layout model folder")
    ap.add_argument("--prompt", default="a panda playing a guitar, 4k, highly detailed!")
    ap.add_argument("--negative", default="")
    ap.add_argument("--scheduler", choices=["ddim", "dpm++2m"], default="ddim")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--guidance", type=float, default=9.0)
    ap.add_argument("--noise-seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    import diffusers
    import transformers
    from diffusers import DPMSolverMultistepScheduler, TextToVideoSDPipeline

    try:
        import ftfy  # noqa: F401
        print("ftfy is installed: CLIPTokenizer would take its path, not the one Fractal implements", file=sys.stderr)
        return 2
    except ImportError:
        pass
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    pipe = TextToVideoSDPipeline.from_pretrained(args.model, torch_dtype=torch.float32)
    if args.scheduler == "dpm++2m":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    scale = pipe.vae_scale_factor
    h = w = pipe.unet.config.sample_size * scale
    shape = (1, pipe.unet.config.in_channels, args.frames, h // scale, w // scale)
    noise = np.random.default_rng(args.noise_seed).standard_normal(shape).astype(np.float32)
    print(f"diffusers {diffusers.__version__}, transformers {transformers.__version__}, torch {torch.__version__}; "
          f"{args.scheduler} {args.steps} steps, {args.frames} frames {w}x{h}, guidance {args.guidance}")

    failures = []

    def check(name, err, tol):
        ok = err <= tol
        print(f"  {'ok ' if ok else 'BAD'} {name:<34} {err:.3e}  (tolerance {tol:.0e})")
        if not ok:
            failures.append(name)

    with tempfile.TemporaryDirectory() as tmp:
        init = os.path.join(tmp, "init.npy")
        np.save(init, noise)
        dump = os.path.join(tmp, "dump")
        cmd = [args.gen, "-m", args.model, "-q", "--dump", dump, "--init-latents", init, "--steps", str(args.steps),
               "--frames", str(args.frames), "--guidance", str(args.guidance), "--scheduler", args.scheduler,
               "--negative", args.negative, "-o", os.path.join(tmp, "v.mp4"), args.prompt]
        subprocess.run(cmd, check=True)
        ours = lambda name: np.load(os.path.join(dump, name))

        # tokens: exact
        tok = pipe.tokenizer([args.negative, args.prompt] if args.guidance > 1 else [args.prompt], padding="max_length",
                             max_length=pipe.tokenizer.model_max_length, truncation=True, return_tensors="np").input_ids
        same = np.array_equal(tok.astype(np.int32), ours("tokens.npy"))
        print(f"  {'ok ' if same else 'BAD'} token ids equal")
        if not same:
            failures.append("tokens")

        with torch.no_grad():
            emb = pipe.text_encoder(torch.from_numpy(tok.astype(np.int64)))[0].numpy()
        check("text embeddings", np.abs(ours("text_embeddings.npy") - emb).max() / np.abs(emb).max(), TOL["text"])

        # the first UNet call from our inputs (guided)
        pipe.scheduler.set_timesteps(args.steps)
        t0 = pipe.scheduler.timesteps[0]
        lat0 = torch.from_numpy(ours("latents_000.npy"))
        text = torch.from_numpy(ours("text_embeddings.npy"))
        with torch.no_grad():
            cfg = args.guidance > 1
            out = pipe.unet(torch.cat([lat0] * 2) if cfg else lat0, t0, encoder_hidden_states=text).sample
            if cfg:
                u, c = out.chunk(2)
                out = u + args.guidance * (c - u)
        check("UNet (step 0, guided)", rel_l2(ours("noise_pred_000.npy"), out.numpy()), TOL["unet"])

        # the full run from the same noise
        steps_lat = []
        frames = pipe(args.prompt, negative_prompt=args.negative, num_inference_steps=args.steps,
                      num_frames=args.frames, height=h, width=w, guidance_scale=args.guidance,
                      latents=torch.from_numpy(noise), output_type="np",
                      callback=lambda i, t, lat: steps_lat.append(lat.detach().numpy().copy()), callback_steps=1).frames[0]
        worst = max(rel_l2(ours(f"latents_{k + 1:03d}.npy"), steps_lat[k]) for k in range(args.steps))
        check(f"latents after each of {args.steps} steps", worst, TOL["step"])

        # VAE decode of our final latent
        with torch.no_grad():
            video = pipe.decode_latents(torch.from_numpy(ours(f"latents_{args.steps:03d}.npy")))
            ref = pipe.video_processor.postprocess_video(video=video, output_type="np")[0]
        # decode of the same latent: compare against frames recomputed from our latent (ours)
        check("VAE decode of the same latent", np.abs(ours("frames.npy") - ref).max(), TOL["vae"])
        check("frames of the whole run", np.abs(ours("frames.npy") - frames).max(), TOL["frames"])

    print("parity:", "OK" if not failures else "FAILED: " + ", ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
