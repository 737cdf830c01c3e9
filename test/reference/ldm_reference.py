"""PyTorch reference for Stable Diffusion 1.x, 2.x and SDXL checkpoints, for the tests of the ONNX converter.

The modules below are written from the original code, with its attribute names and nesting, so that
`module.state_dict()` has exactly the key names of a real single-file checkpoint. Each component is loaded
with `load_state_dict(strict=True)` from the keys under its prefix: a file with a wrong key name or shape fails.
Keys outside every component (model_ema.*, alphas_cumprod, betas, other DDPM buffers) and the buffers that
the code rebuilds (`*.position_ids`, `logit_scale`, `attn_mask`) are never loaded; they come back in
`unused_keys`.

Upstream sources (repository: path):
  Stability-AI/stablediffusion: ldm/modules/diffusionmodules/openaimodel.py (UNetModel), .../util.py
    (timestep_embedding, make_beta_schedule), ldm/modules/attention.py (SpatialTransformer),
    ldm/modules/diffusionmodules/model.py (VAE Encoder/Decoder), ldm/models/autoencoder.py (AutoencoderKL),
    ldm/modules/encoders/modules.py (FrozenOpenCLIPEmbedder: SD2 text), ldm/models/diffusion/ddpm.py
  Stability-AI/generative-models: sgm/modules/diffusionmodules/openaimodel.py (SDXL UNet, per-level
    transformer_depth), sgm/modules/attention.py, sgm/modules/encoders/modules.py (FrozenCLIPEmbedder,
    FrozenOpenCLIPEmbedder2, ConcatTimestepEmbedderND, GeneralConditioner)
  huggingface/transformers: src/transformers/models/clip/modeling_clip.py (CLIPTextModel)
  mlfoundations/open_clip: src/open_clip/transformer.py (TextTransformer, ResidualAttentionBlock), tokenizer.py
  crowsonkb/k-diffusion: k_diffusion/external.py (CompVisDenoiser, CompVisVDenoiser), k_diffusion/sampling.py
  AUTOMATIC1111/stable-diffusion-webui: modules/sd_hijack_clip.py, modules/sd_hijack_open_clip.py,
    modules/sd_models_xl.py, modules/sd_samplers_cfg_denoiser.py

Reads one JSON request on stdin, writes one JSON object on stdout. Float arrays are base64 of little-endian
float32, uint8 arrays base64 of raw bytes.
  {"checkpoint": path, "family": "sd1"|"sd2"|"sdxl", "prediction": "eps"|"v", "bpe": path,
   "config": {"unet": {...}, "vae": {...}, "text": [{...}, ...]}, "ops": [op, ...]}
  -> {"results": [one object per op], "unused_keys": [...], "torch": version}
Ops: text, unet, sdxl_vector, vae_encode, vae_decode, img2img, keys (see the op_* functions).
"""
import base64
import json
import math
import pathlib
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from clip_reference import Tokenizer  # noqa: E402

END_TOKEN = 49407
IGNORED_SUFFIXES = ("position_ids", "logit_scale", "attn_mask")
PREFIXES = {
    "sd1": {"unet": "model.diffusion_model.", "vae": "first_stage_model.", "text0": "cond_stage_model.transformer."},
    "sd2": {"unet": "model.diffusion_model.", "vae": "first_stage_model.", "text0": "cond_stage_model.model."},
    "sdxl": {"unet": "model.diffusion_model.", "vae": "first_stage_model.",
             "text0": "conditioner.embedders.0.transformer.", "text1": "conditioner.embedders.1.model."},
}
SCALE_FACTOR = {"sd1": 0.18215, "sd2": 0.18215, "sdxl": 0.13025}


# ---------------------------------------------------------------------------------------------------------
# safetensors and base64
# ---------------------------------------------------------------------------------------------------------

