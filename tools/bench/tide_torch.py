#!/usr/bin/python3
"""PyTorch side of the peer benchmarks (tools/bench/forward-vs-ort.mjs, generation.mjs, training.mjs): the models
TIDE's checkpoint folders describe, built in PyTorch from the same weights (config.json + model.safetensors as
written by TIDE's saveCheckpoint), so that both sides compute the same function.

- `encoder_from_checkpoint(dir)`: the PyTorch-encoder layout (nn.TransformerEncoder, batch_first, causal mask).
- `GPT2`: the HF GPT-2 layout (Conv1D weights [in, out], tied LM head, tanh GELU), with past keys/values for
  incremental decoding; differentiable for training.

As a script: `tide_torch.py forward --model DIR --input IN --output OUT [--threads 1]`: one whole process (import,
load, one forward, write), for the whole-process timing of forward-vs-ort.mjs; prints one JSON line.

Needs only torch (and numpy, which Debian's python3-torch depends on); safetensors are read and written here.
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

_DTYPES = {"F32": np.float32, "I32": np.int32, "I64": np.int64}
_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}


def read_safetensors(path):
    """name -> torch tensor (F32, I32, I64)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        array = np.frombuffer(data, dtype=_DTYPES[t["dtype"]], count=(b - a) // np.dtype(_DTYPES[t["dtype"]]).itemsize, offset=8 + n + a)
        out[name] = torch.from_numpy(array.copy().reshape(t["shape"]))
    return out


def write_safetensors(path, tensors):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        array = np.ascontiguousarray(t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t))
        blob = array.tobytes()
        header[name] = {"dtype": _NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header)
    text += " " * ((8 - (8 + len(text.encode())) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text.encode())))
        f.write(text.encode())
        for blob in blobs:
            f.write(blob)


def read_config(model_dir):
    with open(f"{model_dir}/config.json") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------------------------
# The PyTorch-encoder layout.


class CausalEncoder(torch.nn.Module):
    """nn.TransformerEncoder on [B, N, d] with the causal mask of N tokens held as a buffer (one input: ONNX-friendly)."""

    def __init__(self, encoder, n, causal):
        super().__init__()
        self.encoder = encoder
        self.causal = causal
        if causal:
            self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(n))

    def forward(self, x):
        return self.encoder(x, mask=self.mask) if self.causal else self.encoder(x)


def encoder_from_checkpoint(model_dir, n, layers=None):
    """The checkpoint's encoder (optionally only its first `layers` layers, final norm kept), eval mode."""
    c = read_config(model_dir)
    if c.get("format") != "torch-transformer-encoder":
        raise SystemExit(f"{model_dir}: expected a PyTorch-encoder checkpoint (format torch-transformer-encoder)")
    L = c["num_layers"] if layers is None else layers
    layer = torch.nn.TransformerEncoderLayer(
        c["d_model"],
        c["nhead"],
        c["dim_feedforward"],
        dropout=0.0,
        activation=c["activation"],
        layer_norm_eps=c["layer_norm_eps"],
        batch_first=True,
        norm_first=c["norm_first"],
    )
    norm = torch.nn.LayerNorm(c["d_model"], eps=c["layer_norm_eps"]) if c["final_norm"] else None
    encoder = torch.nn.TransformerEncoder(layer, L, norm=norm, enable_nested_tensor=False)
    state = read_safetensors(f"{model_dir}/model.safetensors")
    state = {k: v for k, v in state.items() if not k.startswith("layers.") or int(k.split(".")[1]) < L}
    encoder.load_state_dict(state, strict=True)
    return CausalEncoder(encoder, n, c.get("causal", False)).eval()


# ---------------------------------------------------------------------------------------------------------------
# The HF GPT-2 layout.


