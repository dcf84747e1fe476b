#!/usr/bin/env python3
"""Synthetic street scenes with Colombian plates, for calibrating int8 models anywhere.

    python models/synthetic_scenes.py OUT_DIR [N] [SEED]    # writes N JPEGs to look at

models/quantize.py calls `scenes(n, seed)` when a manifest's [build] says
`calibration = "synthetic"`: the int8 model can then be built on any machine, without the
labelled photos in ../shared (which stay the evaluation set, so the int8 model's accuracy is
no longer measured on its own calibration photos).

What a scene is: a sky/ground gradient with noise, buildings and lane marks, one to three
vehicles (body, windows, wheels, lights) of random colour and size, each with a plate — a
yellow private car plate (`AAA999`, city line), a white public-service one, or a two-row
motorcycle plate (`AAA99A`) — in the Liberation Sans Narrow Bold font (Debian's
fonts-liberation, which the set-up installs), with a random tilt, blur, lighting and sensor
noise. Half of the scenes are cut to one vehicle, as vigia feeds the plate detector vehicle
crops. A fixed seed and the pinned Pillow/NumPy give the same pictures on every machine.
"""

import sys
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
CITIES = ["MEDELLIN", "BOGOTA D.C.", "ENVIGADO", "ITAGUI", "BELLO", "CALI", "SABANETA"]


def _plate(rng, font_path):
    from PIL import Image, ImageDraw, ImageFont

    kind = rng.choice(["car", "car", "service", "moto"])
    L = lambda k: "".join(rng.choice(list(LETTERS), k))  # noqa: E731
    D = lambda k: "".join(rng.choice(list(DIGITS), k))  # noqa: E731
    bg = (250, 204, 20) if kind == "car" else (240, 240, 235)
    if kind == "moto":
        w, h = 200, 150
        img = Image.new("RGB", (w, h), bg)
        d = ImageDraw.Draw(img)
        d.rectangle([2, 2, w - 3, h - 3], outline=(10, 10, 10), width=5)
        f = ImageFont.truetype(str(font_path), 62)
        d.text((w // 2, 42), L(3), font=f, fill=(10, 10, 10), anchor="mm")
        d.text((w // 2, 104), D(2) + L(1), font=f, fill=(10, 10, 10), anchor="mm")
        return img
    w, h = 340, 170
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    d.rectangle([3, 3, w - 4, h - 4], outline=(10, 10, 10), width=6)
    f = ImageFont.truetype(str(font_path), 96)
    d.text((w // 2, 72), f"{L(3)} {D(3)}", font=f, fill=(10, 10, 10), anchor="mm")
    small = ImageFont.truetype(str(font_path), 28)
    d.text((w // 2, 146), str(rng.choice(CITIES)), font=small, fill=(10, 10, 10), anchor="mm")
    return img


def _vehicle(rng, font_path, width):
    """A vehicle's front of `width` pixels with its plate, on a transparent background."""
    from PIL import Image, ImageDraw, ImageFilter

    height = int(width * rng.uniform(0.55, 0.8))
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    body = tuple(int(c) for c in rng.integers(20, 235, 3)) + (255,)
    d.rounded_rectangle([0, int(height * 0.25), width - 1, int(height * 0.92)],
                        radius=width // 12, fill=body)
    d.rounded_rectangle([int(width * 0.12), 0, int(width * 0.88), int(height * 0.45)],
                        radius=width // 10, fill=body)
    glass = tuple(int(c) for c in rng.integers(20, 90, 3)) + (255,)
    d.polygon([(width * 0.18, height * 0.05), (width * 0.82, height * 0.05),
               (width * 0.9, height * 0.3), (width * 0.1, height * 0.3)], fill=glass)
    for x in (0.06, 0.78):
        d.ellipse([width * x, height * 0.4, width * (x + 0.16), height * 0.52],
                  fill=(255, 250, 220, 255))
    for x in (0.05, 0.8):
        d.rectangle([width * x, height * 0.86, width * (x + 0.15), height], fill=(15, 15, 15, 255))
    grille = tuple(max(0, c - 60) for c in body[:3]) + (255,)
    d.rectangle([width * 0.3, height * 0.4, width * 0.7, height * 0.55], fill=grille)
    plate = _plate(rng, font_path)
    pw = int(width * rng.uniform(0.2, 0.32))
    ph = int(pw * plate.size[1] / plate.size[0])
    plate = plate.resize((pw, ph)).convert("RGBA")
    plate = plate.rotate(float(rng.uniform(-6, 6)), expand=True, resample=Image.BICUBIC)
    img.alpha_composite(plate, (int(width / 2 - plate.size[0] / 2), int(height * 0.6)))
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 1.0))))


def scene(rng, font_path=FONT):
    import numpy as np
    from PIL import Image, ImageDraw, ImageEnhance

    w, h = [(1280, 720), (1024, 768), (800, 600), (1920, 1080)][int(rng.integers(0, 4))]
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    top = rng.uniform(60, 220, 3)
    bottom = rng.uniform(30, 140, 3)
    a = top * (1 - y) + bottom * y + rng.normal(0, 8, (h, 1, 3))
    a = np.broadcast_to(a, (h, w, 3)).copy()
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        x0, bw = int(rng.integers(0, w)), int(rng.integers(w // 10, w // 3))
        y1 = int(rng.integers(h // 5, h // 2))
        d.rectangle([x0, y1, x0 + bw, h // 2 + h // 8],
                    fill=tuple(int(c) for c in rng.integers(40, 200, 3)))
    for _ in range(int(rng.integers(0, 5))):
        x = int(rng.integers(0, w))
        d.rectangle([x, int(h * 0.9), x + w // 12, int(h * 0.92)], fill=(230, 230, 230))
    boxes = []
    for _ in range(int(rng.integers(1, 4))):
        vw = int(w * rng.uniform(0.18, 0.6))
        v = _vehicle(rng, font_path, vw)
        x = int(rng.integers(0, max(1, w - vw)))
        yv = int(rng.integers(h // 3, max(h // 3 + 1, h - v.size[1])))
        img.paste(v, (x, yv), v)
        boxes.append((x, yv, x + v.size[0], yv + v.size[1]))
    img = ImageEnhance.Brightness(img).enhance(float(rng.uniform(0.35, 1.3)))
    a = np.asarray(img, dtype=np.float32) + rng.normal(0, rng.uniform(1, 7), (h, w, 3))
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    if rng.uniform() < 0.5:
        x0, y0, x1, y1 = boxes[int(rng.integers(0, len(boxes)))]
        img = img.crop((max(0, x0 - 10), max(0, y0 - 10), min(w, x1 + 10), min(h, y1 + 10)))
    return img


def scenes(n, seed=11, font_path=FONT):
    """`n` scenes from `seed` (PIL RGB images)."""
    import numpy as np

    if not Path(font_path).is_file():
        raise SystemExit(f"synthetic_scenes: font {font_path} missing "
                         "(Debian package fonts-liberation)")
    rng = np.random.default_rng(seed)
    return [scene(rng, font_path) for _ in range(n)]


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 11
    for i, im in enumerate(scenes(n, seed)):
        im.save(out / f"scene{i:03}.jpg", quality=92)
