#!/usr/bin/python3
"""Write the model fixtures under tests/data/models/ (run by hand).

Each fixture is a small CS336 TransformerLM with random weights from a fixed
seed, plus reference outputs computed here by an independent PyTorch
implementation of the CS336 model (in float64, from the stored weights):

  NAME/config.json        CS336 model_config.json keys
  NAME/model.safetensors  the weights (F32, or BF16 for the bf16 fixture)
  NAME/ref.json           {"tokens": [...], "nll": mean next-token NLL of
                          tokens, "prompt": [...], "greedy": [...] (argmax
                          continuation of prompt, full forward each step)}
  NAME/ref-logits.bin     float32 little-endian logits [len(tokens)][vocab]
                          (pt/ also has ref-logits-bf16.bin and nll_bf16:
                          the same for the weights rounded to bfloat16)

tiny/ is also a complete model directory (byte-level vocab.json and
merges.txt without merges) that the end-to-end tests use, and
tiny/eval-ref.json holds the windowed `lmsh eval` reference for
tests/data/models/eval.txt.  pt/ holds one fixture in the .pt forms that
CS336 training produces (raw state dict, {"model","optimizer","iteration"},
"_orig_mod." keys, bfloat16 storages, tensors that are views with a storage
offset) with model_config.json.

One fixture per CS336 variant, each a model directory: nonorm
(remove_rmsnorm, no ln_final either), nonorm-final (remove_rmsnorm with
ln_final kept), postnorm, nope (remove_rope), silu (ffn_type silu, no w3),
cs336-2024 (learned position embeddings, GELU, no RoPE).  cs336-2024-real
holds only ref.json and ref-logits.bin for the real spring-2024 test
checkpoint in ../shared/data/cs336-2024-checkpoint (num_heads 2, as in the
course's tests), which is read from there and not copied.

Usage: /usr/bin/python3 tools/gen-model-fixtures.py [OUTDIR]
(OUTDIR defaults to tests/data/models next to this script.)
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else \
    os.path.join(HERE, "..", "tests", "data", "models")


# --- the CS336 reference model (float64) -------------------------------------

def rmsnorm(x, g, eps=1e-5):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g


def rope(x, theta, pos):
    # x: [..., T, d_k]; rotate interleaved pairs (x[2j], x[2j+1]) by
    # pos * theta^(-2j/d_k).
    d_k = x.shape[-1]
    j = torch.arange(d_k // 2, dtype=torch.float64)
    inv = theta ** (-2.0 * j / d_k)
    ang = pos[:, None].double() * inv[None, :]
    c, s = torch.cos(ang), torch.sin(ang)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def norm(w, name, x):
    # A norm whose weight the variant lacks is the identity.
    return rmsnorm(x, w[name]) if name in w else x


def forward(w, cfg, ids):
    # The CS336 variants: remove_rmsnorm (no ln weights), use_post_norm,
    # remove_rope, ffn_type swiglu/silu/gelu, and the 2024 layout (learned
    # position_embeddings, which also mean no RoPE unless stated).
    T = len(ids)
    H = cfg["num_heads"]
    D = cfg["d_model"]
    dk = D // H
    pos = torch.arange(T)
    post = cfg.get("use_post_norm", False)
    learned = "position_embeddings.weight" in w
    use_rope = not cfg.get("remove_rope", learned)
    ffn = cfg.get("ffn_type") or "swiglu"
    x = w["token_embeddings.weight"][torch.tensor(ids)]
    if learned:
        x = x + w["position_embeddings.weight"][:T]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["num_layers"]):
        p = "layers.%d." % l
        h = x if post else norm(w, p + "ln1.weight", x)
        q = (h @ w[p + "attn.q_proj.weight"].T).view(T, H, dk).transpose(0, 1)
        k = (h @ w[p + "attn.k_proj.weight"].T).view(T, H, dk).transpose(0, 1)
        v = (h @ w[p + "attn.v_proj.weight"].T).view(T, H, dk).transpose(0, 1)
        if use_rope:
            q = rope(q, cfg["rope_theta"], pos)
            k = rope(k, cfg["rope_theta"], pos)
        s = q @ k.transpose(-1, -2) / math.sqrt(dk)
        s = s.masked_fill(~mask, float("-inf"))
        a = torch.softmax(s, -1) @ v
        a = a.transpose(0, 1).reshape(T, D)
        x = x + a @ w[p + "attn.output_proj.weight"].T
        if post:
            x = norm(w, p + "ln1.weight", x)
        h = x if post else norm(w, p + "ln2.weight", x)
        g = h @ w[p + "ffn.w1.weight"].T
        if ffn == "swiglu":
            g = torch.nn.functional.silu(g) * (h @ w[p + "ffn.w3.weight"].T)
        elif ffn == "silu":
            g = torch.nn.functional.silu(g)
        else:
            g = torch.nn.functional.gelu(g)     # exact (erf)
        x = x + g @ w[p + "ffn.w2.weight"].T
        if post:
            x = norm(w, p + "ln2.weight", x)
    x = norm(w, "ln_final.weight", x)
    return x @ w["lm_head.weight"].T


def mean_nll(logits, ids):
    lp = torch.log_softmax(logits[:-1], -1)
    t = torch.tensor(ids[1:])
    return float(-lp[torch.arange(len(t)), t].mean())


def greedy(w, cfg, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        lg = forward(w, cfg, ids[-cfg["context_length"]:])[-1]
        top = torch.topk(lg, 2).values
        # A near tie would make the fixture depend on rounding.
        assert float(top[0] - top[1]) > 1e-3, "greedy near-tie; pick a seed"
        ids.append(int(lg.argmax()))
    return ids[len(prompt):]


# --- weights -----------------------------------------------------------------

def tensor_names(cfg, learned=False, final=True):
    # learned: 2024 position embeddings; final: ln_final without RMSNorm.
    norms = not cfg.get("remove_rmsnorm", False)
    gated = (cfg.get("ffn_type") or "swiglu") == "swiglu"
    names = ["token_embeddings.weight"]
    if learned:
        names.append("position_embeddings.weight")
    for l in range(cfg["num_layers"]):
        p = "layers.%d." % l
        names += [p + "attn.q_proj.weight", p + "attn.k_proj.weight",
                  p + "attn.v_proj.weight", p + "attn.output_proj.weight"]
        names += [p + "ln1.weight"] if norms else []
        names += [p + "ffn.w1.weight", p + "ffn.w2.weight"]
        names += [p + "ffn.w3.weight"] if gated else []
        names += [p + "ln2.weight"] if norms else []
    return names + (["ln_final.weight"] if norms or final else []) + \
        ["lm_head.weight"]


def shape_of(cfg, name):
    V, D, F = cfg["vocab_size"], cfg["d_model"], cfg["d_ff"]
    if name in ("token_embeddings.weight", "lm_head.weight"):
        return (V, D)
    if name == "position_embeddings.weight":
        return (cfg["context_length"], D)
    if name.endswith("ln1.weight") or name.endswith("ln2.weight") or \
            name == "ln_final.weight":
        return (D,)
    if name.endswith("w2.weight"):
        return (D, F)
    if ".ffn." in name:
        return (F, D)
    return (D, D)


def random_weights(cfg, seed, **layout):
    gen = torch.Generator().manual_seed(seed)
    w = {}
    for name in tensor_names(cfg, **layout):
        shp = shape_of(cfg, name)
        r = torch.randn(shp, generator=gen, dtype=torch.float32)
        if len(shp) == 1:
            t = 1.0 + 0.2 * r           # gains near 1, not all equal
        elif name == "token_embeddings.weight":
            t = r
        elif name == "position_embeddings.weight":
            t = 0.5 * r
        elif name == "lm_head.weight":
            t = r * (3.0 / math.sqrt(cfg["d_model"]))   # peaky logits
        else:
            t = r * math.sqrt(2.0 / (shp[0] + shp[1]))
        w[name] = t.contiguous()
    return w


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def write_safetensors(path, w, dtype="F32"):
    header = {}
    blobs = []
    off = 0
    for name, t in w.items():
        if dtype == "BF16":
            b = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + \
        list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# --- fixtures ----------------------------------------------------------------

def write_fixture(name, cfg, seed, dtype="F32", tok_len=None, prompt_len=8,
                  n_greedy=12, **layout):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    w = random_weights(cfg, seed, **layout)
    if dtype == "BF16":
        w = {k: bf16_round(v) for k, v in w.items()}
    write_safetensors(os.path.join(d, "model.safetensors"), w, dtype)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    w64 = {k: v.double() for k, v in w.items()}
    gen = torch.Generator().manual_seed(seed + 1)
    T = tok_len or cfg["context_length"]
    ids = torch.randint(0, cfg["vocab_size"], (T,), generator=gen).tolist()
    lg = forward(w64, cfg, ids)
    prompt = ids[:prompt_len]
    ref = {"tokens": ids, "nll": mean_nll(lg, ids), "prompt": prompt,
           "greedy": greedy(w64, cfg, prompt, n_greedy)}
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")
    lg.float().numpy().astype("<f4").tofile(os.path.join(d, "ref-logits.bin"))
    return w, w64


def write_tokenizer(d):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    vocab["<|endoftext|>"] = 256
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(d, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")


def eval_ref(w64, cfg, data):
    # lmsh eval's windows: input ids[s:s+ctx], targets ids[s+1:s+ctx+1] for
    # s = 0, ctx, 2ctx, ...: every id but the first is predicted once.
    ids = list(data)        # byte-level vocab without merges: id = byte
    ctx = cfg["context_length"]
    total = 0.0
    n = 0
    for s in range(0, len(ids) - 1, ctx):
        win = ids[s:s + ctx + 1]
        lg = forward(w64, cfg, win[:-1])
        lp = torch.log_softmax(lg, -1)
        t = torch.tensor(win[1:])
        total += float(-lp[torch.arange(len(t)), t].sum())
        n += len(t)
    return {"n_tokens": n, "n_bytes": len(data), "total_nats": total,
            "mean_nll": total / n, "bits_per_byte":
            total / math.log(2) / len(data), "perplexity": math.exp(total / n)}


def write_pt_forms(cfg, w):
    d = os.path.join(OUT, "pt")
    sd = dict(w)
    # q, k and v as views of one storage: exercises storage offsets.
    for l in range(cfg["num_layers"]):
        p = "layers.%d.attn." % l
        qkv = torch.cat([sd[p + "q_proj.weight"], sd[p + "k_proj.weight"],
                         sd[p + "v_proj.weight"]], 0)
        D = cfg["d_model"]
        sd[p + "q_proj.weight"] = qkv[0:D]
        sd[p + "k_proj.weight"] = qkv[D:2 * D]
        sd[p + "v_proj.weight"] = qkv[2 * D:3 * D]
    from collections import OrderedDict
    raw = OrderedDict((k, sd[k]) for k in tensor_names(cfg))
    torch.save(raw, os.path.join(d, "raw.pt"))
    params = [torch.nn.Parameter(v.clone()) for v in w.values()]
    opt = torch.optim.AdamW(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    opt.step()
    compiled = OrderedDict(("_orig_mod." + k, v) for k, v in raw.items())
    torch.save({"model": compiled, "optimizer": opt.state_dict(),
                "iteration": 1234}, os.path.join(d, "train.pt"))
    half = OrderedDict((k, v.to(torch.bfloat16)) for k, v in raw.items())
    torch.save(half, os.path.join(d, "bf16.pt"))
    with open(os.path.join(d, "model_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    # Reference for the bf16 form: the rounded weights.
    w64 = {k: bf16_round(v).double() for k, v in w.items()}
    ref = json.load(open(os.path.join(d, "ref.json")))
    lg = forward(w64, cfg, ref["tokens"])
    lg.float().numpy().astype("<f4").tofile(
        os.path.join(d, "ref-logits-bf16.bin"))
    ref["nll_bf16"] = mean_nll(lg, ref["tokens"])
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")


def write_variants():
    # One small model per CS336 variant (2025 ablations, 2024 layout).
    # The configs carry the course's keys as its training scripts write them,
    # a training-only key or two among them.
    base = {"vocab_size": 64, "context_length": 24, "d_model": 16,
            "num_layers": 2, "num_heads": 2, "d_ff": 32, "rope_theta": 10000.0}
    v = dict(base, remove_rmsnorm=True, use_post_norm=False,
             remove_rope=False, ffn_type=None)
    write_fixture("nonorm", v, 11, final=False)
    write_fixture("nonorm-final", dict(v), 12, final=True)
    write_fixture("postnorm", dict(base, use_post_norm=True,
                                   attn_pdrop=0.0), 13)
    write_fixture("nope", dict(base, remove_rope=True), 14)
    write_fixture("silu", dict(base, ffn_type="silu", d_ff=64,
                               batch_size=32), 15)
    c24 = {"vocab_size": 64, "context_length": 24, "d_model": 16,
           "num_layers": 2, "num_heads": 2, "d_ff": 64, "ffn_type": "gelu",
           "attn_pdrop": 0.0, "residual_pdrop": 0.0}
    write_fixture("cs336-2024", c24, 16, learned=True)


def write_2024_ref():
    # The real spring-2024 test checkpoint (../shared, not copied here):
    # its architecture and the course's test config (num_heads 2).
    src = os.path.join(HERE, "..", "..", "shared", "data",
                       "cs336-2024-checkpoint", "transformer_lm_weights.pt")
    if not os.path.exists(src):
        print("skip: %s absent" % src)
        return
    sd = torch.load(src, map_location="cpu")
    cfg = {"vocab_size": 100, "context_length": 64, "d_model": 128,
           "num_layers": 2, "num_heads": 2, "d_ff": 512, "ffn_type": "gelu"}
    w64 = {k: v.double() for k, v in sd.items()}
    d = os.path.join(OUT, "cs336-2024-real")
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(2024)
    ids = torch.randint(0, cfg["vocab_size"], (20,), generator=gen).tolist()
    lg = forward(w64, cfg, ids)
    prompt = ids[:8]
    ref = {"tokens": ids, "nll": mean_nll(lg, ids), "prompt": prompt,
           "greedy": greedy(w64, cfg, prompt, 12)}
    with open(os.path.join(d, "ref.json"), "w") as f:
        json.dump(ref, f)
        f.write("\n")
    lg.float().numpy().astype("<f4").tofile(os.path.join(d, "ref-logits.bin"))


def main():
    torch.set_num_threads(1)
    tiny = {"vocab_size": 257, "context_length": 64, "d_model": 32,
            "num_layers": 2, "num_heads": 4, "d_ff": 64,
            "rope_theta": 10000.0}
    w, w64 = write_fixture("tiny", tiny, 1)
    write_tokenizer(os.path.join(OUT, "tiny"))
    text = open(os.path.join(OUT, "eval.txt"), "rb").read()
    with open(os.path.join(OUT, "tiny", "eval-ref.json"), "w") as f:
        json.dump(eval_ref(w64, tiny, text), f)
        f.write("\n")

    # Head size 12, another RoPE base, context shorter than the sequence
    # used for greedy decoding so that nothing is special about 16.
    h12 = {"vocab_size": 128, "context_length": 32, "d_model": 48,
           "num_layers": 2, "num_heads": 4, "d_ff": 64, "rope_theta": 500.0}
    write_fixture("h12", h12, 2)

    # BF16 storage, head size 16, odd vocabulary.
    b16 = {"vocab_size": 101, "context_length": 24, "d_model": 32,
           "num_layers": 1, "num_heads": 2, "d_ff": 48,
           "rope_theta": 10000.0}
    write_fixture("bf16", b16, 3, dtype="BF16")

    write_variants()
    write_2024_ref()

    # The .pt forms: head size 8.
    pt = {"vocab_size": 64, "context_length": 16, "d_model": 16,
          "num_layers": 2, "num_heads": 2, "d_ff": 32, "rope_theta": 10000.0}
    w, _ = write_fixture("pt", pt, 4, n_greedy=8)
    os.remove(os.path.join(OUT, "pt", "model.safetensors"))
    os.remove(os.path.join(OUT, "pt", "config.json"))
    write_pt_forms(pt, w)


if __name__ == "__main__":
    main()
