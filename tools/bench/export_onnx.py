#!/usr/bin/python3
"""The ONNX Runtime peer's model: the PyTorch encoder of a TIDE checkpoint folder (PyTorch-encoder layout, the
bench's GPT-2-shaped pre-LN causal encoder; tide_torch.encoder_from_checkpoint — the same nn.TransformerEncoder as
torch_peer.py, with TIDE's weights), checked against TIDE's own output and exported with torch.onnx.export.

1. Loads --model (config.json + model.safetensors, written by TIDE's saveCheckpoint) and --input (`input` [1, N, d]).
2. Runs it in PyTorch and compares with --expected (TIDE's `tide forward` output): max |torch − TIDE| must be
   ≤ --tolerance (default 1e-4), else exit 1 with one line: then the two do not compute the same function.
3. Exports it (opset --opset, default 14; static shapes, the causal mask a constant) to --onnx, and with
   --onnx-1layer the same model cut to its first layer (final norm kept): the per-layer node count is the
   difference of the two graphs.

Prints one JSON line: {"max_abs_diff", "torch", "onnx", "onnx_1layer"}.

usage: export_onnx.py --model DIR --input IN.safetensors --expected TIDE_OUT.safetensors --onnx OUT.onnx
                      [--onnx-1layer OUT1.onnx] [--opset 14] [--tolerance 1e-4]
"""
import argparse
import json
import os
import sys
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in tools/bench
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

from tide_torch import encoder_from_checkpoint, read_safetensors, set_threads  # noqa: E402


def export(model, x, path, opset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the fast path's Python conditions
        torch.onnx.export(
            model,
            (x,),
            path,
            opset_version=opset,
            input_names=["input"],
            output_names=["output"],
            do_constant_folding=True,
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--expected", required=True)
    p.add_argument("--onnx", required=True)
    p.add_argument("--onnx-1layer")
    p.add_argument("--opset", type=int, default=14)
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    set_threads(a.threads)
    x = read_safetensors(a.input).get("input")
    expected = read_safetensors(a.expected).get("output")
    if x is None or expected is None:
        raise SystemExit(f"export_onnx.py: expected a tensor \"input\" in {a.input} and \"output\" in {a.expected}")
    model = encoder_from_checkpoint(a.model, x.shape[1])
    with torch.no_grad():
        y = model(x)
    diff = (y - expected).abs().max().item() if y.shape == expected.shape else float("inf")
    if not diff <= a.tolerance:
        print(f"export_onnx.py: PyTorch and TIDE disagree: max |torch - TIDE| = {diff:.3g} > {a.tolerance:g} (shapes {list(y.shape)} / {list(expected.shape)})", file=sys.stderr)
        sys.exit(1)
    export(model, x, a.onnx, a.opset)
    if a.onnx_1layer:
        export(encoder_from_checkpoint(a.model, x.shape[1], layers=1), x, a.onnx_1layer, a.opset)
    print(json.dumps({"max_abs_diff": diff, "torch": torch.__version__, "onnx": a.onnx, "onnx_1layer": a.onnx_1layer}))


if __name__ == "__main__":
    main()
