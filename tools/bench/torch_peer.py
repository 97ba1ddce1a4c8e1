#!/usr/bin/python3
"""PyTorch peer for tools/bench, on [1, N, d] with random weights; prints one JSON line with the median wall time
of `repeats` runs after a warm-up and the process's peak RSS.

mode "encoder" (default): a pre-LN nn.TransformerEncoder of the given shape with a causal mask.
mode "attention": one nn.MultiheadAttention (projections included), non-causal, need_weights=False.

usage: torch_peer.py D HEADS LAYERS N THREADS REPEATS [encoder|attention]
"""
import json
import resource
import statistics
import sys
import time

import torch

d, heads, layers, n, threads, repeats = map(int, sys.argv[1:7])
mode = sys.argv[7] if len(sys.argv) > 7 else "encoder"
torch.set_num_threads(threads)
torch.manual_seed(1)
x = torch.randn(1, n, d)
if mode == "attention":
    attention = torch.nn.MultiheadAttention(d, heads, bias=False, batch_first=True).eval()
    run = lambda: attention(x, x, x, need_weights=False)
else:
    layer = torch.nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu", norm_first=True, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, layers, norm=torch.nn.LayerNorm(d), enable_nested_tensor=False).eval()
    mask = torch.nn.Transformer.generate_square_subsequent_mask(n)
    run = lambda: model(x, mask=mask)
times = []
with torch.no_grad():
    run()
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peer": f"pytorch {torch.__version__} ({threads} thread{'s' if threads > 1 else ''})", "median_s": statistics.median(times), "peak_rss_mib": peak_rss_mib}))
