#!/usr/bin/env python3
"""Frees a detector's input height and width (models/yolox_nano_fit.toml).

    python models/fit_input.py SRC.onnx OUT.onnx [CALIBRATION_DIR] [MANIFEST.toml]

YOLOX-nano is exported for a 416x416 input, but its graph is fully convolutional: any
height and width that are multiples of 32 work. With them free, vigia sizes the input to
each camera's picture (`[input] fit = "aspect"`): a 16:9 frame goes in as 416x256 instead of
416x416 with 160 rows of padding, the same pixels at the same scale for 0.6x the work.
The input's dimensions 2 and 3 become `height` and `width`, the output's anchor count
`anchors`; inferred shapes are dropped. The weights are untouched.

Ultralytics YOLOv8 graphs (models/platedet_fit.toml) decode their boxes inside the graph
with constants made for one input size (a DFL reshape to 8400 anchors, an anchor grid,
strides). For them the graph is cut before that decoding: the output becomes the raw head
`head` [1, 4 x 16 + classes, anchors] (distance bins and class logits per anchor, stride 8
anchors first), which vigia decodes for any size (`decode = "yolov8_dfl"`). Whatever only the
cut part used goes too: for platedet, the segmentation mask head and its 160x160 prototypes.

Deterministic: the same input and the pinned packages give the same bytes, which is what
the manifest's sha256 checks. The calibration directory and manifest that models/fetch.py
passes to every build script are not used.
"""

import sys
from pathlib import Path

REQUIREMENTS = ["onnx==1.23.2", "numpy==2.4.6", "protobuf==7.36.2"]


def dfl_head(model):
    """The tensor a YOLOv8 head splits into DFL bins and class logits, or None."""
    producers = {o: n for n in model.graph.node for o in n.output}
    for n in model.graph.node:
        if n.op_type == "Reshape" and "/dfl/" in n.name:
            split = producers.get(n.input[0])
            if split is not None and split.op_type == "Split":
                return split.input[0]
    return None


def cut_before_decoding(model):
    """The graph from the input to the raw head only, renamed `head`."""
    import onnx
    from onnx import helper

    head = dfl_head(model)
    keep = set()
    producers = {o: n for n in model.graph.node for o in n.output}
    todo = [head]
    while todo:
        n = producers.get(todo.pop())
        if n is None or id(n) in keep:
            continue
        keep.add(id(n))
        todo.extend(n.input)
    nodes = [n for n in model.graph.node if id(n) in keep]
    for n in nodes:
        n.output[:] = ["head" if o == head else o for o in n.output]
    used = {i for n in nodes for i in n.input}
    inits = [t for t in model.graph.initializer if t.name in used]
    out_type = next((vi for vi in model.graph.output if vi.name == "output0"), None)
    elem = out_type.type.tensor_type.elem_type if out_type is not None else onnx.TensorProto.FLOAT
    graph = helper.make_graph(nodes, model.graph.name, list(model.graph.input),
                              [helper.make_tensor_value_info("head", elem, [1, None, "anchors"])],
                              inits)
    cut = helper.make_model(graph, opset_imports=list(model.opset_import),
                            producer_name=model.producer_name)
    cut.ir_version = model.ir_version
    del cut.metadata_props[:]
    cut.metadata_props.extend(model.metadata_props)
    return cut


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    import onnx

    src, out = Path(argv[1]), Path(argv[2])
    model = onnx.load(str(src))
    yolov8 = dfl_head(model) is not None
    if yolov8:
        model = cut_before_decoding(model)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        print(f"fit_input: {src.name}: input is not NCHW", file=sys.stderr)
        return 1
    for d, name in ((dims[2], "height"), (dims[3], "width")):
        d.ClearField("dim_value")
        d.dim_param = name
    for o in model.graph.output:
        odims = o.type.tensor_type.shape.dim
        if len(odims) == 3 and not yolov8:
            odims[1].ClearField("dim_value")
            odims[1].dim_param = "anchors"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    print(f"fit_input: {src.name} → {out} (input height and width free)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