class SafeTensors:
    """A .safetensors file: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}},
    then the data. Tensors are decoded on demand, so a key of an odd dtype only matters if it is used."""

    def __init__(self, path):
        with open(path, "rb") as f:
            (length,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(length))
        header.pop("__metadata__", None)
        self.header = header
        self.data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + length)

    def keys(self):
        return list(self.header)

    def shape(self, key):
        return self.header[key]["shape"]

    def tensor(self, key):
        info = self.header[key]
        start, end = info["data_offsets"]
        raw = np.array(self.data[start:end])
        dtype = info["dtype"]
        if dtype == "F32":
            array = raw.view("<f4")
        elif dtype == "F16":
            array = raw.view("<f2").astype(np.float32)
        elif dtype == "BF16":
            array = (raw.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype == "I64":
            array = raw.view("<i8")
        else:
            raise ValueError(f"{key}: unsupported dtype {dtype}")
        return torch.from_numpy(array.reshape(info["shape"]).copy())


def decode_f32(text, shape):
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(shape).copy())


def encode_f32(tensor):
    return base64.b64encode(tensor.detach().contiguous().numpy().astype("<f4").tobytes()).decode()


# ---------------------------------------------------------------------------------------------------------
# UNet: Stability-AI/stablediffusion ldm/modules/diffusionmodules/openaimodel.py (UNetModel) for SD1/SD2,
# Stability-AI/generative-models sgm/modules/diffusionmodules/openaimodel.py (UNetModel) for SDXL.
# Both build the same tree; sgm adds per-level transformer_depth and a separate middle depth.
# ---------------------------------------------------------------------------------------------------------

def timestep_embedding(timesteps, dim, max_period=10000):
    """util.py timestep_embedding (both repos): freqs exp(-ln(max_period)·i/half), cos half first, then sin."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = timesteps[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def unet_norm(channels):
    """util.py normalization: GroupNorm32(32, channels), torch's default eps 1e-5."""
    return nn.GroupNorm(32, channels)


def transformer_norm(channels):
    """attention.py Normalize: GroupNorm(32, eps=1e-6), used by SpatialTransformer."""
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResBlock(nn.Module):
    """openaimodel.py ResBlock without scale-shift norm or up/down (as in every SD config). The Dropout only
    keeps upstream's index of the last conv (out_layers.3)."""

    def __init__(self, channels, emb_channels, out_channels):
        super().__init__()
        self.in_layers = nn.Sequential(unet_norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(unet_norm(out_channels), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x, emb):
        h = self.in_layers(x)
        h = h + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class Downsample(nn.Module):
    """openaimodel.py Downsample with use_conv: 3×3 conv, stride 2, padding 1 (key `op`)."""

    def __init__(self, channels):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    """openaimodel.py Upsample with use_conv: nearest ×2, then 3×3 conv."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class CrossAttention(nn.Module):
    """attention.py CrossAttention: bias-free q/k/v, softmax(q·kᵀ·d_head^-0.5) per head, to_out.0 linear."""

    def __init__(self, query_dim, context_dim, heads, dim_head):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim))

    def forward(self, x, context=None):
        context = x if context is None else context
        b = x.shape[0]

        def split(t):
            return t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)

        q, k, v = split(self.to_q(x)), split(self.to_k(context)), split(self.to_v(context))
        weights = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(b, x.shape[1], -1)
        return self.to_out(out)


class GEGLU(nn.Module):
    """attention.py GEGLU: proj to 2·inner, x·gelu(gate) with the exact (erf) gelu."""

    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    """attention.py FeedForward(glu=True, mult=4): net = [GEGLU, Dropout, Linear]."""

    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    """attention.py BasicTransformerBlock: self-attn, cross-attn, GEGLU feed-forward, each pre-LayerNorm
    (torch default eps 1e-5) with a residual."""

    def __init__(self, dim, heads, dim_head, context_dim):
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads, dim_head)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads, dim_head)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x, context):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    """attention.py SpatialTransformer. SD1: 1×1 conv proj_in/proj_out around the (h w) flattening; SD2/SDXL
    (use_linear): Linear after flattening. ldm builds proj_out as Linear(in_channels, inner) and sgm as
    Linear(inner, in_channels); both are square because inner = heads·dim_head = in_channels. Every block
    attends to the same context (sgm's forward; ldm only supports depth 1 with a single context)."""

    def __init__(self, channels, heads, dim_head, depth, context_dim, use_linear):
        super().__init__()
        inner = heads * dim_head
        self.use_linear = use_linear
        self.norm = transformer_norm(channels)
        self.proj_in = nn.Linear(channels, inner) if use_linear else nn.Conv2d(channels, inner, 1)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(inner, heads, dim_head, context_dim) for _ in range(depth)])
        self.proj_out = nn.Linear(inner, channels) if use_linear else nn.Conv2d(inner, channels, 1)

    def forward(self, x, context):
        b, c, h, w = x.shape
        x_in = x
        x = self.norm(x)
        if not self.use_linear:
            x = self.proj_in(x)
        x = x.permute(0, 2, 3, 1).reshape(b, h * w, -1)
        if self.use_linear:
            x = self.proj_in(x)
        for block in self.transformer_blocks:
            x = block(x, context)
        if self.use_linear:
            x = self.proj_out(x)
        x = x.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        if not self.use_linear:
            x = self.proj_out(x)
        return x + x_in


