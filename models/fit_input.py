#!/usr/bin/env python3
"""Frees a detector's input height and width (models/yolox_nano_fit.toml).

    python models/fit_input.py SRC.onnx OUT.onnx [CALIBRATION_DIR] [MANIFEST.toml]

YOLOX-nano is exported for a 416x416 input, but its graph is fully convolutional: any
height and width that are multiples of 32 work. With them free, vigia sizes the input to
each camera's picture (`[input] fit = "aspect"`): a 16:9 frame goes in as 416x256 instead of
416x416 with 160 rows of padding, the same pixels at the same scale for 0.6x the work.
The input's dimensions 2 and 3 become `height` and `width`, the output's anchor count
`anchors`; inferred shapes are dropped. The weights are untouched.

Deterministic: the same input and the pinned packages give the same bytes, which is what
the manifest's sha256 checks. The calibration directory and manifest that models/fetch.py
passes to every build script are not used.
"""

import sys
from pathlib import Path

REQUIREMENTS = ["onnx==1.23.2", "numpy==2.4.6", "protobuf==7.36.2"]


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    import onnx

    src, out = Path(argv[1]), Path(argv[2])
    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        print(f"fit_input: {src.name}: input is not NCHW", file=sys.stderr)
        return 1
    for d, name in ((dims[2], "height"), (dims[3], "width")):
        d.ClearField("dim_value")
        d.dim_param = name
    for o in model.graph.output:
        odims = o.type.tensor_type.shape.dim
        if len(odims) == 3:
            odims[1].ClearField("dim_value")
            odims[1].dim_param = "anchors"
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    print(f"fit_input: {src.name} → {out} (input height and width free)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