class GPT2(torch.nn.Module):
    """HF GPT-2 (pre-LN, tanh GELU, tied head) from a TIDE checkpoint folder; `forward(ids, past)` -> (logits, past)."""

    def __init__(self, model_dir):
        super().__init__()
        c = read_config(model_dir)
        if c.get("model_type") != "gpt2":
            raise SystemExit(f"{model_dir}: expected an HF GPT-2 checkpoint (model_type gpt2)")
        self.d, self.heads, self.layers = c["n_embd"], c["n_head"], c["n_layer"]
        self.eps = c.get("layer_norm_epsilon", 1e-5)
        self.approximate = "tanh" if c.get("activation_function", "gelu_new") == "gelu_new" else "none"
        state = {k[len("transformer.") :] if k.startswith("transformer.") else k: v for k, v in read_safetensors(f"{model_dir}/model.safetensors").items()}
        self.params = torch.nn.ParameterDict({k.replace(".", "__"): torch.nn.Parameter(v.float()) for k, v in state.items()})
        self.tied = "lm_head.weight" not in state

    def p(self, key):
        return self.params[key.replace(".", "__")]

    def forward(self, ids, past=None):
        B, N = ids.shape
        offset = 0 if past is None else past[0][0].shape[2]
        h = F.embedding(ids, self.p("wte.weight")) + self.p("wpe.weight")[offset : offset + N]
        dk = self.d // self.heads
        mask = torch.full((N, offset + N), float("-inf")).triu(offset + 1) if N > 1 else None
        new_past = []
        for i in range(self.layers):
            x = F.layer_norm(h, (self.d,), self.p(f"h.{i}.ln_1.weight"), self.p(f"h.{i}.ln_1.bias"), self.eps)
            qkv = torch.addmm(self.p(f"h.{i}.attn.c_attn.bias"), x.reshape(B * N, self.d), self.p(f"h.{i}.attn.c_attn.weight"))
            q, k, v = qkv.reshape(B, N, 3, self.heads, dk).permute(2, 0, 3, 1, 4)  # each [B, H, N, dk]
            if past is not None:
                k = torch.cat([past[i][0], k], dim=2)
                v = torch.cat([past[i][1], v], dim=2)
            new_past.append((k, v))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dk)
            if mask is not None:
                scores = scores + mask
            a = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(B * N, self.d)
            h = h + torch.addmm(self.p(f"h.{i}.attn.c_proj.bias"), a, self.p(f"h.{i}.attn.c_proj.weight")).reshape(B, N, self.d)
            x = F.layer_norm(h, (self.d,), self.p(f"h.{i}.ln_2.weight"), self.p(f"h.{i}.ln_2.bias"), self.eps)
            f = F.gelu(torch.addmm(self.p(f"h.{i}.mlp.c_fc.bias"), x.reshape(B * N, self.d), self.p(f"h.{i}.mlp.c_fc.weight")), approximate=self.approximate)
            h = h + torch.addmm(self.p(f"h.{i}.mlp.c_proj.bias"), f, self.p(f"h.{i}.mlp.c_proj.weight")).reshape(B, N, self.d)
        h = F.layer_norm(h, (self.d,), self.p("ln_f.weight"), self.p("ln_f.bias"), self.eps)
        head = self.p("wte.weight") if self.tied else self.p("lm_head.weight")
        return torch.matmul(h, head.t()), new_past


def set_threads(threads):
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only once per process)


def main():
    import argparse

    parser = argparse.ArgumentParser(description="one whole-process forward of a PyTorch-encoder checkpoint")
    parser.add_argument("mode", choices=["forward"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--threads", type=int, default=1)
    a = parser.parse_args()
    set_threads(a.threads)
    t0 = time.perf_counter()
    x = read_safetensors(a.input)["input"]
    model = encoder_from_checkpoint(a.model, x.shape[1])
    t1 = time.perf_counter()
    with torch.no_grad():
        y = model(x)
    t2 = time.perf_counter()
    write_safetensors(a.output, {"output": y})
    print(json.dumps({"peer": f"pytorch {torch.__version__} ({a.threads} thread{'s' if a.threads > 1 else ''})", "load_s": t1 - t0, "run_s": t2 - t1}))


if __name__ == "__main__":
    main()