class TimestepEmbedSequential(nn.Sequential):
    """openaimodel.py TimestepEmbedSequential: ResBlocks take the embedding, SpatialTransformers the context."""

    def forward(self, x, emb, context):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    """openaimodel.py UNetModel (in/out 4 channels, conv resampling, spatial transformers).

    config: model_channels, channel_mult, num_res_blocks, attention_levels (level indices; upstream's
    attention_resolutions holds the downsample factors 2**level), transformer_depth (per level, used where the
    level has attention), transformer_depth_middle, num_heads or num_head_channels, context_dim,
    use_linear_in_transformer, adm_in_channels (SDXL: label_emb = num_classes "sequential")."""

    def __init__(self, config):
        super().__init__()
        mc = config["model_channels"]
        mult = config["channel_mult"]
        nrb = config["num_res_blocks"]
        attention_levels = set(config["attention_levels"])
        depth = config["transformer_depth"]
        context_dim = config["context_dim"]
        use_linear = bool(config.get("use_linear_in_transformer"))
        num_heads, head_channels = config.get("num_heads"), config.get("num_head_channels")
        self.model_channels = mc
        emb_dim = mc * 4

        def transformer(ch, d):
            if head_channels:
                heads, dim_head = ch // head_channels, head_channels
            else:
                heads, dim_head = num_heads, ch // num_heads
            return SpatialTransformer(ch, heads, dim_head, d, context_dim, use_linear)

        self.time_embed = nn.Sequential(nn.Linear(mc, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        adm = config.get("adm_in_channels")
        if adm:
            mlp = nn.Sequential(nn.Linear(adm, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
            self.label_emb = nn.Sequential(mlp)
        else:
            self.label_emb = None

        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(4, mc, 3, padding=1))])
        chans = [mc]
        ch = mc
        for level, m in enumerate(mult):
            for _ in range(nrb):
                layers = [ResBlock(ch, emb_dim, m * mc)]
                ch = m * mc
                if level in attention_levels:
                    layers.append(transformer(ch, depth[level]))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                chans.append(ch)
            if level != len(mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch)))
                chans.append(ch)

        self.middle_block = TimestepEmbedSequential(
            ResBlock(ch, emb_dim, ch), transformer(ch, config["transformer_depth_middle"]), ResBlock(ch, emb_dim, ch))

        self.output_blocks = nn.ModuleList()
        for level, m in list(enumerate(mult))[::-1]:
            for i in range(nrb + 1):
                layers = [ResBlock(ch + chans.pop(), emb_dim, m * mc)]
                ch = m * mc
                if level in attention_levels:
                    layers.append(transformer(ch, depth[level]))
                if level and i == nrb:
                    layers.append(Upsample(ch))
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(unet_norm(ch), nn.SiLU(), nn.Conv2d(mc, 4, 3, padding=1))

    def forward(self, x, timesteps, context, y=None):
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        if self.label_emb is not None:
            emb = emb + self.label_emb(y)
        hs = []
        h = x
        for module in self.input_blocks:
            h = module(h, emb, context)
            hs.append(h)
        h = self.middle_block(h, emb, context)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb, context)
        return self.out(h)


# ---------------------------------------------------------------------------------------------------------
# VAE: Stability-AI/stablediffusion ldm/modules/diffusionmodules/model.py (Encoder, Decoder) and
# ldm/models/autoencoder.py (AutoencoderKL: quant_conv, post_quant_conv). attn_resolutions is [] in every SD
# config, so the only attention is mid.attn_1. Channels in/out 3, double_z, embed_dim = z_channels.
# ---------------------------------------------------------------------------------------------------------

