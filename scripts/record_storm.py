"""Record STORM's own outputs on fixed inputs, for the golden test of
somnium's STORM world model (src/storm/golden_tests.rs).

STORM is not on PyPI; this runs its `sub_models` package from a checkout
of weipu-zhang/STORM on random weights (every parameter, LayerNorm scales
and shifts included, drawn from a seeded generator, so that a misplaced
norm or a transposed weight shows) and writes tests/data/storm.json:

- the distribution head (`DistHead`): posterior and prior log-probabilities
  after the 1% unimix, from given embeddings and transformer outputs;
- the transformer with its action mixer (`StochasticTransformerKVCache`):
  its outputs over whole sequences under the causal mask, and the same
  outputs computed token by token through its key-value cache;
- the reward and termination heads (`RewardDecoder`,
  `TerminationDecoder`) on the transformer's outputs;
- the losses `WorldModel.update` assembles from them: the symlog twohot
  reward loss, the termination cross-entropy and the dynamics KL with its
  free nat (`CategoricalKLDivLossWithFreeBits`), clipped and unclipped;
- the BatchNorm image encoder and decoder (`EncoderBN`, `DecoderBN`): their
  outputs while training (batch statistics), the running averages that
  pass leaves, and their outputs at inference (`eval()`).

The parameters are written in the order somnium's modules visit them,
weights transposed to `[in, out]`. Requirements (CPU is enough):

    python3 -m venv /tmp/storm-ref
    /tmp/storm-ref/bin/pip install torch einops numpy tensorboardX yacs
    git clone https://github.com/weipu-zhang/STORM /tmp/STORM
    /tmp/storm-ref/bin/python scripts/record_storm.py /tmp/STORM
"""

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

root = Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root))
from sub_models.attention_blocks import get_subsequent_mask_with_batch_length  # noqa: E402
from sub_models.functions_losses import SymLogTwoHotLoss  # noqa: E402
from sub_models.transformer_model import StochasticTransformerKVCache  # noqa: E402
from sub_models.world_models import (  # noqa: E402
    CategoricalKLDivLossWithFreeBits,
    DecoderBN,
    DistHead,
    EncoderBN,
    RewardDecoder,
    TerminationDecoder,
)

# Sizes: 4 x 4 latents (STORM's unimix divides by the number of
# categoricals, which equals the classes only for square latents, as
# STORM's 32 x 32), width 8 in 2 heads, 2 blocks, feed-forward 2 x width
# (STORM's), 8 positions, 3 actions, embeddings of 6, batch 2 x 5 steps.
STOCH, WIDTH, HEADS, LAYERS, MAX_LEN, ACTIONS, EMBED = 4, 8, 2, 2, 8, 3, 6
B, T = 2, 5
LATENT = STOCH * STOCH

torch.manual_seed(7)
dist_head = DistHead(EMBED, WIDTH, STOCH)
transformer = StochasticTransformerKVCache(
    stoch_dim=LATENT, action_dim=ACTIONS, feat_dim=WIDTH, num_layers=LAYERS,
    num_heads=HEADS, max_length=MAX_LEN, dropout=0.0)
reward_head = RewardDecoder(num_classes=255, embedding_size=EMBED,
                            transformer_hidden_dim=WIDTH)
termination_head = TerminationDecoder(embedding_size=EMBED,
                                      transformer_hidden_dim=WIDTH)
modules = [dist_head, transformer, reward_head, termination_head]
with torch.no_grad():
    for module in modules:
        module.eval()
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        # LayerNorm scales near 1, so the normalised values stay in range.
        for m in module.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.add_(1.0)


def linear(layer, bias=True):
    """A torch Linear as somnium's [in, out] weight (and bias)."""
    out = [layer.weight.T]
    if bias:
        out.append(layer.bias)
    return out


def norm(layer):
    return [layer.weight, layer.bias]


