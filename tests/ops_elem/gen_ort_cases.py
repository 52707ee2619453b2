#!/usr/bin/env python3
"""Single-node ONNX cases for the elementwise / activation / softmax / logic /
reduction / TopK ops, with expected outputs from onnxruntime, written in the
ONNX node-test layout (test_<name>/model.onnx + test_data_set_0/*.pb) so that
`kestrel conformance DIR --strict` checks them. Covers what Debian's ONNX 1.12
node tests do not: Mish, Gelu, legacy (opset < 13) Softmax, opset-18 Reduce*
axes inputs, float16 through ANY ops, integer Div/Mod/Pow/Clip/TopK, PRelu
slope shapes, and a seeded random sweep of N-d broadcasting per dtype.

usage: gen_ort_cases.py --out DIR        (exit 77 without onnx/onnxruntime)
"""
import os
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper as h, numpy_helper as nh
except ImportError as e:  # pragma: no cover
    print(f"SKIPPED: {e}", file=sys.stderr)
    sys.exit(77)

if len(sys.argv) != 3 or sys.argv[1] != "--out":
    print(__doc__, file=sys.stderr)
    sys.exit(2)
root = sys.argv[2]
os.makedirs(root, exist_ok=True)
rng = np.random.default_rng(0)
np_to_onnx = onnx.helper.np_dtype_to_tensor_dtype


