#!/usr/bin/env python3
"""Quantise a detector to int8 with ONNX Runtime's quantisation tools
(models/platedet_int8.toml, models/yolox_nano_int8.toml).

    python models/quantize.py SRC.onnx OUT.onnx CALIBRATION [MANIFEST.toml]

CALIBRATION is a folder of photos (every third *.jpg, sorted by name, is used) or
`synthetic` (48 street scenes with Colombian plates from models/synthetic_scenes.py, seed
11: buildable on any machine, and leaves the labelled photos to evaluation).

1. float16 → float32 (the quantiser works on float32 graphs): initialisers, constants,
   casts and declared types; opsets before 13 converted to 13 (per-channel dequantisation
   needs it);
2. static QDQ quantisation of the convolutions only (per-channel int8 weights, uint8
   activations calibrated by min/max on the CALIBRATION pictures, preprocessed as vigia
   does for the model: the [input] table of MANIFEST — size, colour order, letterbox
   padding and position, scale; without a manifest, platedet's 640x640 centred RGB 0-1);
   what follows the last convolutions stays in float, as an
   output tensor that mixes pixel coordinates and 0-1 scores cannot share one int8 scale.

Deterministic: the same inputs and the pinned packages (REQUIREMENTS) give the same bytes,
which is what the manifest's sha256 checks. models/fetch.py runs this in a virtual
environment of its own (.vigia/venv-quantize) when the manifest's file is missing.
"""

import sys
from pathlib import Path

REQUIREMENTS = ["onnxruntime==1.31.1", "onnx==1.23.2", "pillow==13.0.0", "numpy==2.4.6",
                "protobuf==7.36.2"]


def to_float32(model):
    import numpy as np
    from onnx import AttributeProto, TensorProto, numpy_helper

    def fix(t):
        if t.data_type == TensorProto.FLOAT16:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float32), t.name))

    for t in model.graph.initializer:
        fix(t)
    for n in model.graph.node:
        for a in n.attribute:
            if a.name == "to" and a.i == TensorProto.FLOAT16:
                a.i = TensorProto.FLOAT
            if a.type == AttributeProto.TENSOR:
                fix(a.t)
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT16:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT
    return model


# platedet's preprocessing: what the first version of this script did (its sha256 holds).
PLATEDET = {"width": 640, "height": 640, "color": "rgb", "pad_position": "center",
            "pad_value": 114, "scale": 1 / 255}


def letterbox(picture, spec=None):
    """A photo's path or a PIL image, preprocessed as vigia does for the model."""
    import numpy as np
    from PIL import Image

    spec = spec or PLATEDET
    width, height = spec["width"], spec["height"]
    im = picture if isinstance(picture, Image.Image) else Image.open(picture)
    im = im.convert("RGB")
    w, h = im.size
    s = min(width / w, height / h)
    im = im.resize((round(w * s), round(h * s)))
    pad = spec.get("pad_value", 114)
    canvas = Image.new("RGB", (width, height), (pad, pad, pad))
    at = (0, 0)
    if spec.get("pad_position", "center") == "center":
        at = ((width - im.size[0]) // 2, (height - im.size[1]) // 2)
    canvas.paste(im, at)
    a = np.asarray(canvas, dtype=np.float32)
    if spec.get("color", "rgb") == "bgr":
        a = a[:, :, ::-1]
    scale = spec.get("scale", 1.0)
    a = a / 255.0 if abs(scale - 1 / 255) < 1e-6 else a * scale
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None])


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    spec = None
    if len(argv) == 5:
        import tomllib
        spec = tomllib.loads(Path(argv[4]).read_text())["input"]
    import tempfile

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    src, out, calib = Path(argv[1]), Path(argv[2]), argv[3]
    if calib == "synthetic":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from synthetic_scenes import scenes

        images = scenes(48, seed=11)
    else:
        images = sorted(Path(calib).glob("*.jpg"))[::3]
    if not images:
        print(f"quantize: no calibration photos (*.jpg) in {calib}", file=sys.stderr)
        return 1
    model = onnx.load(str(src))
    input_name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{input_name: letterbox(p, spec)} for p in images])

        def get_next(self):
            return next(self.items, None)

    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.onnx"
        model = to_float32(model)
        # Per-channel weights need DequantizeLinear's `axis`: opset 13 or later.
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        if opset < 13:
            from onnx import version_converter
            model = version_converter.convert_version(model, 13)
        onnx.save(model, str(f32))
        quantize_static(str(f32), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, op_types_to_quantize=["Conv"])
    print(f"quantize: {src.name} → {out} ({len(images)} calibration pictures, {calib})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