stem = transformer.stem
params = {
    # StormDynamics: posterior, action mixer, transformer, prior.
    "dynamics": linear(dist_head.post_head)
    + linear(stem[0], bias=False) + norm(stem[1])
    + linear(stem[3], bias=False) + norm(stem[4])
    + [transformer.position_encoding.pos_emb.weight]
    + norm(transformer.layer_norm)
    + [t for block in transformer.layer_stack for t in (
        linear(block.slf_attn.w_qs, bias=False)
        + linear(block.slf_attn.w_ks, bias=False)
        + linear(block.slf_attn.w_vs, bias=False)
        + linear(block.slf_attn.fc, bias=False)
        + norm(block.slf_attn.layer_norm)
        + linear(block.pos_ffn.w_1) + linear(block.pos_ffn.w_2)
        + norm(block.pos_ffn.layer_norm))]
    + linear(dist_head.prior_head),
    "reward_head": linear(reward_head.backbone[0], bias=False)
    + norm(reward_head.backbone[1])
    + linear(reward_head.backbone[3], bias=False)
    + norm(reward_head.backbone[4]) + linear(reward_head.head),
    "termination_head": linear(termination_head.backbone[0], bias=False)
    + norm(termination_head.backbone[1])
    + linear(termination_head.backbone[3], bias=False)
    + norm(termination_head.backbone[4]) + linear(termination_head.head[0]),
}

generator = torch.Generator().manual_seed(11)
embeddings = torch.randn(B, T, EMBED, generator=generator)
classes = torch.randint(0, STOCH, (B, T, STOCH), generator=generator)
samples = F.one_hot(classes, STOCH).float().reshape(B, T, LATENT)
actions = torch.randint(0, ACTIONS, (B, T), generator=generator)
rewards = torch.tensor([[0.0, 1.0, -2.5, 30.0, 0.3], [-0.7, 0.0, 5.0, 1.0, -100.0]])
terminations = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 1.0]])

with torch.no_grad():
    posterior = dist_head.forward_post(embeddings)
    mask = get_subsequent_mask_with_batch_length(T, embeddings.device)
    hidden = transformer(samples, actions, mask)
    prior = dist_head.forward_prior(hidden)
    reward_logits = reward_head(hidden)
    termination_logits = termination_head(hidden)

    # The reference's own cached path, one token at a time (its
    # `reset_kv_cache_list` puts the cache on CUDA; the same empty cache
    # on the CPU here).
    transformer.kv_cache_list = [torch.zeros(B, 0, WIDTH) for _ in range(LAYERS)]
    cached = torch.cat([
        transformer.forward_with_kv_cache(samples[:, t:t + 1], actions[:, t:t + 1])
        for t in range(T)], 1)

    reward_loss = SymLogTwoHotLoss(255, -20, 20)(reward_logits, rewards)
    termination_loss = F.binary_cross_entropy_with_logits(
        termination_logits, terminations)
    kl = CategoricalKLDivLossWithFreeBits(free_bits=1)
    dynamics_loss, real_kl = kl(posterior[:, 1:], prior[:, :-1])

recording = {
    "sizes": {"stoch": STOCH, "classes": STOCH, "width": WIDTH, "heads": HEADS,
              "layers": LAYERS, "feed_forward": 2 * WIDTH, "max_length": MAX_LEN,
              "actions": ACTIONS, "embed": EMBED, "batch": B, "length": T},
    "params": {
        key: [{"name": f"{key}.{i}", "shape": list(p.shape), "values": p.tolist()}
              for i, p in enumerate(tensors)]
        for key, tensors in params.items()},
    "embeddings": embeddings.tolist(),
    "samples": samples.tolist(),
    "actions": actions.tolist(),
    "rewards": rewards.tolist(),
    "terminations": terminations.tolist(),
    "posterior_log_probs": posterior.tolist(),
    "hidden": hidden.tolist(),
    "hidden_cached": cached.tolist(),
    "prior_log_probs": prior.tolist(),
    "reward_logits": reward_logits.tolist(),
    "termination_logits": termination_logits.tolist(),
    "reward_loss": reward_loss.item(),
    "termination_loss": termination_loss.item(),
    "dynamics_loss": dynamics_loss.item(),
    "real_kl": real_kl.item(),
}

