#!/usr/bin/env python3
"""The peer vigia is measured against in benches/capacity.sh: a camera analytics service as
people commonly build it in Python. One process per camera: OpenCV (its bundled FFmpeg)
reads the RTSP stream, every frame is decoded, frames are picked at the analysis rate,
letterboxed with numpy, run through ONNX Runtime's YOLOX-nano (default session options),
decoded and NMS'd, and published with paho-mqtt at QoS 1, one message per analysed frame.

Latency is measured per analysed frame from the moment OpenCV returned it to the PUBACK.
Counts only inside [--measure-from, --measure-to] (Unix seconds, the harness picks them so
vigia and the peer are measured over windows of the same length after the same warm-up).
Prints one JSON object on stdout.

Needs the packages in REQUIREMENTS (benches/capacity.sh installs them in a venv).
"""

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

REQUIREMENTS = ["onnxruntime==1.31.1", "numpy==2.4.6", "opencv-python-headless==5.0.0.93",
                "paho-mqtt==2.2.0"]

INPUT = 416
STRIDES = (8, 16, 32)


def grid():
    import numpy as np
    cells, strides = [], []
    for s in STRIDES:
        n = INPUT // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xs, ys], -1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)


def letterbox(img):
    import cv2
    import numpy as np
    h, w = img.shape[:2]
    r = min(INPUT / h, INPUT / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    out = np.full((INPUT, INPUT, 3), 114, dtype=np.uint8)
    out[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None].astype(np.float32)), r


def detect(sess, cells, strides, img, threshold=0.35):
    import cv2
    import numpy as np
    x, r = letterbox(img)
    out = sess.run(None, {"images": x})[0][0]
    xy = (out[:, :2] + cells) * strides
    wh = np.exp(out[:, 2:4]) * strides
    scores = out[:, 4:5] * out[:, 5:]
    cls = scores.argmax(1)
    conf = scores[np.arange(len(cls)), cls]
    keep = conf >= threshold
    boxes = np.concatenate([xy - wh / 2, wh], 1)[keep] / r
    conf, cls = conf[keep], cls[keep]
    idx = cv2.dnn.NMSBoxes(boxes.tolist(), conf.tolist(), threshold, 0.45)
    return [{"class": int(cls[i]), "score": float(conf[i]),
             "box": [float(v) for v in boxes[i]]} for i in np.array(idx).reshape(-1)]


def rss_pss_kib():
    rss = pss = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def camera(i, url, args, results):
    import cv2
    import onnxruntime as ort
    import paho.mqtt.client as mqtt

    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    cells, strides = grid()
    sent, lat = {}, []
    measuring = [False]

    def on_publish(_c, _u, mid, _rc, _p):
        t0 = sent.pop(mid, None)
        if t0 is not None and measuring[0]:
            lat.append(time.time() - t0)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"peer-{os.getpid()}")
    client.on_publish = on_publish
    client.connect("127.0.0.1", args.broker_port)
    client.loop_start()
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    read = analysed = 0
    cpu0 = None
    next_t = 0.0
    period = 1.0 / args.fps
    while True:
        ok, frame = cap.read()
        t = time.time()
        if t >= args.measure_to:
            break
        if not ok:
            cap.release()
            time.sleep(0.5)
            cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
            continue
        if cpu0 is None and t >= args.measure_from:
            cpu0 = time.process_time()
            measuring[0] = True
            read = analysed = 0
        read += 1
        if t < next_t:
            continue
        next_t = max(next_t + period, t - period)
        dets = detect(sess, cells, strides, frame)
        info = client.publish(f"peer/cam{i}/detections",
                              json.dumps({"t": t, "detections": dets}), qos=1)
        sent[info.mid] = t
        analysed += 1
    cpu = time.process_time() - (cpu0 or time.process_time())
    time.sleep(0.5)  # the last PUBACKs
    client.loop_stop()
    rss, pss = rss_pss_kib()
    results.put({"camera": i, "read": read, "analysed": analysed, "cpu_s": cpu,
                 "latencies": lat, "rss_kib": rss, "pss_kib": pss})


def main():
    if sys.argv[1:] == ["--requirements"]:
        print(" ".join(REQUIREMENTS))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--broker-port", type=int, required=True)
    p.add_argument("--fps", type=float, default=5.0)
    p.add_argument("--measure-from", type=float, required=True)
    p.add_argument("--measure-to", type=float, required=True)
    args = p.parse_args()
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=camera, args=(i, u, args, results)) for i, u in enumerate(args.url)]
    for pr in procs:
        pr.start()
    out = []
    deadline = args.measure_to + 60
    while len(out) < len(procs) and time.time() < deadline:
        try:
            out.append(results.get(timeout=1))
        except Exception:  # queue.Empty
            if not any(pr.is_alive() for pr in procs):
                break
    for pr in procs:
        pr.join(timeout=5)
        if pr.is_alive():
            pr.kill()
    secs = args.measure_to - args.measure_from
    lat = sorted(x for r in out for x in r["latencies"])

    def q(f):
        return lat[min(len(lat) - 1, int(f * len(lat)))] * 1e3 if lat else None

    json.dump({
        "cameras": len(args.url), "reported": len(out),
        "read_fps": sum(r["read"] for r in out) / secs / max(1, len(args.url)),
        "analysed_fps": sum(r["analysed"] for r in out) / secs / max(1, len(args.url)),
        "p50_ms": q(0.5), "p99_ms": q(0.99),
        "cpu_cores": sum(r["cpu_s"] for r in out) / secs,
        "rss_mib": sum(r["rss_kib"] for r in out) / 1024,
        "pss_mib": sum(r["pss_kib"] for r in out) / 1024,
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
