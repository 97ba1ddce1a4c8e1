#!/usr/bin/python3
"""PyTorch peer for tools/bench: a pre-LN nn.TransformerEncoder of the given shape (random weights), forward on
[1, N, d] with a causal mask; prints one JSON line with the median wall time of `repeats` runs after a warm-up.

usage: torch_peer.py D HEADS LAYERS N THREADS REPEATS
"""
import json
import statistics
import sys
import time

import torch

d, heads, layers, n, threads, repeats = map(int, sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu", norm_first=True, batch_first=True)
model = torch.nn.TransformerEncoder(layer, layers, norm=torch.nn.LayerNorm(d), enable_nested_tensor=False).eval()
x = torch.randn(1, n, d)
mask = torch.nn.Transformer.generate_square_subsequent_mask(n)
times = []
with torch.no_grad():
    model(x, mask=mask)
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(x, mask=mask)
        times.append(time.perf_counter() - t0)
print(json.dumps({"peer": f"pytorch {torch.__version__} ({threads} thread{'s' if threads > 1 else ''})", "median_s": statistics.median(times)}))
