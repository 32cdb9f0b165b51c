#!/usr/bin/env python3
"""Converts a diffusers model folder's PyTorch `.bin` weights (Zeroscope v2 ships only those) to
`.safetensors` next to them, once, outside Fractal's runtime. Needs torch and safetensors.

  python3 tools/dev/bin_to_safetensors.py ~/models/zeroscope_v2_576w
"""
import os
import sys


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    import torch
    from safetensors.torch import save_file

    root = sys.argv[1]
    converted = 0
    for sub in ("unet", "vae", "text_encoder"):
        for name in ("diffusion_pytorch_model.bin", "pytorch_model.bin"):
            src = os.path.join(root, sub, name)
            if not os.path.exists(src):
                continue
            stem = "model" if sub == "text_encoder" else "diffusion_pytorch_model"
            dst = os.path.join(root, sub, stem + ".safetensors")
            state = torch.load(src, map_location="cpu", weights_only=True)
            tensors = {k: v.contiguous() for k, v in state.items() if isinstance(v, torch.Tensor)}
            save_file(tensors, dst, metadata={"format": "pt"})
            print(f"{src} -> {dst} ({len(tensors)} tensors)")
            converted += 1
    if not converted:
        print(f"{root}: no .bin weights found under unet/, vae/ or text_encoder/", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
