#!/usr/bin/python3
"""PyTorch peer of tools/bench/training.mjs: the training step of `tide train` in PyTorch — the same GPT-2 model
(tide_torch.GPT2, from TIDE's initial checkpoint: the same weights), the same batches (written by training.mjs),
mean next-token cross-entropy, AdamW (betas 0.9/0.95, eps 1e-8, decoupled weight decay on the 2-D kernels and the
token embedding, as @tide/train's AdamW) with `tide train`'s schedule (linear warm-up over --lr-warmup steps, cosine
decay to 0.1·peak at --total-steps).

Runs --warmup-steps untimed steps, then --steps timed steps (each ends with the loss read back, as TIDE's loop
does). Prints one JSON line: the loss of every step, the timed steps' seconds, tokens per second.

usage: torch_train.py --model DIR --batches FILE [--steps 20] [--warmup-steps 3] [--threads 1] [--lr 3e-3]
                      [--weight-decay 0.1] [--lr-warmup 100] [--total-steps 2000]
"""
import argparse
import json
import math
import os
import resource
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in tools/bench
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tide_torch import GPT2, read_safetensors, set_threads  # noqa: E402


def warmup_cosine(step, peak, warmup, total, min_factor=0.1):
    """@tide/train's warmupCosine."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1, (step - warmup) / max(1, total - warmup))
    return peak * (min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--batches", required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--lr-warmup", type=int, default=100)
    p.add_argument("--total-steps", type=int, default=2000)
    a = p.parse_args()
    set_threads(a.threads)
    model = GPT2(a.model).train()
    batches = read_safetensors(a.batches)
    inputs, targets = batches["inputs"].long(), batches["targets"].long()
    if inputs.shape[0] < a.warmup_steps + a.steps:
        raise SystemExit(f"torch_train.py: {a.batches} holds {inputs.shape[0]} batches, fewer than {a.warmup_steps + a.steps} steps")
    # @tide/train decays the 2-D kernels and the token embedding; not the positions, biases or LayerNorm gains.
    decay, rest = [], []
    for key, param in model.params.items():
        name = key.replace("__", ".")
        (decay if param.dim() == 2 and name != "wpe.weight" else rest).append(param)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": a.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=a.lr,
        betas=(0.9, 0.95),
        eps=1e-8,
    )
    losses, times = [], []
    for step in range(a.warmup_steps + a.steps):
        t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = warmup_cosine(step, a.lr, a.lr_warmup, a.total_steps)
        logits, _ = model(inputs[step])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[step].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step >= a.warmup_steps:
            times.append(time.perf_counter() - t0)
    B, N = inputs.shape[1], inputs.shape[2]
    print(json.dumps({
        "peer": f"pytorch {torch.__version__} ({a.threads} thread{'s' if a.threads > 1 else ''})",
        "losses": losses,
        "step_s": times,
        "tokens_per_s": a.steps * B * N / sum(times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
