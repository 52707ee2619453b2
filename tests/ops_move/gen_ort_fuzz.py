#!/usr/bin/env python3
"""Seeded random single-node models for the data-movement / shape ops, with
onnxruntime's outputs as the reference (same manifest format as
tests/models/gen_ort_refs.py, tolerance 0: these ops move bytes exactly).

    gen_ort_fuzz.py --out DIR [--seed N] [--count K]

Covers Slice (negative/huge steps, INT32/INT64 MAX/MIN ends, clamping,
negative axes, default axes/steps), Cast (all pairs among the 8 dtypes, values
in range: out-of-range float->int is undefined in ONNX), Transpose (rank 1-6),
Reshape, Gather, GatherElements, Expand, Tile, Split, Concat, DepthToSpace,
SpaceToDepth, Range, Shape (start/end), Squeeze, Unsqueeze, ConstantOfShape,
Flatten. Exit 77 when onnxruntime is not importable.
"""
import argparse
import json
import os
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper as h, TensorProto as T, numpy_helper as nh
except ImportError as e:
    print("SKIPPED: %s" % e, file=sys.stderr)
    sys.exit(77)

TT = {np.float32: T.FLOAT, np.float16: T.FLOAT16, np.float64: T.DOUBLE, np.int8: T.INT8,
      np.uint8: T.UINT8, np.int32: T.INT32, np.int64: T.INT64, np.bool_: T.BOOL}
DT = list(TT)
BIG = [2**63 - 1, -2**63, 2**31 - 1, -2**31]


