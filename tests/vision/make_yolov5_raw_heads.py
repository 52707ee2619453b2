#!/usr/bin/env python3
"""Makes YOLOv5 raw-head models from an export that decodes its grid in the graph.

Graph surgery on yolov5n_fp16_dynamic.onnx (or any Ultralytics YOLOv5 export with the
Detect head inside): the model outputs become the three detect-head convolutions, i.e. the
raw per-level logits *before* the in-graph Reshape / Transpose / Sigmoid / grid + anchor
decode, and the decode nodes are dropped. Two forms are written:

  <out>/yolov5n_raw_nchw.onnx   the Conv outputs as they are, [B, 3*(5+C), H, W]
                                (KS_DECODE_YOLO_GRID, yolo_channels_first = 1)
  <out>/yolov5n_raw_bahwc.onnx  after the head's Reshape + Transpose, before the Sigmoid,
                                [B, 3, H, W, 5+C] (channels_last)

Nothing is downloaded; the files go to a build / temp directory and are never committed.
Exit 0 on success, 77 (ctest "skipped") when the onnx package or the source model is
missing, 1 when the graph does not look like a YOLOv5 Detect head.

usage: make_yolov5_raw_heads.py SRC.onnx OUT_DIR
"""
import os
import sys


def skip(msg):
    print("make_yolov5_raw_heads: SKIP: " + msg, file=sys.stderr)
    sys.exit(77)


def fail(msg):
    print("make_yolov5_raw_heads: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    src, out_dir = sys.argv[1], sys.argv[2]
    try:
        import onnx
        from onnx import helper
    except ImportError:
        skip("the python 'onnx' package is not installed (pip install onnx)")
    if not os.path.isfile(src):
        skip("source model %s not found" % src)
    m = onnx.load(src)
    g = m.graph
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    # Detect-head convolutions: Conv nodes whose output feeds a Reshape to [B, A, 5+C, H, W]
    # (Ultralytics: x[i].view(bs, na, no, ny, nx).permute(0, 1, 3, 4, 2)).
    heads = []
    for n in g.node:
        if n.op_type != "Conv":
            continue
        rs = [c for c in consumers.get(n.output[0], []) if c.op_type == "Reshape"]
        if len(rs) != 1:
            continue
        tr = [c for c in consumers.get(rs[0].output[0], []) if c.op_type == "Transpose"]
        if len(tr) != 1:
            continue
        perm = [list(a.ints) for a in tr[0].attribute if a.name == "perm"]
        if perm != [[0, 1, 3, 4, 2]]:
            continue
        heads.append((n, tr[0]))
    if len(heads) != 3:
        fail("%s: found %d YOLOv5 detect-head convolutions (Conv -> Reshape -> Transpose[0,1,3,4,2]), need 3"
             % (src, len(heads)))
    # weights of the head conv: [A*(5+C), Cin, 1, 1]
    inits = {t.name: t for t in g.initializer}
    w = inits.get(heads[0][0].input[1])
    if w is None:
        fail("%s: head conv weights are not an initializer" % src)
    ch = w.dims[0]
    if ch % 3 or ch // 3 < 6:
        fail("%s: head conv has %d output channels (need 3*(5+C))" % (src, ch))
    no = ch // 3
    elem = g.input[0].type.tensor_type.elem_type
    # the detect heads in stride order (8, 16, 32) = their order in the graph
    os.makedirs(out_dir, exist_ok=True)
    batch = g.input[0].type.tensor_type.shape.dim[0]
    bdim = batch.dim_param or (str(batch.dim_value) if batch.dim_value else "batch")
    for form in ("nchw", "bahwc"):
        mm = onnx.ModelProto()
        mm.CopyFrom(m)
        gg = mm.graph
        del gg.output[:]
        names = []
        for li, (conv, tr) in enumerate(heads):
            s = 8 << li
            h, wd = "h_s%d" % s, "w_s%d" % s
            if form == "nchw":
                name, shape = conv.output[0], [bdim, ch, h, wd]
            else:
                name, shape = tr.output[0], [bdim, 3, h, wd, no]
            names.append(name)
            gg.output.append(helper.make_tensor_value_info(name, elem, shape))
        # keep only the nodes the new outputs need (drops the in-graph decode)
        producer = {}
        for n in gg.node:
            for o in n.output:
                producer[o] = n
        need, stack = set(), list(names)
        while stack:
            v = stack.pop()
            n = producer.get(v)
            if n is None or id(n) in need:
                continue
            need.add(id(n))
            stack.extend(n.input)
        kept = [n for n in gg.node if id(n) in need]
        del gg.node[:]
        gg.node.extend(kept)
        used = set(i for n in kept for i in n.input)
        keep_init = [t for t in gg.initializer if t.name in used]
        del gg.initializer[:]
        gg.initializer.extend(keep_init)
        keep_vi = [v for v in gg.value_info if v.name in used and v.name not in names]
        del gg.value_info[:]
        gg.value_info.extend(keep_vi)
        gg.name = (gg.name or "yolov5") + "_raw_heads_" + form
        onnx.checker.check_model(mm)
        path = os.path.join(out_dir, "yolov5n_raw_%s.onnx" % form)
        tmp = path + ".tmp"
        onnx.save(mm, tmp)
        os.replace(tmp, path)
        print("%s: outputs %s (%d nodes, was %d)" % (path, ", ".join(names), len(kept), len(g.node)))


if __name__ == "__main__":
    main()