def vae_norm(channels):
    """model.py Normalize: GroupNorm(32, eps=1e-6)."""
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    """model.py ResnetBlock with temb_channels=0: norm1, swish, conv1, norm2, swish, conv2, 1×1 nin_shortcut."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.norm1 = vae_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = vae_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)
        else:
            self.nin_shortcut = None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class AttnBlock(nn.Module):
    """model.py AttnBlock: one head over the h·w positions, 1×1 conv q, k, v and proj_out, scale c^-0.5."""

    def __init__(self, channels):
        super().__init__()
        self.norm = vae_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        n = self.norm(x)
        q = self.q(n).reshape(b, c, h * w).transpose(1, 2)
        k = self.k(n).reshape(b, c, h * w)
        v = self.v(n).reshape(b, c, h * w)
        weights = torch.softmax(q @ k * c ** -0.5, dim=2)
        out = (v @ weights.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj_out(out)


class VaeDownsample(nn.Module):
    """model.py Downsample with_conv: pad (0,1,0,1) with zeros (right and bottom), 3×3 conv stride 2, no padding."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class VaeUpsample(nn.Module):
    """model.py Upsample with_conv: nearest ×2, 3×3 conv."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def vae_middle(channels):
    mid = nn.Module()
    mid.block_1 = ResnetBlock(channels, channels)
    mid.attn_1 = AttnBlock(channels)
    mid.block_2 = ResnetBlock(channels, channels)
    return mid


class Encoder(nn.Module):
    """model.py Encoder: conv_in, down[i].block[j] (+ down[i].downsample except at the last level), mid,
    norm_out, swish, conv_out to 2·z_channels (mean ‖ logvar)."""

    def __init__(self, ch, ch_mult, num_res_blocks, z_channels):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, padding=1)
        self.down = nn.ModuleList()
        block_in = ch
        for level, m in enumerate(ch_mult):
            down = nn.Module()
            down.block = nn.ModuleList()
            for _ in range(num_res_blocks):
                down.block.append(ResnetBlock(block_in, ch * m))
                block_in = ch * m
            if level != len(ch_mult) - 1:
                down.downsample = VaeDownsample(block_in)
            self.down.append(down)
        self.mid = vae_middle(block_in)
        self.norm_out = vae_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels, 3, padding=1)

    def forward(self, x):
        h = self.conv_in(x)
        for level, down in enumerate(self.down):
            for block in down.block:
                h = block(h)
            if level != len(self.down) - 1:
                h = down.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """model.py Decoder: conv_in, mid, then up[i] for i from the last level down to 0 (the module list is kept
    in level order, so up.{n-1} runs first), each num_res_blocks+1 blocks and an upsample except at level 0."""

    def __init__(self, ch, ch_mult, num_res_blocks, z_channels):
        super().__init__()
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1)
        self.mid = vae_middle(block_in)
        ups = []
        for level in reversed(range(len(ch_mult))):
            up = nn.Module()
            up.block = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                up.block.append(ResnetBlock(block_in, ch * ch_mult[level]))
                block_in = ch * ch_mult[level]
            if level != 0:
                up.upsample = VaeUpsample(block_in)
            ups.insert(0, up)
        self.up = nn.ModuleList(ups)
        self.norm_out = vae_norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 3, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for level in reversed(range(len(self.up))):
            for block in self.up[level].block:
                h = block(h)
            if level != 0:
                h = self.up[level].upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoencoderKL(nn.Module):
    """autoencoder.py AutoencoderKL: encode = quant_conv(encoder(x)) (the posterior's moments);
    decode = decoder(post_quant_conv(z))."""

    def __init__(self, config):
        super().__init__()
        ch, mult, nrb, zc = config["ch"], config["ch_mult"], config["num_res_blocks"], config["z_channels"]
        self.factor = 2 ** (len(mult) - 1)
        self.encoder = Encoder(ch, mult, nrb, zc)
        self.decoder = Decoder(ch, mult, nrb, zc)
        self.quant_conv = nn.Conv2d(2 * zc, 2 * zc, 1)
        self.post_quant_conv = nn.Conv2d(zc, zc, 1)

    def encode(self, x):
        return self.quant_conv(self.encoder(x))

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# ---------------------------------------------------------------------------------------------------------
# Text encoders. Both return every hidden state: [embeddings, after layer 1, ..., after layer L].
# ---------------------------------------------------------------------------------------------------------

def causal_mask(n):
    return torch.full((n, n), float("-inf")).triu(1)


class CLIPAttention(nn.Module):
    """modeling_clip.py CLIPAttention: q/k/v/out projections with bias, head_dim = width/heads."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask):
        b, n, w = x.shape

        def split(t):
            return t.reshape(b, n, self.heads, -1).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        weights = torch.softmax(q @ k.transpose(-1, -2) * (w // self.heads) ** -0.5 + mask, dim=-1)
        return self.out_proj((weights @ v).transpose(1, 2).reshape(b, n, w))


class CLIPMLP(nn.Module):
    """modeling_clip.py CLIPMLP with hidden_act "quick_gelu" (openai/clip-vit-large-patch14): x·σ(1.702x)."""

    def __init__(self, width, intermediate):
        super().__init__()
        self.fc1 = nn.Linear(width, intermediate)
        self.fc2 = nn.Linear(intermediate, width)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))


class CLIPEncoderLayer(nn.Module):
    """modeling_clip.py CLIPEncoderLayer: pre-LayerNorm (eps 1e-5) attention and MLP with residuals."""

    def __init__(self, width, heads, intermediate):
        super().__init__()
        self.self_attn = CLIPAttention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width, eps=1e-5)
        self.mlp = CLIPMLP(width, intermediate)
        self.layer_norm2 = nn.LayerNorm(width, eps=1e-5)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class CLIPTextTransformer(nn.Module):
    def __init__(self, config):
        super().__init__()
        width = config["width"]
        self.embeddings = nn.Module()
        self.embeddings.token_embedding = nn.Embedding(config["vocab_size"], width)
        self.embeddings.position_embedding = nn.Embedding(config["context_length"], width)
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList(
            [CLIPEncoderLayer(width, config["heads"], config["intermediate"]) for _ in range(config["layers"])])
        self.final_layer_norm = nn.LayerNorm(width, eps=1e-5)


