"""Writes the dense twin's shape as an ONNX decoder, so the browser benchmark can time ONNX
Runtime Web on exactly the work modscope's dense model does, in the same Chromium and run.

Shape from the shipped weights' config (d_model, layers, heads, MLP width, vocab); pre-norm
blocks, causal multi-head attention, GELU MLP, LM head. Two differences, both in ORT-web's
favour: learned positions added once instead of RoPE in every block, and no log-softmax,
entropy or top-5 after the logits. Weights are random (timing does not depend on them).

    python3 scripts/export_onnx.py T OUT.onnx      (needs `pip install onnx numpy`)
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent


def dense_config():
    raw = (ROOT / "www/models/dense.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(json.loads(raw[8 : 8 + length])["__metadata__"]["modscope_config"])


def decoder(cfg, t, seed=0):
    d, layers, heads, mlp, vocab = cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["d_mlp"], cfg["vocab_size"]
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def tensor(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(name, *shape):
        return tensor(name, (rng.standard_normal(shape) * 0.02).astype(np.float32))

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    hd = d // heads
    tensor("mask", np.triu(np.full((t, t), -1e9, np.float32), 1))
    tensor("scale", np.float32(1 / np.sqrt(hd)))
    tensor("split_heads", np.array([1, t, heads, hd], np.int64))
    tensor("merge_heads", np.array([1, t, d], np.int64))
    tensor("gamma", np.ones(d, np.float32))
    tensor("beta", np.zeros(d, np.float32))
    x = node("Add", [node("Gather", [weight("embed", vocab, d), "ids"], "tokens"), weight("positions", t, d)], "x0")
    for l in range(layers):
        p = f"l{l}_"
        n1 = node("LayerNormalization", [x, "gamma", "beta"], p + "n1", axis=-1)
        qkv = node("Add", [node("MatMul", [n1, weight(p + "wqkv", d, 3 * d)], p + "qkv_mm"), weight(p + "bqkv", 3 * d)], p + "qkv")
        q, k, v = (p + "q", p + "k", p + "v")
        nodes.append(helper.make_node("Split", [qkv, tensor(p + "sizes", np.array([d, d, d], np.int64))], [q, k, v], axis=-1))
        heads_of = lambda name, perm: node("Transpose", [node("Reshape", [name, "split_heads"], name + "_r")], name + "_t", perm=perm)
        scores = node("MatMul", [heads_of(q, [0, 2, 1, 3]), heads_of(k, [0, 2, 3, 1])], p + "scores")
        masked = node("Add", [node("Mul", [scores, "scale"], p + "scaled"), "mask"], p + "masked")
        attended = node("MatMul", [node("Softmax", [masked], p + "attn", axis=-1), heads_of(v, [0, 2, 1, 3])], p + "attended")
        merged = node("Reshape", [node("Transpose", [attended], p + "merged_t", perm=[0, 2, 1, 3]), "merge_heads"], p + "merged")
        out = node("Add", [node("MatMul", [merged, weight(p + "wo", d, d)], p + "o_mm"), weight(p + "bo", d)], p + "o")
        x1 = node("Add", [x, out], p + "x1")
        n2 = node("LayerNormalization", [x1, "gamma", "beta"], p + "n2", axis=-1)
        up = node("Add", [node("MatMul", [n2, weight(p + "wup", d, mlp)], p + "up_mm"), weight(p + "bup", mlp)], p + "up")
        down = node("Add", [node("MatMul", [node("Gelu", [up], p + "gelu"), weight(p + "wdown", mlp, d)], p + "down_mm"), weight(p + "bdown", d)], p + "down")
        x = node("Add", [x1, down], f"x{l + 1}")
    final = node("LayerNormalization", [x, "gamma", "beta"], "final", axis=-1)
    node("MatMul", [final, weight("head", d, vocab)], "logits")
    graph = helper.make_graph(
        nodes, "modscope_dense_twin",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, t])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, t, vocab])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], ir_version=10)
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    onnx.save(decoder(dense_config(), int(sys.argv[1])), sys.argv[2])
