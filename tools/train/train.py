#!/usr/bin/python3
"""Train the bundled TinyStories model: the CS336 TransformerLM, exactly the
function lmsh computes (src/model.c), on token ids written by
`lmsh tokenize --format ids`.

A maintainer tool: lmsh never needs it.  Runs on the CPU with Debian's
python3-torch (1.13) and numpy; see tools/train/README for the command lines
that made share/tinystories.

The model (names and shapes are what lmsh loads):
  token_embeddings.weight                (vocab_size, d_model)
  layers.N.ln1.weight, layers.N.ln2.weight          (d_model,)
  layers.N.attn.{q,k,v,output}_proj.weight          (d_model, d_model)
  layers.N.ffn.w1.weight, layers.N.ffn.w3.weight    (d_ff, d_model)
  layers.N.ffn.w2.weight                            (d_model, d_ff)
  ln_final.weight                                   (d_model,)
  lm_head.weight                         (vocab_size, d_model)
pre-norm blocks x + attn(ln1(x)), x + ffn(ln2(x)); RMSNorm with eps 1e-5 in
fp32; RoPE on interleaved pairs (x[2j], x[2j+1]) with angle
pos * theta^(-2j/d_k); causal softmax attention; SwiGLU w2(silu(w1 x) * w3 x).
Dropout (training only) does not change the function lmsh computes.

With --ema, an exponential moving average of the weights is kept beside
them and evaluated too (from --ema-start on); whichever of the two evaluates
best is what is saved.  On this little data the average of the high-learning-
rate weights generalises better than the annealed weights themselves.

Outputs in --out: checkpoint.pt ({"model", "optimizer", "iteration"} as
CS336 saves it; the model weights are those of the best held-out evaluation,
rounded to bf16 when --round-bf16 is given, so that the checkpoint and a bf16
conversion of it are the same function), model_config.json, and log.jsonl
(one line per evaluation).
"""
import argparse
import copy
import json
import math
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--train-ids", required=True,
      help="training token ids (text: whitespace/comma separated)")
    a("--valid-ids", required=True, help="held-out token ids, same format")
    a("--valid-text", required=True,
      help="the held-out text itself (its byte count gives bits/byte)")
    a("--out", required=True, help="output directory")
    a("--vocab-size", type=int, required=True)
    a("--context-length", type=int, default=256)
    a("--d-model", type=int, default=256)
    a("--num-layers", type=int, default=4)
    a("--num-heads", type=int, default=8)
    a("--d-ff", type=int, default=688)
    a("--rope-theta", type=float, default=10000.0)
    a("--dropout", type=float, default=0.1)
    a("--batch-size", type=int, default=32)
    a("--lr", type=float, default=2e-3)
    a("--min-lr", type=float, default=2e-4)
    a("--warmup", type=int, default=100)
    a("--max-steps", type=int, default=2000)
    a("--weight-decay", type=float, default=0.1)
    a("--beta2", type=float, default=0.95)
    a("--grad-clip", type=float, default=1.0)
    a("--eval-every", type=int, default=100)
    a("--patience", type=int, default=4,
      help="stop after this many evaluations without a new best")
    a("--max-minutes", type=float, default=0,
      help="stop after this much training time (0: no limit)")
    a("--ema", type=float, default=0,
      help="also keep an exponential moving average of the weights with "
           "this decay (e.g. 0.995), evaluate it too from --ema-start on, "
           "and keep whichever of the two evaluates best")
    a("--ema-start", type=float, default=0.5,
      help="fraction of --max-steps after which the average is evaluated")
    a("--seed", type=int, default=1234)
    a("--threads", type=int, default=1)
    a("--bf16", action="store_true",
      help="bf16 autocast for training and periodic evaluation")
    a("--round-bf16", action="store_true",
      help="round the saved weights to bf16 (the shipped storage)")
    return p.parse_args()


ARGS = parse_args()
# Before torch loads: its OpenMP pool and BLIS read these once.
for var in ("OMP_NUM_THREADS", "BLIS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
# On a shared machine, spinning OpenMP threads wait for a descheduled peer
# for a whole time slice at every barrier: sleep instead.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def trunc_normal(shape, std):
    w = torch.empty(shape)
    nn.init.trunc_normal_(w, mean=0.0, std=std, a=-3 * std, b=3 * std)
    return w


class Linear(nn.Module):
    """y = x W^T with W stored (d_out, d_in), CS336 initialisation."""

    def __init__(self, d_in, d_out):
        super().__init__()
        std = math.sqrt(2.0 / (d_in + d_out))
        self.weight = nn.Parameter(trunc_normal((d_out, d_in), std))

    def forward(self, x):
        return x @ self.weight.t()


class Embedding(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal((n, d), 1.0))

    def forward(self, ids):
        return self.weight[ids]


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * r * self.weight.float()).to(dtype)