class CLIPTextModel(nn.Module):
    """modeling_clip.py CLIPTextModel (keys text_model.*): token + position embeddings (positions 0..n-1; the
    checkpoint's position_ids buffer is never read), causal self-attention. hidden_states has L+1 entries;
    last_hidden_state = final_layer_norm(hidden_states[-1])."""

    def __init__(self, config):
        super().__init__()
        self.text_model = CLIPTextTransformer(config)

    def hidden_states(self, ids):
        tm = self.text_model
        x = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding(torch.arange(ids.shape[1]))
        mask = causal_mask(ids.shape[1])
        states = [x]
        for layer in tm.encoder.layers:
            x = layer(x, mask)
            states.append(x)
        return states


class ResidualAttentionBlock(nn.Module):
    """open_clip transformer.py ResidualAttentionBlock (the nn.MultiheadAttention version of 2022-2023 that SD2
    and SDXL load: attn.in_proj_weight/in_proj_bias/out_proj), ln_1/ln_2 eps 1e-5, mlp c_fc, exact GELU, c_proj."""

    def __init__(self, width, heads, intermediate):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, intermediate))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(intermediate, width))

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class OpenCLIPText(nn.Module):
    """The text half of open_clip's CLIP (model.py / transformer.py TextTransformer): token_embedding,
    positional_embedding [n, width], transformer.resblocks, ln_final, text_projection [width, projection]
    (a matrix multiplied on the right). Sequence-first inside the resblocks, as upstream."""

    def __init__(self, config):
        super().__init__()
        width = config["width"]
        self.token_embedding = nn.Embedding(config["vocab_size"], width)
        self.positional_embedding = nn.Parameter(torch.zeros(config["context_length"], width))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(
            [ResidualAttentionBlock(width, config["heads"], config["intermediate"]) for _ in range(config["layers"])])
        self.ln_final = nn.LayerNorm(width)
        if config.get("projection_dim"):
            self.text_projection = nn.Parameter(torch.zeros(width, config["projection_dim"]))
        else:
            self.text_projection = None

    def hidden_states(self, ids):
        x = (self.token_embedding(ids) + self.positional_embedding[: ids.shape[1]]).permute(1, 0, 2)
        mask = causal_mask(ids.shape[1])
        states = [x.permute(1, 0, 2)]
        for block in self.transformer.resblocks:
            x = block(x, mask)
            states.append(x.permute(1, 0, 2))
        return states

    def pooled(self, last, ids):
        """sgm FrozenOpenCLIPEmbedder2.pool: ln_final(last layer) at argmax(ids) (the end token) @ text_projection."""
        x = self.ln_final(last)
        return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ self.text_projection