class Gen:
    def __init__(self, out, seed):
        self.out, self.rng, self.n = out, np.random.default_rng(seed), 0
        self.so = ort.SessionOptions()
        self.so.log_severity_level = 4

    def emit(self, name, nodes, xs, inits, opset=13):
        k = self.n
        self.n += 1
        outs = [o for o in nodes[-1].output if o]
        ins = [h.make_tensor_value_info("x%d" % i, TT[x.dtype.type], list(x.shape))
               for i, x in enumerate(xs)]
        g = h.make_graph(nodes, "g", ins, [onnx.ValueInfoProto(name=o) for o in outs],
                         initializer=inits)
        m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
        m.ir_version = 8
        d = os.path.join(self.out, "%s%d" % (name, k))
        os.makedirs(d, exist_ok=True)
        onnx.save(m, os.path.join(d, "model.onnx"))
        feeds, cin = {}, []
        for i, x in enumerate(xs):
            np.save(os.path.join(d, "in%d.npy" % i), x)
            feeds["x%d" % i] = x
            cin.append({"name": "x%d" % i, "file": "in%d.npy" % i})
        case = {"name": "c", "inputs": cin, "outputs": [], "ort_error": None}
        try:
            ys = ort.InferenceSession(m.SerializeToString(), self.so).run(None, feeds)
            for j, (y, o) in enumerate(zip(ys, outs)):
                np.save(os.path.join(d, "out%d.npy" % j), np.array(y, order="C"))
                case["outputs"].append({"name": o, "file": "out%d.npy" % j})
        except Exception as ex:
            case["ort_error"] = str(ex).splitlines()[0][:300]
        man = {"model": os.path.join(d, "model.onnx"), "model_rel": "%s%d %s" % (
            name, k, onnx.helper.printable_node(nodes[-1])[:200]), "tolerance": 0,
            "tolerance_why": "data movement: exact", "cases": [case]}
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(man, f)

    def x(self, dims, dt):
        a = self.rng.standard_normal(dims) * 50
        if dt == np.bool_:
            return np.array(a > 0)
        if dt in (np.uint8,):
            a = np.abs(a)
        return np.array(a, dtype=dt)

    def slice_case(self):
        r = self.rng
        nd = int(r.integers(1, 5))
        dims = [int(r.integers(0, 5)) for _ in range(nd)]
        na = int(r.integers(1, nd + 1))
        axes = [int(a) - (nd if r.random() < 0.3 else 0) for a in r.permutation(nd)[:na]]

        def idx(d):
            return int(r.choice(BIG)) if r.random() < 0.15 else int(r.integers(-d - 3, d + 4))
        st = [idx(dims[a % nd]) for a in axes]
        en = [idx(dims[a % nd]) for a in axes]
        sp = [int(r.choice([1, 1, 2, 3, -1, -1, -2, -3, 2**62, -2**62])) for _ in axes]
        dt = DT[r.integers(len(DT))]
        use_axes = r.random() < 0.8
        use_steps = use_axes and r.random() < 0.8
        if not use_axes:
            axes = list(range(na))
            st, en = [idx(dims[a]) for a in axes], [idx(dims[a]) for a in axes]
        inits = [h.make_tensor("s", T.INT64, [na], st), h.make_tensor("e", T.INT64, [na], en)]
        names = ["x0", "s", "e"]
        if use_axes:
            inits.append(h.make_tensor("a", T.INT64, [na], axes))
            names.append("a")
        if use_steps:
            inits.append(h.make_tensor("p", T.INT64, [na], sp))
            names.append("p")
        self.emit("slice", [h.make_node("Slice", names, ["y"])], [self.x(dims, dt)], inits)

    def round(self):
        r, x, emit = self.rng, self.x, self.emit

        def i64(name, v):
            return h.make_tensor(name, T.INT64, [len(v)], v)
        for _ in range(3):
            self.slice_case()
        s, t = DT[r.integers(len(DT))], DT[r.integers(len(DT))]
        src = x([int(r.integers(1, 6)), 3], s)
        if t in (np.uint8,) and s not in (np.bool_, np.uint8):
            src = np.abs(src)  # negative -> unsigned is undefined
        if t in (np.int8, np.uint8) and s in (np.float16, np.float32, np.float64):
            src = np.clip(src, -127, 127).astype(s)  # out of range float -> int: undefined
        emit("cast", [h.make_node("Cast", ["x0"], ["y"], to=TT[t])], [src], [])
        nd = int(r.integers(1, 7))
        dims = [int(r.integers(1, 4)) for _ in range(nd)]
        emit("transpose", [h.make_node("Transpose", ["x0"], ["y"],
                                       perm=[int(p) for p in r.permutation(nd)])],
             [x(dims, DT[r.integers(len(DT))])], [])
        dims = [int(r.integers(1, 4)) for _ in range(int(r.integers(1, 5)))]
        emit("reshape", [h.make_node("Reshape", ["x0", "s"], ["y"])], [x(dims, np.float32)],
             [i64("s", [0, -1] if len(dims) > 1 else [-1])])
        nd = int(r.integers(1, 4))
        dims = [int(r.integers(1, 5)) for _ in range(nd)]
        ax = int(r.integers(-nd, nd))
        d = dims[ax]
        ishape = [int(r.integers(0, 3)) for _ in range(int(r.integers(0, 3)))]
        emit("gather", [h.make_node("Gather", ["x0", "i"], ["y"], axis=ax)], [x(dims, np.float16)],
             [nh.from_array(r.integers(-d, d, size=ishape).astype(np.int64), "i")])
        ishape = [dims[j] if j != ax % nd else int(r.integers(1, 4)) for j in range(nd)]
        emit("gatherel", [h.make_node("GatherElements", ["x0", "i"], ["y"], axis=ax)],
             [x(dims, np.int32)],
             [nh.from_array(r.integers(-d, d, size=ishape).astype(np.int64), "i")])
        dims = [int(r.choice([1, 1, 3])) for _ in range(int(r.integers(1, 4)))]
        tgt = [int(r.integers(1, 3)) for _ in range(int(r.integers(0, 2)))] + \
            [int(r.choice([1, 2, 3])) if v == 1 else v for v in dims]
        tgt = [1 if r.random() < 0.3 else v for v in tgt]
        emit("expand", [h.make_node("Expand", ["x0", "s"], ["y"])], [x(dims, np.int64)],
             [i64("s", tgt)])
        dims = [int(r.integers(1, 4)) for _ in range(int(r.integers(1, 4)))]
        emit("tile", [h.make_node("Tile", ["x0", "r"], ["y"])], [x(dims, np.float32)],
             [i64("r", [int(r.integers(0, 3)) for _ in dims])])
        dims = [int(r.integers(1, 7)) for _ in range(int(r.integers(1, 4)))]
        ax = int(r.integers(0, len(dims)))
        c = sorted(int(v) for v in r.integers(0, dims[ax] + 1, size=2))
        emit("split", [h.make_node("Split", ["x0", "s"], ["a", "b", "c"], axis=ax)],
             [x(dims, np.float32)], [i64("s", [c[0], c[1] - c[0], dims[ax] - c[1]])])
        dims = [int(r.integers(1, 4)) for _ in range(int(r.integers(1, 4)))]
        ax = int(r.integers(-len(dims), len(dims)))
        d2 = list(dims)
        d2[ax] = int(r.integers(0, 3))
        emit("concat", [h.make_node("Concat", ["x0", "x1"], ["y"], axis=ax)],
             [x(dims, np.int8), x(d2, np.int8)], [])
        b, ch = int(r.integers(1, 4)), int(r.integers(1, 3))
        emit("d2s", [h.make_node("DepthToSpace", ["x0"], ["y"], blocksize=b,
                                 mode=str(r.choice(["DCR", "CRD"])))],
             [x([2, ch * b * b, 2, 3], np.float32)], [])
        emit("s2d", [h.make_node("SpaceToDepth", ["x0"], ["y"], blocksize=b)],
             [x([1, ch, 2 * b, 3 * b], np.float32)], [])
        st, lim = float(r.integers(-10, 10)), float(r.integers(-10, 10))
        de = float(r.choice([-3, -1, 0.5, 1, 2.5]))
        for dt in (np.float32, np.int64, np.int32):
            if dt != np.float32 and de != int(de):
                continue
            emit("range", [h.make_node("Range", ["a", "b", "c"], ["y"])], [],
                 [nh.from_array(np.array(v, dtype=dt), n) for v, n in
                  ((st, "a"), (lim, "b"), (de, "c"))])
        dims = [int(r.integers(1, 4)) for _ in range(int(r.integers(1, 5)))]
        emit("shape", [h.make_node("Shape", ["x0"], ["y"], start=int(r.integers(-5, 5)),
                                   end=int(r.integers(-5, 6)))], [x(dims, np.float32)], [],
             opset=15)
        dims = [int(r.choice([1, 2])) for _ in range(int(r.integers(1, 5)))]
        emit("squeeze", [h.make_node("Squeeze", ["x0"], ["y"])], [x(dims, np.float32)], [])
        emit("unsqueeze", [h.make_node("Unsqueeze", ["x0", "a"], ["y"])], [x(dims, np.uint8)],
             [i64("a", [int(a) for a in r.permutation(len(dims) + 2)[:2]])])
        emit("cos", [h.make_node("ConstantOfShape", ["s"], ["y"],
                                 value=nh.from_array(np.array([3], dtype=np.int32), "v"))], [],
             [i64("s", [int(r.integers(0, 3)) for _ in range(int(r.integers(0, 3)))])])
        dims = [int(r.integers(1, 4)) for _ in range(int(r.integers(1, 5)))]
        emit("flatten", [h.make_node("Flatten", ["x0"], ["y"],
                                     axis=int(r.integers(-len(dims), len(dims) + 1)))],
             [x(dims, np.float32)], [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--count", type=int, default=40, help="rounds (each ~25 models)")
    a = ap.parse_args()
    g = Gen(a.out, a.seed)
    for _ in range(a.count):
        g.round()
    print("gen_ort_fuzz: %d models in %s" % (g.n, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
