#!/usr/bin/env python3
"""Writes the U-Net fixture that `src/images/unet.rs` is tested against.

The network is score_sde_pytorch's `models/ddpm.py` DDPM (Song et al. 2021), with the classes it
needs copied from `models/layers.py` below so that the script runs on a bare PyTorch (Debian's
`python3-torch` 1.13 is enough: `/usr/bin/python3 tools/make_unet_fixture.py`).

Outputs, under `tests/fixtures/unet/`:
- `checkpoint.pth`: a score_sde-style checkpoint dict (`model` with keys `module.all_modules.N.…`
  and the `module.sigmas` buffer, `ema` with `decay`, `num_updates` and `shadow_params` in
  `model.parameters()` order, `optimizer` (empty), `step`), saved in the zip format.
- `reference.json`: the config (in the Rust `UNetConfig` form), fixed inputs `x` `[B, C, H, W]`
  and continuous times `t` `[B]`, and the network output for the model and for the EMA weights.

Every parameter is randomised (the zero-initialised convolutions too), so each tensor matters.
"""

import json
import math
import os
import string

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "unet")

CONFIG = dict(
    nf=32,
    ch_mult=[1, 1],
    num_res_blocks=1,
    attn_resolutions=[4],
    dropout=0.1,
    resamp_with_conv=True,
    conditional=True,
    centered=False,
    image_size=8,
    channels=3,
)


# --- score_sde_pytorch models/layers.py (abridged to what DDPM uses) -------------------------


def variance_scaling(scale, mode, distribution, in_axis=1, out_axis=0):
    def _compute_fans(shape):
        receptive_field_size = math.prod(shape) / shape[in_axis] / shape[out_axis]
        return shape[in_axis] * receptive_field_size, shape[out_axis] * receptive_field_size

    def init(shape):
        fan_in, fan_out = _compute_fans(shape)
        denominator = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / denominator
        assert distribution == "uniform"
        return (torch.rand(*shape) * 2.0 - 1.0) * math.sqrt(3 * variance)

    return init


def default_init(scale=1.0):
    scale = 1e-10 if scale == 0 else scale
    return variance_scaling(scale, "fan_avg", "uniform")


def ddpm_conv3x3(in_planes, out_planes, stride=1, bias=True, dilation=1, init_scale=1.0, padding=1):
    conv = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=padding,
                     dilation=dilation, bias=bias)
    conv.weight.data = default_init(init_scale)(conv.weight.data.shape)
    nn.init.zeros_(conv.bias)
    return conv


def get_timestep_embedding(timesteps, embedding_dim, max_positions=10000):
    assert len(timesteps.shape) == 1
    half_dim = embedding_dim // 2
    emb = math.log(max_positions) / (half_dim - 1)
    emb = torch.exp(torch.arange(half_dim, dtype=torch.float32, device=timesteps.device) * -emb)
    emb = timesteps.float()[:, None] * emb[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if embedding_dim % 2 == 1:
        emb = F.pad(emb, (0, 1), mode="constant")
    return emb


def _einsum(a, b, c, x, y):
    return torch.einsum("{},{}->{}".format("".join(a), "".join(b), "".join(c)), x, y)


def contract_inner(x, y):
    x_chars = list(string.ascii_lowercase[: len(x.shape)])
    y_chars = list(string.ascii_lowercase[len(x.shape): len(y.shape) + len(x.shape)])
    y_chars[0] = x_chars[-1]
    out_chars = x_chars[:-1] + y_chars[1:]
    return _einsum(x_chars, y_chars, out_chars, x, y)


class NIN(nn.Module):
    def __init__(self, in_dim, num_units, init_scale=0.1):
        super().__init__()
        self.W = nn.Parameter(default_init(scale=init_scale)((in_dim, num_units)), requires_grad=True)
        self.b = nn.Parameter(torch.zeros(num_units), requires_grad=True)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        y = contract_inner(x, self.W) + self.b
        return y.permute(0, 3, 1, 2)


class AttnBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.GroupNorm_0 = nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6)
        self.NIN_0 = NIN(channels, channels)
        self.NIN_1 = NIN(channels, channels)
        self.NIN_2 = NIN(channels, channels)
        self.NIN_3 = NIN(channels, channels, init_scale=0.0)

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.GroupNorm_0(x)
        q = self.NIN_0(h)
        k = self.NIN_1(h)
        v = self.NIN_2(h)
        w = torch.einsum("bchw,bcij->bhwij", q, k) * (int(C) ** (-0.5))
        w = torch.reshape(w, (B, H, W, H * W))
        w = F.softmax(w, dim=-1)
        w = torch.reshape(w, (B, H, W, H, W))
        h = torch.einsum("bhwij,bcij->bchw", w, v)
        h = self.NIN_3(h)
        return x + h


