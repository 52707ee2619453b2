#!/usr/bin/env python3
"""The SCRFD-500m near-tie on images/ultraface/17.jpg (bench/VISION_RESULTS.md, fifth session).

Runs onnxruntime on scrfd_500m_bnkps_640.onnx with the MANIFEST preprocessing (letterbox to 640x640 at the
top-left, zero padding, RGB, (x - 127.5) / 128) and prints every candidate above the score threshold whose box
overlaps the reference box [437.8 609.3 479.9 660.7] at IoU > 0.5, with its score and that IoU. Needs
onnxruntime, numpy and pillow (pip). Usage: scrfd_tie.py [SHARED_DIR] [JSON ...]: JSON files written by
`kestrel detect --json` are scored against the same reference box."""
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image

REF = [437.8, 609.3, 479.9, 660.7]


def iou(a, b):
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    i = iw * ih
    return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)


shared = sys.argv[1] if len(sys.argv) > 1 else "../shared"
im = Image.open(f"{shared}/images/ultraface/17.jpg").convert("RGB")
w, h = im.size
r = min(640 / w, 640 / h)
nw, nh = int(w * r), int(h * r)
x = np.zeros((640, 640, 3), np.float32)
x[:nh, :nw] = np.asarray(im.resize((nw, nh), Image.BILINEAR), np.float32)
x = ((x - 127.5) / 128).transpose(2, 0, 1)[None]
s = ort.InferenceSession(f"{shared}/models/scrfd/scrfd_500m_bnkps_640.onnx")
o = s.run(None, {s.get_inputs()[0].name: x})
for li, st in enumerate([8, 16, 32]):
    sc = o[li].reshape(-1)
    bb = o[3 + li].reshape(-1, 4) * st
    n = 640 // st
    ys, xs = np.mgrid[:n, :n]
    c = np.stack([xs * st, ys * st], -1).reshape(-1, 2).repeat(2, 0)
    box = np.concatenate([c - bb[:, :2], c + bb[:, 2:]], 1) / r
    for i in np.where(sc > 0.5)[0]:
        v = iou(REF, box[i])
        if v > 0.5:
            print(f"stride {st} anchor {i}: score {sc[i]:.5f} box {np.round(box[i], 1)} IoU {v:.3f}")
for f in sys.argv[2:]:
    d = json.load(open(f))
    best = max(d["images"][0]["detections"], key=lambda e: iou(REF, e["box"]))
    print(f"{f}: best IoU {iou(REF, best['box']):.3f} box {[round(v, 1) for v in best['box']]} score {best['score']:.4f}")
