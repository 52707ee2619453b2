#!/usr/bin/env python3
"""Generates reference cases for the nn op family (Conv, ConvTranspose,
BatchNormalization, InstanceNormalization, MaxPool, AveragePool, Global*Pool,
Resize, MatMul, Gemm, Pad, LRN) by running single-node ONNX models through
onnxruntime.

    gen_cases.py OUTDIR [--filter SUBSTR]

Writes OUTDIR/manifest.txt and OUTDIR/<case>_{in,out}<i>.npy. The manifest is
line based, one block per case:

    case NAME
    op OPTYPE OPSET
    attr NAME i VALUE | f VALUE | s VALUE | ints N V... | floats N V...
    in IDX FILE|-          (- = omitted optional input)
    const IDX              (input IDX is a constant of the graph: static
                            inference sees its data)
    out IDX FILE
    tol ATOL RTOL
    end

Exit status 77 (skipped) when numpy, onnx or onnxruntime is missing."""
import os
import sys

try:
    import numpy as np
    import onnx
    from onnx import helper, TensorProto
    import onnxruntime as ort
except Exception as e:  # pragma: no cover
    print("SKIPPED: python modules missing: %s" % e, file=sys.stderr)
    sys.exit(77)

ort.set_default_logger_severity(3)
RNG = np.random.default_rng(1234)
NP2ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.int32): TensorProto.INT32,
    np.dtype(np.int8): TensorProto.INT8,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.bool_): TensorProto.BOOL,
}


def exact_nearest(inputs, attrs):
    """Nearest-neighbour Resize with coordinates in exact rational arithmetic
    (opset >= 13 semantics, no axes / keep_aspect_ratio_policy)."""
    from fractions import Fraction as F
    import math
    if "axes" in attrs or "keep_aspect_ratio_policy" in attrs:
        return None
    x = inputs[0]
    roi = inputs[1] if len(inputs) > 1 else None
    scales = inputs[2] if len(inputs) > 2 else None
    sizes = inputs[3] if len(inputs) > 3 else None
    coord = attrs.get("coordinate_transformation_mode", "half_pixel")
    nm = attrs.get("nearest_mode", "round_prefer_floor")
    r = x.ndim
    idx = []
    outside = []
    out_shape = []
    for a in range(r):
        n_in = x.shape[a]
        if sizes is not None:
            n_out = int(sizes[a])
            s = F(n_out, n_in)
        else:
            s = F(float(np.float32(scales[a])))
            n_out = int(math.floor(np.float32(n_in) * np.float32(scales[a])))
        out_shape.append(n_out)
        ia, oa = [], []
        for o in range(n_out):
            if coord == "half_pixel":
                v = (o + F(1, 2)) / s - F(1, 2)
            elif coord == "half_pixel_symmetric":
                adj = F(n_out) / (s * n_in)
                v = F(n_in, 2) * (1 - adj) + (o + F(1, 2)) / s - F(1, 2)
            elif coord == "pytorch_half_pixel":
                v = (o + F(1, 2)) / s - F(1, 2) if n_out > 1 else F(0)
            elif coord == "align_corners":
                v = F(0) if n_out == 1 else F(o * (n_in - 1), n_out - 1)
            elif coord == "asymmetric":
                v = o / s
            elif coord == "tf_crop_and_resize":
                st, en = F(float(roi[a])), F(float(roi[r + a]))
                v = (st * (n_in - 1) + o * (en - st) * (n_in - 1) / (n_out - 1) if n_out > 1
                     else (st + en) * (n_in - 1) / 2)
            else:
                return None
            if coord == "tf_crop_and_resize" and (v < 0 or v > n_in - 1):
                ia.append(0)
                oa.append(True)
                continue
            fl = math.floor(v)
            if nm == "floor":
                i = fl
            elif nm == "ceil":
                i = math.ceil(v)
            elif v - fl == F(1, 2):
                i = fl if nm == "round_prefer_floor" else fl + 1
            else:
                i = fl + (1 if v - fl > F(1, 2) else 0)
            ia.append(min(max(i, 0), n_in - 1))
            oa.append(False)
        idx.append(np.array(ia))
        outside.append(np.array(oa))
    y = x[np.ix_(*idx)]
    mask = np.zeros(out_shape, bool)
    for a in range(r):
        shp = [1] * r
        shp[a] = out_shape[a]
        mask |= outside[a].reshape(shp)
    y = np.where(mask, np.array(attrs.get("extrapolation_value", 0.0), x.dtype), y)
    return y.astype(x.dtype)