def make_text_encoder(config):
    return CLIPTextModel(config) if config["kind"] == "clip" else OpenCLIPText(config)


# ---------------------------------------------------------------------------------------------------------
# Checkpoint: components built from the config, loaded strictly on first use.
# ---------------------------------------------------------------------------------------------------------

class Checkpoint:
    def __init__(self, request):
        self.file = SafeTensors(request["checkpoint"])
        self.family = request["family"]
        self.prediction = request["prediction"]
        self.config = request["config"]
        self.bpe = request.get("bpe")
        self.prefixes = PREFIXES[self.family]
        self._components = {}
        self._tokenizer = None

    def unused_keys(self):
        return sorted(k for k in self.file.keys()
                      if k.endswith(IGNORED_SUFFIXES) or not any(k.startswith(p) for p in self.prefixes.values()))

    def component(self, name):
        if name not in self._components:
            if name == "unet":
                module = UNetModel(self.config["unet"])
            elif name == "vae":
                module = AutoencoderKL(self.config["vae"])
            else:
                module = make_text_encoder(self.config["text"][int(name[4:])])
            prefix = self.prefixes[name]
            state = {k[len(prefix):]: self.file.tensor(k) for k in self.file.keys()
                     if k.startswith(prefix) and not k.endswith(IGNORED_SUFFIXES)}
            module.load_state_dict(state, strict=True)
            self._components[name] = module.eval()
        return self._components[name]

    def tokens(self, prompts, pad_with_zero):
        """clip_reference.Tokenizer gives 77 ids padded with the end token 49407 (HF CLIPTokenizer with
        padding="max_length", as SD1 and SDXL's CLIP-L). open_clip.tokenize pads with 0 instead; A1111
        (sd_hijack_clip process_tokens, id_pad = 0 in sd_hijack_open_clip) sets every id after the first end
        token to 0."""
        if self._tokenizer is None:
            self._tokenizer = Tokenizer(self.bpe)
        rows = []
        for prompt in prompts:
            ids = self._tokenizer.encode(prompt)
            if pad_with_zero:
                end = ids.index(END_TOKEN)
                ids = ids[: end + 1] + [0] * (len(ids) - end - 1)
            rows.append(ids)
        return torch.tensor(rows, dtype=torch.long)

    def encode_text(self, prompts, clip_skip=1, is_negative=None):
        """Returns (context [N,77,D], pooled [N,P] or None).
        sd1: A1111 sd_hijack_clip encode_with_transformers: final_layer_norm(hidden_states[-clip_skip])
             (clip_skip 1 is last_hidden_state).
        sd2: ldm FrozenOpenCLIPEmbedder(layer="penultimate"): runs all resblocks but the last, then ln_final.
        sdxl: sgm FrozenCLIPEmbedder(layer="hidden", layer_idx=11) = hidden_states[-2] of CLIP-L, no final
             norm; FrozenOpenCLIPEmbedder2(layer="penultimate", legacy=False) = output before the last
             resblock, no ln_final; concatenated on the last axis (GeneralConditioner, crossattn). Pooled from
             bigG. A1111 sd_models_xl.get_learned_conditioning zeroes both text outputs of an empty negative
             prompt (force_zero_embeddings=['txt'])."""
        is_negative = is_negative or [False] * len(prompts)
        if self.family == "sd1":
            model = self.component("text0")
            states = model.hidden_states(self.tokens(prompts, False))
            return model.text_model.final_layer_norm(states[-clip_skip]), None
        if self.family == "sd2":
            model = self.component("text0")
            states = model.hidden_states(self.tokens(prompts, True))
            return model.ln_final(states[-2]), None
        clip_l, big_g = self.component("text0"), self.component("text1")
        ids_g = self.tokens(prompts, True)
        states_l = clip_l.hidden_states(self.tokens(prompts, False))
        states_g = big_g.hidden_states(ids_g)
        context = torch.cat([states_l[-2], states_g[-2]], dim=-1)
        pooled = big_g.pooled(states_g[-1], ids_g)
        zero = torch.tensor([neg and p == "" for p, neg in zip(prompts, is_negative)])
        context = torch.where(zero[:, None, None], torch.zeros_like(context), context)
        pooled = torch.where(zero[:, None], torch.zeros_like(pooled), pooled)
        return context, pooled