class Upsample(nn.Module):
    def __init__(self, channels, with_conv=False):
        super().__init__()
        if with_conv:
            self.Conv_0 = ddpm_conv3x3(channels, channels)
        self.with_conv = with_conv

    def forward(self, x):
        B, C, H, W = x.shape
        h = F.interpolate(x, (H * 2, W * 2), mode="nearest")
        if self.with_conv:
            h = self.Conv_0(h)
        return h


class Downsample(nn.Module):
    def __init__(self, channels, with_conv=False):
        super().__init__()
        if with_conv:
            self.Conv_0 = ddpm_conv3x3(channels, channels, stride=2, padding=0)
        self.with_conv = with_conv

    def forward(self, x):
        B, C, H, W = x.shape
        if self.with_conv:
            x = F.pad(x, (0, 1, 0, 1))
            x = self.Conv_0(x)
        else:
            x = F.avg_pool2d(x, kernel_size=2, stride=2, padding=0)
        assert x.shape == (B, C, H // 2, W // 2)
        return x


class ResnetBlockDDPM(nn.Module):
    def __init__(self, act, in_ch, out_ch=None, temb_dim=None, conv_shortcut=False, dropout=0.1):
        super().__init__()
        if out_ch is None:
            out_ch = in_ch
        self.GroupNorm_0 = nn.GroupNorm(num_groups=32, num_channels=in_ch, eps=1e-6)
        self.act = act
        self.Conv_0 = ddpm_conv3x3(in_ch, out_ch)
        if temb_dim is not None:
            self.Dense_0 = nn.Linear(temb_dim, out_ch)
            self.Dense_0.weight.data = default_init()(self.Dense_0.weight.data.shape)
            nn.init.zeros_(self.Dense_0.bias)
        self.GroupNorm_1 = nn.GroupNorm(num_groups=32, num_channels=out_ch, eps=1e-6)
        self.Dropout_0 = nn.Dropout(dropout)
        self.Conv_1 = ddpm_conv3x3(out_ch, out_ch, init_scale=0.0)
        if in_ch != out_ch:
            if conv_shortcut:
                self.Conv_2 = ddpm_conv3x3(in_ch, out_ch)
            else:
                self.NIN_0 = NIN(in_ch, out_ch)
        self.out_ch = out_ch
        self.in_ch = in_ch
        self.conv_shortcut = conv_shortcut

    def forward(self, x, temb=None):
        B, C, H, W = x.shape
        out_ch = self.out_ch if self.out_ch else self.in_ch
        h = self.act(self.GroupNorm_0(x))
        h = self.Conv_0(h)
        if temb is not None:
            h += self.Dense_0(self.act(temb))[:, :, None, None]
        h = self.act(self.GroupNorm_1(h))
        h = self.Dropout_0(h)
        h = self.Conv_1(h)
        if C != out_ch:
            if self.conv_shortcut:
                x = self.Conv_2(x)
            else:
                x = self.NIN_0(x)
        return x + h


# --- score_sde_pytorch models/ddpm.py -------------------------------------------------------


class DDPM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.act = act = nn.SiLU()
        # score_sde registers the SMLD noise levels as a buffer (unused by VP models).
        sigmas = torch.exp(torch.linspace(math.log(50.0), math.log(0.01), 1000, dtype=torch.float64))
        self.register_buffer("sigmas", sigmas)
        self.nf = nf = c["nf"]
        ch_mult = c["ch_mult"]
        self.num_res_blocks = num_res_blocks = c["num_res_blocks"]
        self.attn_resolutions = attn_resolutions = c["attn_resolutions"]
        dropout = c["dropout"]
        resamp_with_conv = c["resamp_with_conv"]
        self.num_resolutions = num_resolutions = len(ch_mult)
        all_resolutions = [c["image_size"] // (2 ** i) for i in range(num_resolutions)]
        self.conditional = conditional = c["conditional"]

        def ResnetBlock(in_ch, out_ch=None):
            return ResnetBlockDDPM(act=act, in_ch=in_ch, out_ch=out_ch, temb_dim=4 * nf, dropout=dropout)

        modules = []
        if conditional:
            modules = [nn.Linear(nf, nf * 4)]
            modules[0].weight.data = default_init()(modules[0].weight.data.shape)
            nn.init.zeros_(modules[0].bias)
            modules.append(nn.Linear(nf * 4, nf * 4))
            modules[1].weight.data = default_init()(modules[1].weight.data.shape)
            nn.init.zeros_(modules[1].bias)

        self.centered = c["centered"]
        channels = c["channels"]

        modules.append(ddpm_conv3x3(channels, nf))
        hs_c = [nf]
        in_ch = nf
        for i_level in range(num_resolutions):
            for i_block in range(num_res_blocks):
                out_ch = nf * ch_mult[i_level]
                modules.append(ResnetBlock(in_ch=in_ch, out_ch=out_ch))
                in_ch = out_ch
                if all_resolutions[i_level] in attn_resolutions:
                    modules.append(AttnBlock(channels=in_ch))
                hs_c.append(in_ch)
            if i_level != num_resolutions - 1:
                modules.append(Downsample(channels=in_ch, with_conv=resamp_with_conv))
                hs_c.append(in_ch)

        in_ch = hs_c[-1]
        modules.append(ResnetBlock(in_ch=in_ch))
        modules.append(AttnBlock(channels=in_ch))
        modules.append(ResnetBlock(in_ch=in_ch))

        for i_level in reversed(range(num_resolutions)):
            for i_block in range(num_res_blocks + 1):
                out_ch = nf * ch_mult[i_level]
                modules.append(ResnetBlock(in_ch=in_ch + hs_c.pop(), out_ch=out_ch))
                in_ch = out_ch
            if all_resolutions[i_level] in attn_resolutions:
                modules.append(AttnBlock(channels=in_ch))
            if i_level != 0:
                modules.append(Upsample(channels=in_ch, with_conv=resamp_with_conv))

        assert not hs_c
        modules.append(nn.GroupNorm(num_channels=in_ch, num_groups=32, eps=1e-6))
        modules.append(ddpm_conv3x3(in_ch, channels, init_scale=0.0))
        self.all_modules = nn.ModuleList(modules)

    def forward(self, x, labels):
        modules = self.all_modules
        m_idx = 0
        if self.conditional:
            temb = get_timestep_embedding(labels, self.nf)
            temb = modules[m_idx](temb)
            m_idx += 1
            temb = modules[m_idx](self.act(temb))
            m_idx += 1
        else:
            temb = None
        h = x if self.centered else 2 * x - 1.0
        hs = [modules[m_idx](h)]
        m_idx += 1
        for i_level in range(self.num_resolutions):
            for i_block in range(self.num_res_blocks):
                h = modules[m_idx](hs[-1], temb)
                m_idx += 1
                if h.shape[-1] in self.attn_resolutions:
                    h = modules[m_idx](h)
                    m_idx += 1
                hs.append(h)
            if i_level != self.num_resolutions - 1:
                hs.append(modules[m_idx](hs[-1]))
                m_idx += 1
        h = hs[-1]
        h = modules[m_idx](h, temb)
        m_idx += 1
        h = modules[m_idx](h)
        m_idx += 1
        h = modules[m_idx](h, temb)
        m_idx += 1
        for i_level in reversed(range(self.num_resolutions)):
            for i_block in range(self.num_res_blocks + 1):
                h = modules[m_idx](torch.cat([h, hs.pop()], dim=1), temb)
                m_idx += 1
            if h.shape[-1] in self.attn_resolutions:
                h = modules[m_idx](h)
                m_idx += 1
            if i_level != 0:
                h = modules[m_idx](h)
                m_idx += 1
        assert not hs
        h = self.act(modules[m_idx](h))
        m_idx += 1
        h = modules[m_idx](h)
        m_idx += 1
        assert m_idx == len(modules)
        return h


# --- fixture --------------------------------------------------------------------------------


def randomise(model, gen):
    """Non-trivial values for every parameter (the zero-initialised ones included)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".GroupNorm" in name or (p.dim() == 1 and name.endswith("weight")):
                # GroupNorm scale and shift (the final GroupNorm is `all_modules.N.weight`).
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                # default_init(1): uniform with variance 1 / fan_avg.
                if p.dim() == 4:
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                    fan_out = p.shape[0] * p.shape[2] * p.shape[3]
                else:
                    fan_in, fan_out = p.shape[1], p.shape[0]
                bound = math.sqrt(3.0 / ((fan_in + fan_out) / 2))
                p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    model = DDPM(CONFIG).eval()
    randomise(model, gen)

    # All parameters live in one flat buffer and the EMA shadow parameters are views of the same
    # buffer shifted by one element: different values from the model's, yet `torch.save` stores
    # the buffer once (the fixture stays small, and the reader's storage offsets get exercised).
    params = list(model.parameters())
    flat = torch.cat([p.detach().flatten() for p in params] + [torch.randn(1, generator=gen)])
    shadow, off = [], 0
    for p in params:
        n = p.numel()
        p.data = flat[off:off + n].view(p.shape)
        shadow.append(flat[off + 1:off + 1 + n].view(p.shape))
        off += n
    ema_model = DDPM(CONFIG).eval()
    with torch.no_grad():
        for p, s in zip(ema_model.parameters(), shadow):
            p.copy_(s)

    b, c, s = 3, CONFIG["channels"], CONFIG["image_size"]
    x = torch.rand((b, c, s, s), generator=gen)
    t = torch.tensor([0.001, 0.37, 0.95], dtype=torch.float32)
    with torch.no_grad():
        labels = t * 999
        eps_model = model(x, labels)
        eps_ema = ema_model(x, labels)

    state = {
        "optimizer": {},
        "model": {"module." + k: v for k, v in model.state_dict().items()},
        "ema": {"decay": 0.9999, "num_updates": 1000, "shadow_params": shadow},
        "step": 1000,
    }
    os.makedirs(OUT, exist_ok=True)
    torch.save(state, os.path.join(OUT, "checkpoint.pth"))

    ref = {
        "config": CONFIG,
        "x_shape": list(x.shape),
        "x": [float(v) for v in x.flatten()],
        "t": [float(v) for v in t],
        "eps_model": [float(v) for v in eps_model.flatten()],
        "eps_ema": [float(v) for v in eps_ema.flatten()],
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params} parameters, {len(shadow)} tensors; |eps| max {eps_model.abs().max():.3f}, "
          f"model vs EMA max diff {(eps_model - eps_ema).abs().max():.3f}")


if __name__ == "__main__":
    main()