class RoPE(nn.Module):
    def __init__(self, theta, d_k, max_len):
        super().__init__()
        j = torch.arange(d_k // 2, dtype=torch.float64)
        inv = theta ** (-2.0 * j / d_k)
        ang = torch.arange(max_len, dtype=torch.float64)[:, None] * inv[None]
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)

    def forward(self, x):
        # x: (..., T, d_k); rotate the pairs (x[2j], x[2j+1]).
        T = x.shape[-2]
        c, s = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c),
                           dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, d, h, rope):
        super().__init__()
        self.h = h
        self.q_proj = Linear(d, d)
        self.k_proj = Linear(d, d)
        self.v_proj = Linear(d, d)
        self.output_proj = Linear(d, d)
        self.rope = rope

    def forward(self, x):
        B, T, d = x.shape
        h, dk = self.h, d // self.h

        def heads(t):
            return t.view(B, T, h, dk).transpose(1, 2)

        # Scaling q (T x d_k) is cheaper than scaling the T x T scores.
        q = self.rope(heads(self.q_proj(x))) * (1.0 / math.sqrt(dk))
        k = self.rope(heads(self.k_proj(x)))
        v = heads(self.v_proj(x))
        att = q @ k.transpose(-1, -2)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        att = torch.softmax(att.masked_fill(mask, float("-inf")), dim=-1)
        # No dropout on the T x T weights: on the CPU it costs more than
        # the matrix products, and residual dropout regularises enough.
        y = (att @ v).transpose(1, 2).reshape(B, T, d)
        return self.output_proj(y)


class SwiGLU(nn.Module):
    def __init__(self, d, d_ff):
        super().__init__()
        self.w1 = Linear(d, d_ff)
        self.w2 = Linear(d_ff, d)
        self.w3 = Linear(d, d_ff)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, d, h, d_ff, rope, dropout):
        super().__init__()
        self.ln1 = RMSNorm(d)
        self.attn = Attention(d, h, rope)
        self.ln2 = RMSNorm(d)
        self.ffn = SwiGLU(d, d_ff)
        self.dropout = dropout

    def forward(self, x):
        x = x + F.dropout(self.attn(self.ln1(x)), self.dropout, self.training)
        x = x + F.dropout(self.ffn(self.ln2(x)), self.dropout, self.training)
        return x


class TransformerLM(nn.Module):
    def __init__(self, c, dropout):
        super().__init__()
        d = c["d_model"]
        rope = RoPE(c["rope_theta"], d // c["num_heads"], c["context_length"])
        self.token_embeddings = Embedding(c["vocab_size"], d)
        self.layers = nn.ModuleList(
            Block(d, c["num_heads"], c["d_ff"], rope, dropout)
            for _ in range(c["num_layers"]))
        self.ln_final = RMSNorm(d)
        self.lm_head = Linear(d, c["vocab_size"])
        self.dropout = dropout

    def forward(self, ids):
        x = self.token_embeddings(ids)
        x = F.dropout(x, self.dropout, self.training)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.ln_final(x))


def load_ids(path):
    """Token ids from lmsh tokenize --format ids (cached as .npy)."""
    cache = path + ".npy"
    if (os.path.exists(cache)
            and os.path.getmtime(cache) >= os.path.getmtime(path)):
        return np.load(cache)
    if path.endswith(".u16"):
        ids = np.fromfile(path, dtype=np.uint16).astype(np.int64)
    else:
        with open(path) as f:
            text = f.read().replace(",", " ")
        ids = np.array(text.split(), dtype=np.int64)
    np.save(cache, ids)
    return ids


def eval_windows(ids, ctx):
    """The held-out windows, as lmsh eval takes them: consecutive windows of
    ctx + 1 tokens that overlap by one, so that every token but the first is
    predicted exactly once, each with the context since its window began."""
    xs, ys = [], []
    for s in range(0, len(ids) - 1, ctx):
        w = ids[s:s + ctx + 1]
        xs.append(w[:-1])
        ys.append(w[1:])
    return xs, ys


@torch.no_grad()
def evaluate(model, ids, ctx, bf16, batch=16):
    """Total nats and the number of predicted tokens over ids."""
    model.eval()
    xs, ys = eval_windows(ids, ctx)
    total, count = 0.0, 0
    # Windows of one length batch together; only the last may be shorter.
    i = 0
    while i < len(xs):
        n = len(xs[i])
        j = i
        while j < len(xs) and j - i < batch and len(xs[j]) == n:
            j += 1
        x = torch.from_numpy(np.stack(xs[i:j]))
        y = torch.from_numpy(np.stack(ys[i:j]))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                               y.reshape(-1), reduction="sum")
        total += loss.item()
        count += y.numel()
        i = j
    model.train()
    return total, count


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    t = min(1.0, (step - a.warmup) / max(1, a.max_steps - a.warmup))
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * t))