def sdxl_vector(pooled, original_size, crop, target_size):
    """sgm GeneralConditioner "vector": bigG's pooled output, then ConcatTimestepEmbedderND(256) of
    original_size_as_tuple (h, w), crop_coords_top_left (top, left), target_size_as_tuple (h, w), in the
    embedders' order of sd_xl_base.yaml; each number is a 256-wide timestep_embedding (cos half first)."""
    sizes = torch.tensor([*original_size, *crop, *target_size], dtype=torch.float32)
    emb = timestep_embedding(sizes, 256).reshape(1, -1).expand(pooled.shape[0], -1)
    return torch.cat([pooled, emb], dim=1)


# ---------------------------------------------------------------------------------------------------------
# Denoiser and sampler: crowsonkb/k-diffusion external.py, sampling.py; A1111 CFGDenoiser.
# ---------------------------------------------------------------------------------------------------------

def schedule_sigmas(file):
    """k-diffusion DiscreteEpsDDPMDenoiser: sigmas = √((1−ᾱ)/ᾱ) in float32 from the model's alphas_cumprod.
    That is the file's `alphas_cumprod` when present; otherwise ldm ddpm.py register_schedule: betas =
    linspace(√0.00085, √0.012, 1000, float64)², ᾱ = cumprod(1−β) in float64, stored as float32 (A1111 builds
    SDXL's the same way from sgm LegacyDDPMDiscretization)."""
    if "alphas_cumprod" in file.header:
        alphas_cumprod = file.tensor("alphas_cumprod").float()
    else:
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0).float()
    return ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5


def sigma_to_t(sigma, log_sigmas):
    """k-diffusion DiscreteSchedule.sigma_to_t with quantize=False: linear interpolation in log sigma."""
    log_sigma = sigma.log()
    dists = log_sigma - log_sigmas[:, None]
    low_idx = dists.ge(0).cumsum(dim=0).argmax(dim=0).clamp(max=log_sigmas.shape[0] - 2)
    high_idx = low_idx + 1
    low, high = log_sigmas[low_idx], log_sigmas[high_idx]
    w = ((low - log_sigma) / (low - high)).clamp(0, 1)
    return (1 - w) * low_idx + w * high_idx


def denoise(unet, prediction, log_sigmas, x, sigma, context, y):
    """CompVisDenoiser (eps): x + eps·(−σ); CompVisVDenoiser (v): v·c_out + x·c_skip with c_skip = 1/(σ²+1),
    c_out = −σ/√(σ²+1); the UNet sees x·c_in, c_in = 1/√(σ²+1), at t = sigma_to_t(σ)."""
    s = sigma[:, None, None, None]
    c_in = 1 / (s ** 2 + 1) ** 0.5
    out = unet(x * c_in, sigma_to_t(sigma, log_sigmas), context, y)
    if prediction == "eps":
        return x + out * -s
    return out * (-s / (s ** 2 + 1) ** 0.5) + x / (s ** 2 + 1)


def sample_euler_cfg(unet, prediction, log_sigmas, x, sigmas, context, y, cfg_scale):
    """k-diffusion sample_euler with s_churn = 0 (its per-step randn_like is unused then), the model being
    A1111's CFGDenoiser: one batch of [uncond, cond], denoised = uncond + cfg·(cond − uncond)."""
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i].reshape(1).expand(2)
        both = denoise(unet, prediction, log_sigmas, torch.cat([x, x]), sigma, context, y)
        denoised = both[:1] + cfg_scale * (both[1:] - both[:1])
        d = (x - denoised) / sigmas[i]
        x = x + d * (sigmas[i + 1] - sigmas[i])
    return x


