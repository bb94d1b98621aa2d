#!/usr/bin/env python3
"""Writes the diffusers `UNet2DModel` fixtures that `src/images/diffusers.rs` is tested against.

The networks are built and saved by real diffusers code (`UNet2DModel.save_pretrained`,
`DDPMScheduler.save_pretrained`), so the files are what a user downloads from the Hub. Run it in
a venv on Debian's PyTorch:

    apt-get install python3-torch python3-venv
    python3 -m venv --system-site-packages ~/.venv-diffusers
    ~/.venv-diffusers/bin/pip install "diffusers==0.25.1" "huggingface_hub<0.26"
    ~/.venv-diffusers/bin/python tools/make_diffusers_fixture.py

Outputs, under `tests/fixtures/diffusers/`:
- `ddpm/`: the google/ddpm-cifar10-32 layout in miniature (`DownBlock2D`, `AttnDownBlock2D` /
  `AttnUpBlock2D`, `UpBlock2D`; asymmetric downsampling pad; `flip_sin_to_cos = False`,
  `freq_shift = 1`; single-head attention) saved as `diffusion_pytorch_model.safetensors` with
  today's attention names (`to_q`, `to_k`, `to_v`, `to_out.0`), plus `scheduler_config.json`
  (DDPM, linear betas 1e-4 to 0.02, 1,000 steps).
- `legacy/`: three levels, multi-head attention (`attention_head_dim = 8`), symmetric padding,
  `flip_sin_to_cos = True`, `freq_shift = 0`, `center_input_sample = True`, a mid-block scale
  of √2, saved as the older `diffusion_pytorch_model.bin` with the attention weights renamed to
  the pre-0.14 names (`query`, `key`, `value`, `proj_attn`), as checkpoints of that era have.
- `reference.json`: for each, fixed inputs `x` `[B, C, H, W]`, continuous times `t` `[B]`, the
  timesteps fed to diffusers (`t · (N − 1)`, N = 1,000) and the network's output.
- `schedulers/v_prediction/`, `schedulers/sample/`: a `DDIMScheduler` config with that
  `prediction_type` (saved by diffusers), to pair with the `ddpm` network; `reference.json` gets
  `ddpm-v_prediction` and `ddpm-sample`: the network's raw `output` at integer timesteps and the
  `eps` that diffusers' own `step` implies (its `pred_original_sample` x̂₀, turned into
  `ε̂ = (x − √ᾱ x̂₀) / √(1 − ᾱ)` with the scheduler's `alphas_cumprod`).

`--predictions` writes only those (the other fixtures are left as they are).

Every tensor is randomised (the zero-initialised ones too, GroupNorm scales and biases included),
so each weight's placement matters.
"""

import json
import math
import os

import safetensors.torch  # noqa: F401  (diffusers saves safetensors only when it imports)
import torch
from diffusers import DDPMScheduler, UNet2DModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "diffusers")
TRAIN_TIMESTEPS = 1000

FIXTURES = {
    "ddpm": dict(
        config=dict(
            sample_size=8,
            in_channels=3,
            out_channels=3,
            block_out_channels=(16, 32),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D"),
            norm_num_groups=4,
            norm_eps=1e-6,
            downsample_padding=0,
            flip_sin_to_cos=False,
            freq_shift=1,
            attention_head_dim=None,
            center_input_sample=False,
            act_fn="silu",
            time_embedding_type="positional",
        ),
        safe=True,
        legacy_names=False,
        seed=1,
    ),
    "legacy": dict(
        config=dict(
            sample_size=8,
            in_channels=3,
            out_channels=3,
            block_out_channels=(16, 32, 32),
            layers_per_block=1,
            down_block_types=("AttnDownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D", "AttnUpBlock2D"),
            norm_num_groups=8,
            norm_eps=1e-5,
            downsample_padding=1,
            flip_sin_to_cos=True,
            freq_shift=0,
            attention_head_dim=8,
            center_input_sample=True,
            mid_block_scale_factor=math.sqrt(2.0),
        ),
        safe=False,
        legacy_names=True,
        seed=2,
    ),
}