class Gen:
    def __init__(self, out, filt):
        self.out = out
        self.filt = filt
        self.lines = []
        self.names = set()
        self.n_ok = 0
        self.n_ort_fail = 0
        self.n_exact = 0
        self.n_ref = 0

    def add(self, name, op, inputs, attrs=None, opset=17, n_out=1, consts=(), tol=(1e-4, 1e-4)):
        """inputs: list of numpy arrays or None (omitted). consts: indices of
        inputs stored as initializers (static inference sees them)."""
        attrs = attrs or {}
        assert name not in self.names, name
        self.names.add(name)
        if self.filt and self.filt not in name:
            return
        in_names = []
        vis, inits = [], []
        for i, a in enumerate(inputs):
            if a is None:
                in_names.append("")
                continue
            nm = "in%d" % i
            in_names.append(nm)
            if i in consts:
                inits.append(onnx.numpy_helper.from_array(a, nm))
            else:
                vis.append(helper.make_tensor_value_info(nm, NP2ONNX[a.dtype], a.shape))
        while in_names and in_names[-1] == "":
            in_names.pop()
        out_names = ["out%d" % i for i in range(n_out)]
        node = helper.make_node(op, in_names, out_names, **attrs)
        outs = [onnx.ValueInfoProto(name=o) for o in out_names]
        graph = helper.make_graph([node], name, vis, outs, initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  ir_version=8)
        feeds = {("in%d" % i): a for i, a in enumerate(inputs) if a is not None and i not in consts}
        try:
            so = ort.SessionOptions()
            so.log_severity_level = 4
            sess = ort.InferenceSession(model.SerializeToString(), so,
                                        providers=["CPUExecutionProvider"])
            res = sess.run(None, feeds)
        except Exception as e:
            self.n_ort_fail += 1
            print("note: onnxruntime cannot run %s: %s" % (name, str(e).splitlines()[0][:200]),
                  file=sys.stderr)
            return
        coord = attrs.get("coordinate_transformation_mode", "")
        if (op == "Resize" and coord in ("align_corners", "tf_crop_and_resize") and
                len(inputs) > 2 and inputs[2] is not None and
                any(float(np.float32(sc) * n) != int(np.float32(sc) * n)
                    for sc, n in zip(inputs[2], inputs[0].shape))):
            # A fractional in * scale: ONNX's reference (and its node tests)
            # stretch align_corners / tf_crop_and_resize to that fractional
            # length, onnxruntime to the integer output size. kestrel follows
            # the reference.
            from onnx.reference import ReferenceEvaluator
            res = ReferenceEvaluator(model).run(None, feeds)
            self.n_ref += 1
        elif op == "Resize" and attrs.get("mode", "nearest") == "nearest":
            # Nearest-neighbour ties (an exact x.5, or an integer under
            # floor/ceil): onnxruntime computes coordinates in float and can
            # land on either side; kestrel follows exact arithmetic. Where
            # they differ, the expected output comes from exact_nearest().
            ex = exact_nearest(inputs, attrs)
            if ex is not None and ex.shape == res[0].shape and not np.array_equal(ex, res[0]):
                self.n_exact += 1
                print("note: %s: onnxruntime differs from exact arithmetic at a rounding tie; "
                      "using exact" % name, file=sys.stderr)
                res = [ex]
        lines = ["case " + name, "op %s %d" % (op, opset)]
        for k, v in sorted(attrs.items()):
            if isinstance(v, bool):
                v = int(v)
            if isinstance(v, int):
                lines.append("attr %s i %d" % (k, v))
            elif isinstance(v, float):
                lines.append("attr %s f %r" % (k, v))
            elif isinstance(v, str):
                lines.append("attr %s s %s" % (k, v))
            elif isinstance(v, (list, tuple)) and all(isinstance(x, int) for x in v):
                lines.append("attr %s ints %d %s" % (k, len(v), " ".join(str(x) for x in v)))
            elif isinstance(v, (list, tuple)):
                lines.append("attr %s floats %d %s" % (k, len(v), " ".join(repr(float(x)) for x in v)))
            else:
                raise TypeError(k)
        for i, a in enumerate(inputs):
            if a is None:
                lines.append("in %d -" % i)
                continue
            fn = "%s_in%d.npy" % (name, i)
            np.save(os.path.join(self.out, fn), np.ascontiguousarray(a))
            lines.append("in %d %s" % (i, fn))
            if i in consts:
                lines.append("const %d" % i)
        for i, r in enumerate(res):
            fn = "%s_out%d.npy" % (name, i)
            np.save(os.path.join(self.out, fn), np.ascontiguousarray(r))
            lines.append("out %d %s" % (i, fn))
        lines.append("tol %g %g" % tol)
        lines.append("end")
        self.lines += lines
        self.n_ok += 1

    def write(self):
        with open(os.path.join(self.out, "manifest.txt"), "w") as f:
            f.write("\n".join(self.lines) + "\n")