def main():
    a = ARGS
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)

    cfg = {"vocab_size": a.vocab_size, "context_length": a.context_length,
           "d_model": a.d_model, "num_layers": a.num_layers,
           "num_heads": a.num_heads, "d_ff": a.d_ff,
           "rope_theta": a.rope_theta}
    train = load_ids(a.train_ids)
    valid = load_ids(a.valid_ids)
    with open(a.valid_text, "rb") as f:
        valid_bytes = len(f.read())
    for name, ids in (("train", train), ("valid", valid)):
        if ids.min() < 0 or ids.max() >= a.vocab_size:
            sys.exit("%s ids outside [0, %d)" % (name, a.vocab_size))

    model = TransformerLM(cfg, a.dropout)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": a.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr, betas=(0.9, a.beta2), eps=1e-8)
    print("params %d; train %d tokens, held-out %d tokens / %d bytes"
          % (n_params, len(train), len(valid), valid_bytes), flush=True)

    params = list(model.parameters())
    ema = [p.detach().clone() for p in params] if a.ema else None

    log = open(os.path.join(a.out, "log.jsonl"), "w")

    def emit(rec):
        print(json.dumps(rec), flush=True)
        log.write(json.dumps(rec) + "\n")
        log.flush()

    best, best_state, best_step, bad = float("inf"), None, 0, 0
    best_which = "raw"
    ctx, B = a.context_length, a.batch_size
    t0 = time.time()
    train_t = torch.from_numpy(train)
    step = 0
    for step in range(a.max_steps + 1):
        if step % a.eval_every == 0 or step == a.max_steps:
            nats, n = evaluate(model, valid, ctx, a.bf16)
            bpb = nats / math.log(2) / valid_bytes
            rec = {"step": step, "minutes": (time.time() - t0) / 60,
                   "loss": nats / n, "bpb": bpb, "lr": lr_at(step, a)}
            emit(rec)
            # The moving average is evaluated in place of the weights,
            # which are then put back; a new best of either is snapshot.
            cand, cand_state = bpb, None
            if ema and step >= a.ema_start * a.max_steps:
                live = [p.detach().clone() for p in params]
                with torch.no_grad():
                    for p, e in zip(params, ema):
                        p.copy_(e)
                enats, en = evaluate(model, valid, ctx, a.bf16)
                ebpb = enats / math.log(2) / valid_bytes
                emit({"step": step, "ema_loss": enats / en,
                      "ema_bpb": ebpb})
                if ebpb < cand:
                    cand = ebpb
                    cand_state = {k: v.clone() for k, v in
                                  model.state_dict().items()}
                with torch.no_grad():
                    for p, v in zip(params, live):
                        p.copy_(v)
            if cand < best:
                best, best_step, bad = cand, step, 0
                best_which = "raw" if cand_state is None else "ema"
                best_state = cand_state or {k: v.clone() for k, v in
                                            model.state_dict().items()}
                best_opt = copy.deepcopy(opt.state_dict())
            else:
                bad += 1
                if bad >= a.patience:
                    break
            if a.max_minutes and (time.time() - t0) / 60 > a.max_minutes:
                break
        if step == a.max_steps:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        starts = torch.from_numpy(rng.integers(0, len(train) - ctx, B))
        idx = starts[:, None] + torch.arange(ctx + 1)[None]
        w = train_t[idx]
        x, y = w[:, :-1], w[:, 1:]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, a.vocab_size),
                               y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
        opt.step()
        if ema:
            with torch.no_grad():
                torch._foreach_mul_(ema, a.ema)
                torch._foreach_add_(ema, params, alpha=1 - a.ema)
        if step % 20 == 0:
            print("step %d loss %.4f %.1fs" % (step, loss.item(),
                  time.time() - t0), flush=True)
    train_minutes = (time.time() - t0) / 60

    # The final figure: the best weights as they are shipped, in fp32 as
    # lmsh computes (this is the number lmsh eval must reproduce).
    state = best_state
    if a.round_bf16:
        state = {k: v.to(torch.bfloat16).float() for k, v in state.items()}
    model.load_state_dict(state)
    nats, n = evaluate(model, valid, ctx, False)
    final = {"best_step": best_step, "best_weights": best_which,
             "train_minutes": train_minutes,
             "steps_run": step, "params": n_params,
             "heldout_tokens_predicted": n, "heldout_bytes": valid_bytes,
             "loss": nats / n, "bpb": nats / math.log(2) / valid_bytes,
             "perplexity": math.exp(nats / n),
             "round_bf16": a.round_bf16, "args": vars(a)}
    print(json.dumps(final), flush=True)
    log.write(json.dumps({"final": final}) + "\n")
    torch.save({"model": state, "optimizer": best_opt,
                "iteration": best_step},
               os.path.join(a.out, "checkpoint.pt"))
    with open(os.path.join(a.out, "model_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
