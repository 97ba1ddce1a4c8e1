#!/usr/bin/python3
"""PyTorch peer of tools/bench/generation.mjs: greedy generation from a TIDE GPT-2 checkpoint folder with an
incremental decoder (past keys/values; tide_torch.GPT2): the prompt is solved once, then one token per step.

After --warmup new tokens (a separate, untimed generation from the same prompt), one timed generation of --tokens
new tokens. Prints one JSON line: the new token ids, total seconds, seconds to the first new token (the prompt's
solve and the first pick), and the process's peak RSS.

usage: torch_generate.py --model DIR --prompt 1,2,3 --tokens 128 [--threads 1] [--warmup 4]
"""
import argparse
import json
import os
import resource
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in tools/bench
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from tide_torch import GPT2, set_threads  # noqa: E402


def generate(model, prompt, count):
    """Greedy; returns (new ids, seconds to the first new token, total seconds)."""
    ids = torch.tensor([prompt], dtype=torch.long)
    out = []
    t0 = time.perf_counter()
    first = None
    with torch.no_grad():
        logits, past = model(ids)
        for i in range(count):
            token = int(torch.argmax(logits[0, -1]))
            out.append(token)
            if first is None:
                first = time.perf_counter() - t0
            if i + 1 < count:
                logits, past = model(torch.tensor([[token]], dtype=torch.long), past)
    return out, first, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", required=True, help="comma-separated token ids")
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=4)
    a = p.parse_args()
    set_threads(a.threads)
    prompt = [int(s) for s in a.prompt.split(",")]
    model = GPT2(a.model).eval()
    if a.warmup > 0:
        generate(model, prompt, a.warmup)
    tokens, first, total = generate(model, prompt, a.tokens)
    print(json.dumps({
        "peer": f"pytorch {torch.__version__} ({a.threads} thread{'s' if a.threads > 1 else ''}), key/value cache",
        "tokens": tokens,
        "total_s": total,
        "first_token_s": first,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