def rnd(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def conv_cases(g):
    n = 0
    for k in (1, 3, 5, 7):
        for s in (1, 2):
            for d in (1, 2):
                for pad in ("none", "half", "asym"):
                    for groups in (1, 2, "dw"):
                        for bias in (0, 1):
                            n += 1
                            if n % 3 and not (k == 3 and d == 1):  # thin the sweep
                                continue
                            C = 4 if groups != "dw" else 6
                            M = 6 if groups != "dw" else 6
                            G = C if groups == "dw" else groups
                            H, W = 11 + k, 9 + k
                            x = rnd(2, C, H, W)
                            w = rnd(M, C // G, k, k)
                            attrs = {"strides": [s, s], "dilations": [d, d], "group": G}
                            if pad == "half":
                                attrs["pads"] = [k // 2] * 4
                            elif pad == "asym":
                                attrs["pads"] = [k // 2, 0, k - 1, 1]
                            ins = [x, w] + ([rnd(M)] if bias else [])
                            g.add("conv_k%d_s%d_d%d_%s_g%s_b%d" % (k, s, d, pad, groups, bias),
                                  "Conv", ins, attrs, opset=11, consts=(1, 2))
    for ap in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        for s in (1, 2, 3):
            for k in (2, 3, 4):
                g.add("conv_auto_%s_s%d_k%d" % (ap, s, k), "Conv", [rnd(1, 3, 10, 7), rnd(4, 3, k, k)],
                      {"auto_pad": ap, "strides": [s, s]}, opset=11)
    # rectangular kernel, kernel_shape attr, 1-D and 3-D
    g.add("conv_rect", "Conv", [rnd(1, 3, 9, 10), rnd(5, 3, 1, 3), rnd(5)],
          {"kernel_shape": [1, 3], "pads": [0, 1, 0, 1], "strides": [2, 1]}, opset=11)
    g.add("conv_1d", "Conv", [rnd(2, 3, 17), rnd(4, 3, 3), rnd(4)],
          {"pads": [1, 2], "strides": [2]}, opset=11)
    g.add("conv_1d_dil", "Conv", [rnd(1, 4, 20), rnd(4, 2, 3)],
          {"dilations": [3], "group": 2}, opset=11)
    g.add("conv_3d", "Conv", [rnd(1, 2, 6, 7, 8), rnd(3, 2, 3, 2, 3), rnd(3)],
          {"pads": [1, 0, 1, 1, 1, 0], "strides": [1, 2, 2]}, opset=11)
    g.add("conv_3d_same", "Conv", [rnd(1, 2, 5, 6, 7), rnd(4, 1, 3, 3, 3)],
          {"auto_pad": "SAME_LOWER", "group": 2, "strides": [2, 1, 2]}, opset=11)
    # larger: exercises tiling (many output positions, K > tile)
    g.add("conv_big", "Conv", [rnd(1, 32, 40, 44), rnd(24, 32, 3, 3), rnd(24)],
          {"pads": [1, 1, 1, 1]}, opset=11, consts=(1, 2), tol=(1e-3, 1e-4))
    g.add("conv_big_1x1", "Conv", [rnd(2, 64, 20, 20), rnd(33, 64, 1, 1), rnd(33)], {},
          opset=11, consts=(1, 2), tol=(1e-3, 1e-4))
    g.add("conv_f64", "Conv", [rnd(1, 3, 8, 8, dtype=np.float64), rnd(5, 3, 3, 3, dtype=np.float64),
                               rnd(5, dtype=np.float64)], {"pads": [1, 1, 1, 1]}, opset=11,
          tol=(1e-10, 1e-10))


def conv_transpose_cases(g):
    i = 0
    for k in (1, 2, 3, 4):
        for s in (1, 2, 3):
            for d in (1, 2):
                for pads in ([0, 0, 0, 0], [1, 0, 1, 2]):
                    for G in (1, 2):
                        i += 1
                        if i % 2:
                            continue
                        if pads[2] >= (k - 1) * d + 1 + s - 1:
                            continue
                        attrs = {"strides": [s, s], "dilations": [d, d], "group": G, "pads": pads}
                        g.add("convt_k%d_s%d_d%d_p%d_g%d" % (k, s, d, sum(pads), G), "ConvTranspose",
                              [rnd(2, 4, 5, 6), rnd(4, 3, k, k), rnd(3 * G)], attrs, opset=11)
    g.add("convt_outpad", "ConvTranspose", [rnd(1, 2, 4, 5), rnd(2, 3, 3, 3)],
          {"strides": [3, 2], "output_padding": [2, 1]}, opset=11)
    g.add("convt_outshape", "ConvTranspose", [rnd(1, 2, 4, 5), rnd(2, 3, 3, 3)],
          {"strides": [3, 2], "output_shape": [12, 10]}, opset=11)
    g.add("convt_outshape_odd", "ConvTranspose", [rnd(1, 2, 4, 5), rnd(2, 3, 3, 3)],
          {"strides": [2, 2], "output_shape": [8, 9]}, opset=11)
    for ap in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        for s in (1, 2):
            g.add("convt_auto_%s_s%d" % (ap, s), "ConvTranspose", [rnd(1, 2, 4, 5), rnd(2, 3, 3, 2)],
                  {"strides": [s, s], "auto_pad": ap}, opset=11)
    g.add("convt_1d", "ConvTranspose", [rnd(1, 3, 7), rnd(3, 2, 4), rnd(2)],
          {"strides": [2], "pads": [1, 1]}, opset=11)
    g.add("convt_3d", "ConvTranspose", [rnd(1, 2, 3, 4, 3), rnd(2, 2, 2, 3, 2)],
          {"strides": [2, 1, 2]}, opset=11)
    g.add("convt_big", "ConvTranspose", [rnd(1, 16, 20, 20), rnd(16, 8, 4, 4), rnd(8)],
          {"strides": [2, 2], "pads": [1, 1, 1, 1]}, opset=11, tol=(1e-3, 1e-4))


def pool_cases(g):
    i = 0
    for op in ("MaxPool", "AveragePool"):
        for k in (1, 2, 3, 5):
            for s in (1, 2, 3):
                for pads in ([0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 2, 0]):
                    for ceil in (0, 1):
                        for cip in ((0, 1) if op == "AveragePool" else (0,)):
                            for d in ((1, 2) if k > 1 else (1,)):
                                i += 1
                                if max(pads) >= k:
                                    continue
                                if i % 2 and k != 3:
                                    continue
                                attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": pads,
                                         "ceil_mode": ceil}
                                if d > 1:
                                    attrs["dilations"] = [d, d]
                                if op == "AveragePool":
                                    attrs["count_include_pad"] = cip
                                g.add("%s_k%d_s%d_p%d%d%d%d_c%d_i%d_d%d" % (op.lower(), k, s, *pads,
                                                                          ceil, cip, d),
                                      op, [rnd(2, 3, 10, 11)], attrs, opset=19)
        for ap in ("SAME_UPPER", "SAME_LOWER", "VALID"):
            for s in (1, 2):
                for ceil in (0, 1):
                    g.add("%s_auto_%s_s%d_c%d" % (op.lower(), ap, s, ceil), op, [rnd(1, 2, 9, 8)],
                          {"kernel_shape": [3, 2], "strides": [s, s], "auto_pad": ap, "ceil_mode": ceil},
                          opset=19)
        g.add(op.lower() + "_1d", op, [rnd(2, 3, 15)], {"kernel_shape": [4], "strides": [3],
                                                          "pads": [1, 2]}, opset=19)
        g.add(op.lower() + "_3d", op, [rnd(1, 2, 6, 7, 8)],
              {"kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [0, 1, 1, 1, 1, 0]},
              opset=19)
        g.add(op.lower() + "_f64", op, [rnd(1, 2, 7, 7, dtype=np.float64)],
              {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, opset=19, tol=(1e-12, 1e-12))
    # ceil_mode dropping a last window that starts in the padding
    g.add("maxpool_ceil_drop", "MaxPool", [rnd(1, 1, 6, 6)],
          {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}, opset=19)
    g.add("averagepool_ceil_drop", "AveragePool", [rnd(1, 1, 6, 6)],
          {"kernel_shape": [2, 2], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
           "count_include_pad": 1}, opset=19)
    g.add("maxpool_uint8", "MaxPool", [RNG.integers(0, 255, (1, 2, 7, 7)).astype(np.uint8)],
          {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, opset=12)
    g.add("maxpool_int8", "MaxPool", [RNG.integers(-128, 127, (1, 2, 7, 7)).astype(np.int8)],
          {"kernel_shape": [2, 3]}, opset=12)
    for so in (0, 1):
        g.add("maxpool_indices_so%d" % so, "MaxPool", [rnd(2, 3, 7, 9)],
              {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "storage_order": so},
              opset=12, n_out=2)
    g.add("maxpool_sppf", "MaxPool", [rnd(1, 8, 20, 20)],
          {"kernel_shape": [5, 5], "strides": [1, 1], "pads": [2, 2, 2, 2]}, opset=11)
    for op in ("GlobalAveragePool", "GlobalMaxPool"):
        g.add(op.lower() + "_2d", op, [rnd(2, 5, 7, 6)], {}, opset=11)
        g.add(op.lower() + "_1d", op, [rnd(2, 3, 9)], {}, opset=11)
        g.add(op.lower() + "_3d", op, [rnd(1, 3, 4, 3, 5)], {}, opset=11)
        g.add(op.lower() + "_f64", op, [rnd(1, 3, 4, 5, dtype=np.float64)], {}, opset=11,
              tol=(1e-12, 1e-12))


def norm_cases(g):
    for shape in ((2, 3, 4, 5), (3, 4), (2, 3, 5), (1, 2, 3, 4, 2)):
        C = shape[1]
        var = np.abs(rnd(C)) + 0.1
        for eps in (1e-5, 1e-2):
            g.add("batchnorm_%s_e%g" % ("x".join(map(str, shape)), eps), "BatchNormalization",
                  [rnd(*shape), rnd(C), rnd(C), rnd(C), var.astype(np.float32)],
                  {"epsilon": eps}, opset=15, consts=(1, 2, 3, 4))
    g.add("batchnorm_train", "BatchNormalization",
          [rnd(2, 3, 4, 5), rnd(3), rnd(3), rnd(3), (np.abs(rnd(3)) + 0.5).astype(np.float32)],
          {"epsilon": 1e-3, "training_mode": 1, "momentum": 0.8}, opset=15, n_out=3)
    g.add("batchnorm_f64", "BatchNormalization",
          [rnd(2, 3, 4, dtype=np.float64), rnd(3, dtype=np.float64), rnd(3, dtype=np.float64),
           rnd(3, dtype=np.float64), (np.abs(rnd(3)) + 0.5).astype(np.float64)], {}, opset=15,
          tol=(1e-12, 1e-12))
    for shape in ((2, 3, 4, 5), (1, 4, 7), (2, 2, 3, 2, 4)):
        for eps in (1e-5, 0.1):
            g.add("instancenorm_%s_e%g" % ("x".join(map(str, shape)), eps), "InstanceNormalization",
                  [rnd(*shape) * 3 + 1, rnd(shape[1]), rnd(shape[1])], {"epsilon": eps}, opset=6)
    for size in (1, 3, 5):  # onnxruntime accepts odd sizes only
        for alpha, beta, bias in ((1e-4, 0.75, 1.0), (0.1, 0.5, 2.0)):
            g.add("lrn_s%d_a%g" % (size, alpha), "LRN", [rnd(2, 7, 4, 5) * 2],
                  {"size": size, "alpha": alpha, "beta": beta, "bias": bias}, opset=13)


def resize_cases(g):
    coords = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
              "asymmetric", "tf_crop_and_resize"]
    nearests = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
    x = rnd(1, 2, 5, 7)
    size_sets = {"up": [1, 2, 9, 17], "down": [1, 2, 3, 4], "mix": [1, 2, 8, 3], "one": [1, 2, 1, 1]}
    scale_sets = {"up2": [1, 1, 2, 2], "up_frac": [1, 1, 1.7, 2.5], "down": [1, 1, 0.6, 0.45]}
    roi = np.array([0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2], np.float32)
    for mode in ("nearest", "linear", "cubic"):
        for coord in coords:
            for nm in (nearests if mode == "nearest" else [None]):
                for key, sz in size_sets.items():
                    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
                    if nm:
                        attrs["nearest_mode"] = nm
                    r = roi if coord == "tf_crop_and_resize" else None
                    if coord == "tf_crop_and_resize":
                        attrs["extrapolation_value"] = -3.5
                    name = "resize_%s_%s_%s_sizes_%s" % (mode, coord, nm or "", key)
                    g.add(name, "Resize", [x, r, None, np.array(sz, np.int64)], attrs, opset=19,
                          consts=(1, 3), tol=(1e-4, 1e-4))
                for key, sc in scale_sets.items():
                    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
                    if nm:
                        attrs["nearest_mode"] = nm
                    r = roi if coord == "tf_crop_and_resize" else None
                    name = "resize_%s_%s_%s_scales_%s" % (mode, coord, nm or "", key)
                    g.add(name, "Resize", [x, r, np.array(sc, np.float32)], attrs, opset=19,
                          consts=(1, 2), tol=(1e-4, 1e-4))
    for a, ex in ((-0.5, 1), (-0.75, 1), (-0.5, 0)):
        g.add("resize_cubic_a%g_ex%d" % (a, ex), "Resize", [x, None, np.array([1, 1, 1.6, 0.7], np.float32)],
              {"mode": "cubic", "cubic_coeff_a": a, "exclude_outside": ex}, opset=19, consts=(2,))
    # N-linear over 3 axes, and a scaled batch axis (nearest)
    g.add("resize_trilinear", "Resize", [rnd(1, 2, 3, 4, 5), None, np.array([1, 1, 2, 1.5, 0.8], np.float32)],
          {"mode": "linear"}, opset=19, consts=(2,))
    g.add("resize_nearest_batch", "Resize", [rnd(2, 3, 4), None, np.array([2, 1, 1.5], np.float32)],
          {"mode": "nearest"}, opset=19, consts=(2,))
    # opset 18: axes, keep_aspect_ratio_policy
    g.add("resize_axes", "Resize", [x, None, None, np.array([10, 4], np.int64)],
          {"mode": "linear", "axes": [2, 3]}, opset=19, consts=(3,))
    for pol in ("not_larger", "not_smaller"):
        g.add("resize_keep_%s" % pol, "Resize", [x, None, None, np.array([9, 9], np.int64)],
              {"mode": "nearest", "axes": [2, 3], "keep_aspect_ratio_policy": pol}, opset=19,
              consts=(3,))
    # dtypes: nearest moves bytes; f64 linear
    g.add("resize_nearest_u8", "Resize", [RNG.integers(0, 255, (1, 3, 4, 5)).astype(np.uint8), None,
                                          np.array([1, 1, 2, 2], np.float32)], {"mode": "nearest"},
          opset=19, consts=(2,))
    # YOLO-style upsample, scales as a runtime input
    g.add("resize_yolo_up2", "Resize", [rnd(1, 4, 10, 10), np.zeros(0, np.float32),
                                        np.array([1, 1, 2, 2], np.float32)],
          {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
           "nearest_mode": "floor"}, opset=11, consts=(1,))


def matmul_cases(g):
    # (1-D x 1-D is left out: numpy and the ONNX spec give a scalar, onnxruntime [1])
    shapes = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
              ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 6)),
              ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
              ((7, 33), (33, 17)), ((2, 5, 1, 3), (1, 3, 2))]
    for i, (a, b) in enumerate(shapes):
        g.add("matmul_%d_%s__%s" % (i, "x".join(map(str, a)), "x".join(map(str, b))), "MatMul",
              [rnd(*a), rnd(*b)], {}, opset=13)
    g.add("matmul_big", "MatMul", [rnd(64, 300), rnd(300, 70)], {}, opset=13, tol=(1e-3, 1e-4))
    g.add("matmul_f64", "MatMul", [rnd(2, 3, 5, dtype=np.float64), rnd(5, 4, dtype=np.float64)], {},
          opset=13, tol=(1e-12, 1e-12))


def gemm_cases(g):
    M, N, K = 5, 7, 6
    for ta in (0, 1):
        for tb in (0, 1):
            for cshape in (None, (), (1,), (N,), (1, N), (M, 1), (M, N)):
                for alpha, beta in ((1.0, 1.0), (0.5, -2.0)):
                    a = rnd(K, M) if ta else rnd(M, K)
                    b = rnd(N, K) if tb else rnd(K, N)
                    ins = [a, b]
                    if cshape is not None:
                        ins.append(rnd(*cshape) if cshape else np.array(rnd(1)[0], np.float32))
                    cn = "none" if cshape is None else ("x".join(map(str, cshape)) or "scalar")
                    g.add("gemm_ta%d_tb%d_c%s_a%g" % (ta, tb, cn, alpha), "Gemm", ins,
                          {"transA": ta, "transB": tb, "alpha": alpha, "beta": beta}, opset=13)
    g.add("gemm_fc", "Gemm", [rnd(2, 512), rnd(100, 512), rnd(100)], {"transB": 1}, opset=13,
          consts=(1, 2), tol=(1e-3, 1e-4))


def pad_cases(g):
    x = rnd(2, 3, 4, 5)
    for mode in ("constant", "reflect", "edge", "wrap"):
        for name, pads in (("zero", [0] * 8), ("pos", [0, 1, 2, 3, 1, 0, 3, 2]),
                           ("neg", [0, -1, 1, -2, 0, 1, -1, 2]), ("big", [1, 0, 3, 4, 0, 2, 3, 4])):
            if mode == "reflect" and name == "big":
                continue  # onnxruntime rejects pads >= dim for reflect
            ins = [x, np.array(pads, np.int64)]
            if mode == "constant":
                ins.append(np.array(1.5, np.float32))
            g.add("pad_%s_%s" % (mode, name), "Pad", ins, {"mode": mode}, opset=19, consts=(1, 2))
    g.add("pad_axes", "Pad", [x, np.array([1, 2, -1, 3], np.int64), np.array(-2.0, np.float32),
                              np.array([1, -1], np.int64)], {"mode": "constant"}, opset=19,
          consts=(1, 2, 3))
    g.add("pad_axes_reflect", "Pad", [x, np.array([2, 1, 1, 3], np.int64), None,
                                      np.array([2, 3], np.int64)], {"mode": "reflect"}, opset=19,
          consts=(1, 3))
    g.add("pad_default_value", "Pad", [x, np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)], {}, opset=19,
          consts=(1,))
    for dt in (np.int32, np.int64, np.uint8, np.float16, np.float64, np.bool_, np.int8):
        xi = (RNG.integers(0, 100, (2, 3, 4)) > 50 if dt == np.bool_ else
              RNG.integers(0, 100, (2, 3, 4))).astype(dt)
        for mode in ("constant", "edge", "reflect"):
            ins = [xi, np.array([1, 0, 2, 0, 2, 1], np.int64)]
            if mode == "constant":
                ins.append(np.array(1, dt))
            g.add("pad_%s_%s" % (mode, np.dtype(dt).name), "Pad", ins, {"mode": mode}, opset=19,
                  consts=(1, 2), tol=(0, 0))
    g.add("pad_1d", "Pad", [rnd(6), np.array([3, 2], np.int64)], {"mode": "wrap"}, opset=19,
          consts=(1,))
    # opset 11 form (pads as input, no axes)
    g.add("pad_opset11", "Pad", [x, np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)],
          {"mode": "edge"}, opset=11, consts=(1,))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    filt = None
    if len(sys.argv) > 3 and sys.argv[2] == "--filter":
        filt = sys.argv[3]
    os.makedirs(out, exist_ok=True)
    g = Gen(out, filt)
    for f in (conv_cases, conv_transpose_cases, pool_cases, norm_cases, resize_cases,
              matmul_cases, gemm_cases, pad_cases):
        f(g)
    g.write()
    print("gen_cases: %d cases written to %s (%d not runnable by onnxruntime; resize: %d from exact "
          "arithmetic, %d from the ONNX reference)" % (g.n_ok, out, g.n_ort_fail, g.n_exact, g.n_ref),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