def case(name, op, inputs, attrs={}, opset=18, n_out=1):
    """inputs: numpy arrays, None = omitted optional input."""
    ins = [h.make_tensor_value_info(f"x{i}", np_to_onnx(a.dtype), a.shape)
           for i, a in enumerate(inputs) if a is not None]
    in_names = [f"x{i}" if a is not None else "" for i, a in enumerate(inputs)]
    outs = [onnx.ValueInfoProto(name=f"y{i}") for i in range(n_out)]
    node = h.make_node(op, in_names, [f"y{i}" for i in range(n_out)], **attrs)
    m = h.make_model(h.make_graph([node], name, ins, outs),
                     opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    res = sess.run(None, {f"x{i}": a for i, a in enumerate(inputs) if a is not None})
    d = os.path.join(root, "test_" + name)
    os.makedirs(d + "/test_data_set_0", exist_ok=True)
    for i, r in enumerate(res):
        m.graph.output[i].CopyFrom(h.make_tensor_value_info(f"y{i}", np_to_onnx(r.dtype), r.shape))
    onnx.save(m, d + "/model.onnx")
    k = 0
    for i, a in enumerate(inputs):
        if a is None:
            continue
        with open(f"{d}/test_data_set_0/input_{k}.pb", "wb") as fp:
            fp.write(nh.from_array(a, f"x{i}").SerializeToString())
        k += 1
    for i, r in enumerate(res):
        with open(f"{d}/test_data_set_0/output_{i}.pb", "wb") as fp:
            fp.write(nh.from_array(r, f"y{i}").SerializeToString())


def f(*s):
    return rng.standard_normal(s).astype(np.float32) * 3

case('mish', 'Mish', [f(3, 4, 5)])
case('gelu', 'Gelu', [f(3, 4, 5)], opset=20)
case('gelu_tanh', 'Gelu', [f(3, 4, 5)], {'approximate': 'tanh'}, opset=20)
case('softmax_legacy_axis1', 'Softmax', [f(2, 3, 4)], {'axis': 1}, opset=11)
case('softmax_legacy_default', 'Softmax', [f(2, 3, 4)], opset=11)
case('logsoftmax_legacy_axis2', 'LogSoftmax', [f(2, 3, 4)], {'axis': 2}, opset=11)
case('softmax13_axis1', 'Softmax', [f(2, 3, 4)], {'axis': 1}, opset=13)
case('reduce_max18', 'ReduceMax', [f(2, 3, 4), np.array([0, 2], np.int64)], {'keepdims': 0}, opset=18)
case('reduce_l2_18', 'ReduceL2', [f(2, 3, 4), np.array([-1], np.int64)], opset=18)
case('reduce_prod_int', 'ReduceProd', [rng.integers(-3, 4, (2, 3, 4)).astype(np.int64), np.array([1], np.int64)], opset=18)
case('reduce_mean_all', 'ReduceMean', [f(2, 3, 4)], opset=18)
case('reduce_min_int32', 'ReduceMin', [rng.integers(-50, 50, (4, 5)).astype(np.int32), np.array([0], np.int64)], opset=18)
case('reduce_sum_f16', 'ReduceSum', [f(4, 5).astype(np.float16), np.array([1], np.int64)], opset=13)
case('div_int32_neg', 'Div', [rng.integers(-20, 20, (4, 5)).astype(np.int32), rng.integers(1, 7, (5,)).astype(np.int32) * np.array([1, -1, 1, -1, 1], np.int32)])
case('div_int64', 'Div', [rng.integers(-20, 20, (4, 5)).astype(np.int64), np.array([3], np.int64)])
case('round', 'Round', [np.array([0.5, 1.5, 2.5, -0.5, -2.5, 3.49, -7.51, 1e7 + 0.5], np.float32)])
case('clip_int32', 'Clip', [rng.integers(-20, 20, (4, 5)).astype(np.int32), np.array(-3, np.int32), np.array(7, np.int32)], opset=13)
case('clip_f16', 'Clip', [f(4, 5).astype(np.float16), np.array(-1, np.float16), np.array(2, np.float16)], opset=13)
case('clip_max_only', 'Clip', [f(4, 5), None, np.array(1.5, np.float32)], opset=13)
case('where_f16', 'Where', [rng.integers(0, 2, (3, 1)).astype(bool), f(1, 4).astype(np.float16), f(3, 4).astype(np.float16)])
case('where_int8_bcast', 'Where', [rng.integers(0, 2, (2, 1, 4)).astype(bool), rng.integers(-9, 9, (3, 1)).astype(np.int8), np.array(5, np.int8)])
case('topk_smallest_ties', 'TopK', [np.array([[3, 1, 1, 2, 1, 3], [0, 0, 0, 1, 1, 1]], np.float32), np.array([4], np.int64)], {'largest': 0}, n_out=2)
case('topk_axis0', 'TopK', [f(7, 3), np.array([3], np.int64)], {'axis': 0}, n_out=2)
case('topk_int64', 'TopK', [rng.integers(0, 5, (3, 9)).astype(np.int64), np.array([5], np.int64)], n_out=2)
case('argmin_last_int', 'ArgMin', [rng.integers(0, 3, (3, 8)).astype(np.int32)], {'axis': 1, 'select_last_index': 1})
case('add_bcast3', 'Add', [f(2, 1, 4, 1), f(3, 1, 5)])
case('mul_int8', 'Mul', [rng.integers(-20, 20, (4, 5)).astype(np.int8), rng.integers(-20, 20, (4, 5)).astype(np.int8)])
case('sub_f16_bcast', 'Sub', [f(2, 3, 4).astype(np.float16), f(4).astype(np.float16)])
case('pow_f32_scalar2', 'Pow', [f(3, 4), np.array(2, np.float32)])
case('pow_int64_int64', 'Pow', [rng.integers(-4, 4, (10,)).astype(np.int64), rng.integers(0, 5, (10,)).astype(np.int64)])
case('max_f16_3', 'Max', [f(3, 4).astype(np.float16), f(4).astype(np.float16), f(1, 1).astype(np.float16)])
case('mean_3', 'Mean', [f(3, 4), f(4), f(3, 1)])
case('sum_f64', 'Sum', [f(3, 4).astype(np.float64), f(4).astype(np.float64)])
case('prelu_c11', 'PRelu', [f(2, 3, 4, 5), f(3, 1, 1)])
case('prelu_scalar', 'PRelu', [f(2, 3, 4, 5), np.array([0.25], np.float32)])
case('prelu_1c11', 'PRelu', [f(2, 3, 4, 5), f(1, 3, 1, 1)])
case('hardswish_f64', 'HardSwish', [f(3, 4).astype(np.float64)])
case('sigmoid_f64', 'Sigmoid', [f(3, 4).astype(np.float64)])
case('relu_int32', 'Relu', [rng.integers(-9, 9, (3, 4)).astype(np.int32)], opset=14)
case('leakyrelu_f16', 'LeakyRelu', [f(3, 4).astype(np.float16)], {'alpha': 0.2})
case('equal_bool', 'Equal', [rng.integers(0, 2, (3, 4)).astype(bool), rng.integers(0, 2, (4,)).astype(bool)])
case('less_int64', 'Less', [rng.integers(0, 5, (3, 4)).astype(np.int64), rng.integers(0, 5, (3, 1)).astype(np.int64)])
case('greater_or_equal_f16', 'GreaterOrEqual', [f(3, 4).astype(np.float16), f(4).astype(np.float16)])
case('abs_int8', 'Abs', [rng.integers(-100, 100, (3, 4)).astype(np.int8)])
case('neg_int64', 'Neg', [rng.integers(-100, 100, (3, 4)).astype(np.int64)])
case('sign_f32', 'Sign', [np.array([-2, 0, 3, -0.0, 1e-30], np.float32)])
case('softplus_large', 'Softplus', [np.array([-100, -20, 0, 20, 100], np.float32)])
case('elu_f64', 'Elu', [f(3, 4).astype(np.float64)], {'alpha': 0.5})
case('selu_attrs', 'Selu', [f(3, 4)], {'alpha': 2.0, 'gamma': 3.0})
case('hardsigmoid_attrs', 'HardSigmoid', [f(3, 4)], {'alpha': 0.3, 'beta': 0.4})
case('not_4d', 'Not', [rng.integers(0, 2, (2, 3, 1, 4)).astype(bool)])
case('mod_f32_python', 'Mod', [f(3, 4), f(4)], {'fmod': 1})
case('mod_int8', 'Mod', [rng.integers(-100, 100, (3, 4)).astype(np.int8), np.array([3, -3, 7, -7], np.int8)])

# --- random N-d broadcasting sweep: shapes of rank 0..4 with random 1s
def rand_pair():
    n = int(rng.integers(0, 5))
    out = [int(rng.integers(1, 5)) for _ in range(n)]
    shapes = []
    for _ in range(2):
        r = int(rng.integers(0, n + 1))
        shapes.append(tuple(1 if rng.integers(0, 3) == 0 else d for d in out[n - r:]))
    return shapes


def rand_arr(shape, dt, positive=False):
    if np.issubdtype(dt, np.integer):
        lo = 1 if positive else (-9 if np.issubdtype(dt, np.signedinteger) else 0)
        return np.array(rng.integers(lo, 10, shape), dtype=dt)
    a = rng.standard_normal(shape) * 3
    if positive:
        a = np.abs(a) + 0.5
    return np.array(a, dtype=dt)


sweep = {
    "Add": [np.float32, np.float64, np.float16, np.int32, np.int64, np.int8, np.uint8],
    "Sub": [np.float32, np.float16, np.int32, np.int64],
    "Mul": [np.float32, np.float64, np.int32, np.int64, np.uint8],
    "Div": [np.float32, np.float64, np.int32, np.int64],
    "Max": [np.float32, np.float16, np.int32, np.int64, np.int8, np.uint8],
    "Min": [np.float32, np.float64, np.int32, np.int64, np.uint8],
    "Pow": [np.float32, np.float64],
    "Equal": [np.float32, np.int32, np.int64],
    "Greater": [np.float32, np.int32, np.int64, np.float16],
    "LessOrEqual": [np.float32, np.int64],
}
for op, dts in sweep.items():
    for dt in dts:
        for k in range(3):
            sa, sb = rand_pair()
            a = rand_arr(sa, dt, positive=(op == "Pow"))
            b = rand_arr(sb, dt, positive=(op == "Div" and np.issubdtype(dt, np.integer)))
            if op == "Pow":
                b = np.array(rng.uniform(-2, 2, sb), dtype=dt)
            case(f"bc_{op.lower()}_{np.dtype(dt).name}_{k}", op, [a, b], opset=17)
for k in range(4):
    sa, sb = rand_pair()
    sc, _ = rand_pair()
    case(f"bc_where_{k}", "Where", [np.array(rng.integers(0, 2, sc), dtype=bool),
                                    rand_arr(sa, np.float32), rand_arr(sb, np.float32)])
    case(f"bc_and_{k}", "And", [np.array(rng.integers(0, 2, sa), dtype=bool),
                                np.array(rng.integers(0, 2, sb), dtype=bool)])

# --- reductions over random axes subsets
for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"]:
    for k in range(4):
        shape = tuple(int(d) for d in rng.integers(1, 5, int(rng.integers(1, 5))))
        axes = [i for i in range(len(shape)) if rng.integers(0, 2)]
        x = f(*shape) if op != "ReduceProd" else rng.uniform(0.5, 1.5, shape).astype(np.float32)
        ins = [x, np.array(axes, np.int64)] if axes else [x]
        case(f"red_{op.lower()}_{k}", op, ins, {"keepdims": int(k % 2)})
print(f"wrote cases to {root}")