LEGACY = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def randomise(model, gen):
    """Draws every tensor: weights at ~1/sqrt(fan_in), vectors around 0 (norm scales around 1)."""
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif "norm" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def to_legacy_names(path):
    """Renames the attention weights of a saved `.bin` to the pre-0.14 names."""
    state = torch.load(path)
    renamed = {}
    for key, value in state.items():
        for new, old in LEGACY.items():
            marker = f".{new}."
            if marker in key and ".attentions." in key:
                key = key.replace(marker, f".{old}.")
        renamed[key] = value
    assert renamed.keys() != state.keys()
    torch.save(renamed, path)


def main():
    torch.set_grad_enabled(False)
    reference = {}
    for name, spec in FIXTURES.items():
        gen = torch.Generator().manual_seed(spec["seed"])
        model = UNet2DModel(**spec["config"]).eval()
        randomise(model, gen)
        out = os.path.join(OUT, name)
        os.makedirs(out, exist_ok=True)
        for stale in os.listdir(out):
            os.remove(os.path.join(out, stale))
        model.save_pretrained(out, safe_serialization=spec["safe"])
        if spec["legacy_names"]:
            to_legacy_names(os.path.join(out, "diffusion_pytorch_model.bin"))
        DDPMScheduler(
            num_train_timesteps=TRAIN_TIMESTEPS,
            beta_start=1e-4,
            beta_end=0.02,
            beta_schedule="linear",
            prediction_type="epsilon",
        ).save_pretrained(out)

        size, channels = spec["config"]["sample_size"], spec["config"]["in_channels"]
        x = torch.randn((2, channels, size, size), generator=gen)
        t = torch.tensor([0.3, 0.85])
        timesteps = t * (TRAIN_TIMESTEPS - 1)
        built = model(x, timesteps).sample
        # The files as saved are what is tested: load them back with diffusers itself (which
        # renames the legacy attention weights) and check that nothing was lost on the way.
        model = UNet2DModel.from_pretrained(out).eval()
        eps = model(x, timesteps).sample
        assert torch.equal(eps, built), f"{name}: reloaded network differs"
        reference[name] = dict(
            x_shape=list(x.shape),
            x=x.flatten().tolist(),
            t=t.tolist(),
            timesteps=timesteps.tolist(),
            eps=eps.flatten().tolist(),
        )
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, |eps| max {eps.abs().max():.3f}")
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f)


def predictions():
    """The `ddpm` network read as v- and x0-prediction, converted to ε̂ by diffusers' `step`."""
    from diffusers import DDIMScheduler

    torch.set_grad_enabled(False)
    model = UNet2DModel.from_pretrained(os.path.join(OUT, "ddpm")).eval()
    with open(os.path.join(OUT, "reference.json")) as f:
        reference = json.load(f)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn((2, 3, 8, 8), generator=gen)
    timesteps = torch.tensor([299, 849])
    t = timesteps.double() / (TRAIN_TIMESTEPS - 1)
    output = model(x, timesteps).sample
    for prediction in ["v_prediction", "sample"]:
        scheduler = DDIMScheduler(
            num_train_timesteps=TRAIN_TIMESTEPS,
            beta_start=1e-4,
            beta_end=0.02,
            beta_schedule="linear",
            prediction_type=prediction,
            clip_sample=False,
        )
        out = os.path.join(OUT, "schedulers", prediction)
        os.makedirs(out, exist_ok=True)
        scheduler.save_pretrained(out)
        scheduler.set_timesteps(50)
        eps = []
        for b, ts in enumerate(timesteps.tolist()):
            step = scheduler.step(output[b : b + 1], ts, x[b : b + 1], eta=0.0)
            x0 = step.pred_original_sample
            alpha_bar = scheduler.alphas_cumprod[ts]
            eps.append((x[b : b + 1] - alpha_bar.sqrt() * x0) / (1 - alpha_bar).sqrt())
        eps = torch.cat(eps)
        reference[f"ddpm-{prediction}"] = dict(
            x_shape=list(x.shape),
            x=x.flatten().tolist(),
            t=t.tolist(),
            timesteps=timesteps.double().tolist(),
            output=output.flatten().tolist(),
            eps=eps.flatten().tolist(),
        )
        print(f"ddpm as {prediction}: |output| max {output.abs().max():.3f}, |eps| max {eps.abs().max():.3f}")
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    import sys

    if "--predictions" in sys.argv:
        predictions()
    else:
        main()