# The image encoder and decoder (`EncoderBN`, `DecoderBN`), small: 8 x 8
# RGB frames, base depth 4, down to 2 x 2. The reference counts its
# stages from 64 x 64 (`feature_width = 64 // 2`), so its final width 16
# here gives the two stages an 8 x 8 frame takes to 2 x 2.
FRAMES, SIDE, DEPTH = 4, 8, 4
torch.manual_seed(13)
encoder = EncoderBN(in_channels=3, stem_channels=DEPTH, final_feature_width=16)
decoder = DecoderBN(stoch_dim=LATENT, last_channels=2 * DEPTH, original_in_channels=3,
                    stem_channels=DEPTH, final_feature_width=2)
norms = lambda m: [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]
with torch.no_grad():
    for module in (encoder, decoder):
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        for bn in norms(module):
            bn.weight.add_(1.0)
convs = lambda m, kind: [x for x in m.modules() if isinstance(x, kind)]
enc_convs, dec_convs = convs(encoder, torch.nn.Conv2d), convs(decoder, torch.nn.ConvTranspose2d)


def batch_norm(bn):
    """Scale, shift and (copies of) the running mean and variance."""
    return [bn.weight, bn.bias, bn.running_mean.clone(), bn.running_var.clone()]


def cnn_params():
    return {
        # BatchNormEncoder: every convolution's weight, then every norm.
        "encoder": [c.weight for c in enc_convs]
        + [t for bn in norms(encoder) for t in batch_norm(bn)],
        # BatchNormDecoder: input layer and its norm, the transposed
        # convolutions (the last with its bias), the other norms.
        "decoder": linear(decoder.backbone[0], bias=False) + batch_norm(norms(decoder)[0])
        + [dec_convs[0].weight, dec_convs[1].weight, dec_convs[1].bias]
        + [t for bn in norms(decoder)[1:] for t in batch_norm(bn)],
    }


initial_params = cnn_params()
images = torch.rand(FRAMES, SIDE, SIDE, 3, generator=generator)
later_images = torch.rand(FRAMES, SIDE, SIDE, 3, generator=generator)
latents = F.one_hot(torch.randint(0, STOCH, (FRAMES, STOCH), generator=generator),
                    STOCH).float().reshape(1, FRAMES, LATENT)
nchw = lambda x: x.permute(0, 3, 1, 2).unsqueeze(0)  # [1, N, C, H, W]
nhwc = lambda x: x.squeeze(0).permute(0, 2, 3, 1)
with torch.no_grad():
    # Training: batch statistics; the running averages move once.
    encoder.train(), decoder.train()
    features_train = encoder(nchw(images)).squeeze(0)
    frames_train = nhwc(decoder(latents))
    trained_params = cnn_params()
    # Inference: the running averages.
    encoder.eval(), decoder.eval()
    features_eval = encoder(nchw(later_images)).squeeze(0)
    frames_eval = nhwc(decoder(latents))
recording["cnn"] = {
    "frames": FRAMES, "side": SIDE, "depth": DEPTH,
    # The parameters as built, and after the training pass moved the
    # running averages (for the inference check).
    "params": {key: [{"name": f"{key}.{i}", "shape": list(p.shape), "values": p.tolist()}
                     for i, p in enumerate(tensors)] for key, tensors in initial_params.items()},
    "params_trained": {
        key: [{"name": f"{key}.{i}", "shape": list(p.shape), "values": p.tolist()}
              for i, p in enumerate(tensors)] for key, tensors in trained_params.items()},
    "images": images.tolist(),
    "later_images": later_images.tolist(),
    "latents": latents.squeeze(0).tolist(),
    "features_train": features_train.tolist(),
    "frames_train": frames_train.tolist(),
    "features_eval": features_eval.tolist(),
    "frames_eval": frames_eval.tolist(),
}

out = Path(__file__).resolve().parent.parent / "tests" / "data" / "storm.json"


def rounded(x):
    """Floats to 8 significant digits (a third of the file's size)."""
    if isinstance(x, float):
        return float(f"{x:.8g}")
    if isinstance(x, list):
        return [rounded(v) for v in x]
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    return x


out.write_text(json.dumps(rounded(recording)))
print(f"wrote {out}: KL {real_kl.item():.4f} (clipped {dynamics_loss.item():.4f}), "
      f"reward loss {reward_loss.item():.4f}, termination loss {termination_loss.item():.4f}, "
      f"cached vs whole {float((cached - hidden).abs().max()):.2e}")