# ---------------------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------------------

def op_text(ckpt, op):
    """clip_skip counts for sd1 only; is_negative only matters for sdxl's empty prompts."""
    context, pooled = ckpt.encode_text(op["prompts"], op.get("clip_skip", 1), op.get("is_negative"))
    return {"context": encode_f32(context), "pooled": None if pooled is None else encode_f32(pooled)}


def op_unet(ckpt, op):
    x = decode_f32(op["x"], op["shape"])
    context = decode_f32(op["context"], op["context_shape"])
    y = decode_f32(op["y"], op["y_shape"]) if op.get("y") is not None else None
    t = torch.tensor(op["timesteps"], dtype=torch.float32)
    return {"output": encode_f32(ckpt.component("unet")(x, t, context, y))}


def op_sdxl_vector(ckpt, op):
    pooled = decode_f32(op["pooled"], (-1, ckpt.config["text"][-1]["projection_dim"]))
    y = sdxl_vector(pooled, op["original_size"], op["crop"], op["target_size"])
    return {"y": encode_f32(y)}


def op_vae_encode(ckpt, op):
    return {"moments": encode_f32(ckpt.component("vae").encode(decode_f32(op["image"], op["shape"])))}


def op_vae_decode(ckpt, op):
    return {"image": encode_f32(ckpt.component("vae").decode(decode_f32(op["latent"], op["shape"])))}


def op_img2img(ckpt, op):
    """A1111 img2img with a latent upscale and a deterministic encode (the posterior's mean where A1111 samples).
    The latent is the image size over the VAE's factor 2**(len(ch_mult)-1), 8 for every real VAE. Pixels are
    rounded (A1111 truncates with astype(uint8))."""
    vae, unet = ckpt.component("vae"), ckpt.component("unet")
    scale = SCALE_FACTOR[ckpt.family]
    pixels = np.frombuffer(base64.b64decode(op["image"]), dtype=np.uint8)
    pixels = pixels.reshape(op["image_height"], op["image_width"], 3).astype(np.float32)
    image = torch.from_numpy(pixels / 255.0 * 2 - 1).permute(2, 0, 1)[None].float()
    z = vae.encode(image).chunk(2, dim=1)[0] * scale
    size = (op["height"] // vae.factor, op["width"] // vae.factor)
    if op["method"] == "bilinear":
        z = F.interpolate(z, size=size, mode="bilinear", align_corners=False, antialias=False)
    else:
        z = F.interpolate(z, size=size, mode=op["method"])

    torch.manual_seed(op["seed"])
    noise = torch.randn(z.shape)
    sigmas = torch.tensor(op["sigmas"], dtype=torch.float32)
    x = z + noise * sigmas[0]

    context, pooled = ckpt.encode_text([op["negative_prompt"], op["prompt"]], op.get("clip_skip", 1), [True, False])
    y = None
    if ckpt.family == "sdxl":
        hw = [op["height"], op["width"]]
        y = sdxl_vector(pooled, hw, [0, 0], hw)
    log_sigmas = schedule_sigmas(ckpt.file).log()
    x = sample_euler_cfg(unet, ckpt.prediction, log_sigmas, x, sigmas, context, y, op["cfg_scale"])

    decoded = vae.decode(x / scale)
    rgb = torch.round(torch.clamp((decoded + 1) / 2, 0, 1) * 255).to(torch.uint8)[0].permute(1, 2, 0)
    return {"image": base64.b64encode(rgb.contiguous().numpy().tobytes()).decode()}


def op_keys(ckpt, op):
    return {"keys": {k: ckpt.file.shape(k) for k in ckpt.file.keys()}}


OPS = {"text": op_text, "unet": op_unet, "sdxl_vector": op_sdxl_vector, "vae_encode": op_vae_encode,
       "vae_decode": op_vae_decode, "img2img": op_img2img, "keys": op_keys}


def main():
    torch.set_num_threads(2)
    request = json.load(sys.stdin)
    ckpt = Checkpoint(request)
    with torch.no_grad():
        results = [OPS[op["op"]](ckpt, op) for op in request["ops"]]
    json.dump({"results": results, "unused_keys": ckpt.unused_keys(), "torch": torch.__version__}, sys.stdout)


if __name__ == "__main__":
    main()
