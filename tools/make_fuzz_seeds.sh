#!/usr/bin/env bash
# Writes the fuzz targets' seed inputs under fuzz/seeds/<target>/: one small valid input each
# (a few hundred bytes to a few KB), so that libFuzzer starts inside every reader's format.
# Needs the built binary (BIN, default the dev build) and Python with numpy, torch and Pillow
# (Debian's python3-torch; the venv of tools/make_diffusers_fixture.py has them all).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug/collapse-explorer}
PY=${PY:-python3}
S=fuzz/seeds
rm -rf "$S" && mkdir -p "$S"/{npy,csv,png,jpeg,idx,cifar,npz,mlp_checkpoint,unet_checkpoint,score_sde_pth,sweep_toml,unet_config_toml,diffusers}
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT

# Points, CSV, sweep and U-Net config text.
"$BIN" data --dataset spiral --n 16 --seed 0 --out "$S/npy/spiral16.npy"
printf 'x,y\n0.5,-1\n1e-3,2\n-0.25,3.5\n' > "$S/csv/points.csv"
cp sweeps/trends_width.toml "$S/sweep_toml/"
# collapse_explorer::fuzzing::small_unet(), which the .pth target imports into.
cat > "$S/unet_config_toml/small.toml" <<'TOML'
nf = 4
ch_mult = [1, 2]
num_res_blocks = 1
attn_resolutions = [2]
dropout = 0.1
groups = 2
image_size = 4
channels = 3
centered = true
TOML

# An MLP checkpoint: model.json NUL model.safetensors.
"$BIN" train --dataset chessboard --n 64 --width 4 --depth 1 --iters 2 --batch 8 --seed 0 \
  --out "$tmp/mlp" >/dev/null 2>&1
cat "$tmp/mlp/model.json" <(printf '\0') "$tmp/mlp/model.safetensors" > "$S/mlp_checkpoint/w4.bin"

# A U-Net of the config above: sidecar NUL safetensors.
"$BIN" train-unet --data procedural --n 16 --size 4 --config "$S/unet_config_toml/small.toml" \
  --iters 1 --batch 4 --save-every 0 --ema 0 --out "$tmp/unet" >/dev/null 2>&1
cat "$tmp/unet/model.json" <(printf '\0') "$tmp/unet/model.safetensors" > "$S/unet_checkpoint/tiny.bin"

# Pictures, image batches, a score_sde-style .pth and a diffusers directory (diffusers' own files
# when the venv of tools/make_diffusers_fixture.py is there, else a hand-written safetensors).
"$PY" - "$S" <<'PY'
import gzip, io, json, struct, sys, zipfile
import numpy as np
S = sys.argv[1]
rng = np.random.default_rng(0)
img = (rng.random((6, 5, 3)) * 255).astype(np.uint8)
from PIL import Image
Image.fromarray(img).save(f"{S}/png/rgb.png")
Image.fromarray(img[:, :, 0]).save(f"{S}/png/grey.png")
Image.fromarray(img).save(f"{S}/jpeg/rgb.jpg", quality=80)
idx = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 4, 4) + bytes(range(32))
open(f"{S}/idx/two.idx3", "wb").write(idx)
open(f"{S}/idx/two.idx3.gz", "wb").write(gzip.compress(idx))
open(f"{S}/cifar/two.bin", "wb").write(bytes([3]) + bytes(3072) + bytes([7]) + bytes(range(256)) * 12)
buf = io.BytesIO()
np.savez(buf, x=(rng.random((2, 3, 4, 4))).astype(np.float32))
open(f"{S}/npz/two.npz", "wb").write(buf.getvalue())

import os, torch
# score_sde's DDPM of small_unet() (tools/make_unet_fixture.py's copy of models/ddpm.py, with 2
# GroupNorm groups instead of 32: no parameter depends on the groups), saved as run_lib.py does.
sys.path.insert(0, os.path.join(os.getcwd(), "tools"))
import make_unet_fixture as ddpm
group_norm = torch.nn.GroupNorm
ddpm.nn.GroupNorm = lambda num_groups, num_channels, eps: group_norm(2, num_channels, eps=eps)
net = ddpm.DDPM(dict(nf=4, ch_mult=[1, 2], num_res_blocks=1, attn_resolutions=[4 // 2],
                     dropout=0.1, resamp_with_conv=True, conditional=True, centered=True,
                     image_size=4, channels=3))
ddpm.nn.GroupNorm = group_norm
model = {f"module.{k}": v for k, v in net.state_dict().items()}
model["module.sigmas"] = torch.ones(3)
torch.save({"model": model, "ema": {"decay": 0.999, "num_updates": 1,
            "shadow_params": [p.detach().clone() for p in net.parameters()]},
            "optimizer": {}, "step": 3}, f"{S}/score_sde_pth/small.pth")

config = {"_class_name": "UNet2DModel", "sample_size": 4, "in_channels": 3, "out_channels": 3,
          "block_out_channels": [4, 8], "layers_per_block": 1, "norm_num_groups": 2,
          "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
          "up_block_types": ["AttnUpBlock2D", "UpBlock2D"], "attention_head_dim": None,
          "downsample_padding": 0, "flip_sin_to_cos": False, "freq_shift": 1}
scheduler = {"_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001,
             "beta_end": 0.02, "beta_schedule": "linear", "prediction_type": "epsilon"}
try:
    import safetensors.torch  # noqa: F401
    from diffusers import UNet2DModel
    model = UNet2DModel(**{k: v for k, v in config.items() if k != "_class_name"})
    import tempfile, os
    d = tempfile.mkdtemp()
    model.save_pretrained(d)
    weights = open(os.path.join(d, "diffusion_pytorch_model.safetensors"), "rb").read()
    config = json.load(open(os.path.join(d, "config.json")))
except ImportError:
    header = json.dumps({"conv_in.weight": {"dtype": "F32", "shape": [4, 1, 3, 3], "data_offsets": [0, 144]}}).encode()
    weights = struct.pack("<Q", len(header)) + header + bytes(144)
seed = json.dumps(config).encode() + b"\0" + json.dumps(scheduler).encode() + b"\0" + weights
open(f"{S}/diffusers/tiny.bin", "wb").write(seed)
PY
du -sh "$S"/* | sort -h | tail -4
