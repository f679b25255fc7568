#!/usr/bin/env python3
"""Generate recurrent/ and control-flow cases the backend suite lacks (bidirectional and reverse
runs, uneven sequence_lens, clip, input_forget, linear_before_reset, batchwise layout with
lengths, Y_c, If reading outer-scope values, nested If), with reference outputs from
onnxruntime. Writes tests/data/onnx/generated/NAME/{model.onnx, test_data_set_K/*.pb} in the
backend-test layout that tests/onnx_conformance.rs reads. Re-run with:
    python3 tests/data/onnx/generate_recurrent.py
"""
import os, shutil, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto as TP
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
DST = os.path.join(HERE, "generated")
rng = np.random.default_rng(0)


def rnd(*shape, scale=1.0):
    return (rng.uniform(-1, 1, size=shape) * scale).astype(np.float32)


def make(name, nodes, inputs, outputs, opset, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def save(name, nodes, inputs, outputs, feeds_list, opset=14, inits=(), ref=None):
    """ref(feeds) -> outputs replaces running this model in onnxruntime (layout 1, which
    onnxruntime refuses)."""
    model = make(name, nodes, inputs, outputs, opset, inits)
    d = os.path.join(DST, name)
    os.makedirs(d)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for k, feeds in enumerate(feeds_list):
        outs = ref(feeds) if ref else ort_run(model, feeds)
        sd = os.path.join(d, f"test_data_set_{k}")
        os.makedirs(sd)
        for i, vi in enumerate(inputs):
            t = numpy_helper.from_array(feeds[vi.name], vi.name)
            open(os.path.join(sd, f"input_{i}.pb"), "wb").write(t.SerializeToString())
        for i, (vi, o) in enumerate(zip(outputs, outs)):
            t = numpy_helper.from_array(np.asarray(o), vi.name)
            open(os.path.join(sd, f"output_{i}.pb"), "wb").write(t.SerializeToString())


def vi(name, dtype=TP.FLOAT, shape=None):
    return helper.make_tensor_value_info(name, dtype, shape)


def rec(op, name, gates, *, T, B, I, H, dirs, lens=None, h0=False, c0=False, peep=False,
        outs=("Y", "Y_h"), layout=0, **attrs):
    nd = 2 if dirs == "bidirectional" else 1
    feeds = {
        "X": rnd(*((B, T, I) if layout else (T, B, I))),
        "W": rnd(nd, gates * H, I, scale=0.8),
        "R": rnd(nd, gates * H, H, scale=0.8),
        "B": rnd(nd, 2 * gates * H, scale=0.5),
    }
    names = ["X", "W", "R", "B"]
    if lens is not None:
        feeds["sequence_lens"] = np.array(lens, dtype=np.int32)
    names.append("sequence_lens" if lens is not None else "")
    state = (B, nd, H) if layout else (nd, B, H)
    if h0:
        feeds["initial_h"] = rnd(*state)
    names.append("initial_h" if h0 else "")
    if op == "LSTM":
        if c0:
            feeds["initial_c"] = rnd(*state)
        names.append("initial_c" if c0 else "")
        if peep:
            feeds["P"] = rnd(nd, 3 * H)
        names.append("P" if peep else "")
    while names and names[-1] == "":
        names.pop()
    node = helper.make_node(op, names, list(outs), direction=dirs, hidden_size=H, layout=layout,
                            **attrs)
    inputs = [vi(n, TP.INT32 if n == "sequence_lens" else TP.FLOAT, list(feeds[n].shape))
              for n in names if n]
    outputs = [vi(o) for o in outs if o]
    ref = None
    if layout:
        # onnxruntime runs only layout 0: run the time-major twin on transposed operands.
        twin = helper.make_node(op, names, list(outs), direction=dirs, hidden_size=H, **attrs)
        swap = {"X": (1, 0, 2), "initial_h": (1, 0, 2), "initial_c": (1, 0, 2)}
        tf = {n: v.transpose(swap[n]) if n in swap else v for n, v in feeds.items()}
        tin = [vi(n, TP.INT32 if n == "sequence_lens" else TP.FLOAT, list(tf[n].shape))
               for n in names if n]
        tm = make(name, [twin], tin, outputs, 14)
        back = {"Y": (2, 0, 1, 3), "Y_h": (1, 0, 2), "Y_c": (1, 0, 2)}
        ref = lambda f: [o.transpose(back[n]) for n, o in zip([o for o in outs if o],
                                                               ort_run(tm, tf))]
    save(name, [node], inputs, outputs, [feeds], ref=ref)


def if_cases():
    # Branches read the outer input x and an outer initializer w (onnxruntime refuses a branch
    # output that is an outer value itself, hence the Identity). Two data sets: the condition true, then false.
    x = vi("x", TP.FLOAT, [2, 3])
    cond = vi("cond", TP.BOOL, [])
    w = numpy_helper.from_array(rnd(2, 3), "w")
    then_g = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["t0"]), helper.make_node("Tanh", ["t0"], ["t1"]),
         helper.make_node("Identity", ["x"], ["t2"])],
        "then", [], [vi("t1"), vi("t2")])
    else_g = helper.make_graph(
        [helper.make_node("Mul", ["x", "x"], ["e0"]), helper.make_node("Sub", ["e0", "w"], ["e1"])],
        "else", [], [vi("e1"), vi("e0")])
    node = helper.make_node("If", ["cond"], ["y", "z"], then_branch=then_g, else_branch=else_g)
    xs = rnd(2, 3)
    save("if_outer_scope", [node], [cond, x], [vi("y"), vi("z")],
         [{"cond": np.array(True), "x": xs}, {"cond": np.array(False), "x": xs}], opset=13,
         inits=[w])
    # A condition known at load (an initializer): only its branch is compiled and run.
    c = numpy_helper.from_array(np.array(False), "c")
    node = helper.make_node("If", ["c"], ["y", "z"], then_branch=then_g, else_branch=else_g)
    save("if_constant_condition", [node], [x], [vi("y"), vi("z")], [{"x": xs}], opset=13,
         inits=[w, c])
    # Nested: the inner If, inside the outer then_branch, reads the outermost x and w.
    inner_then = helper.make_graph([helper.make_node("Add", ["x", "w"], ["a"])], "it", [],
                                   [vi("a")])
    inner_else = helper.make_graph([helper.make_node("Sub", ["x", "w"], ["b"])], "ie", [],
                                   [vi("b")])
    outer_then = helper.make_graph(
        [helper.make_node("If", ["cond2"], ["r"], then_branch=inner_then,
                          else_branch=inner_else),
         helper.make_node("Relu", ["r"], ["r2"])], "ot", [], [vi("r2")])
    outer_else = helper.make_graph([helper.make_node("Neg", ["x"], ["n"])], "oe", [], [vi("n")])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=outer_then,
                            else_branch=outer_else)
    cond2 = vi("cond2", TP.BOOL, [])
    save("if_nested", [node], [cond, cond2, x], [vi("y")],
         [{"cond": np.array(a), "cond2": np.array(b), "x": xs}
          for a, b in [(True, True), (True, False), (False, True)]], opset=13, inits=[w])


shutil.rmtree(DST, ignore_errors=True)
os.makedirs(DST)
rec("LSTM", "lstm_bidirectional_seq_lens", 4, T=5, B=3, I=4, H=3, dirs="bidirectional",
    lens=[5, 2, 1], h0=True, c0=True, peep=True, outs=("Y", "Y_h", "Y_c"))
rec("LSTM", "lstm_reverse_clip_input_forget", 4, T=4, B=2, I=3, H=4, dirs="reverse",
    lens=[3, 4], h0=True, c0=True, outs=("Y", "Y_h", "Y_c"), clip=0.6, input_forget=1)
rec("LSTM", "lstm_batchwise_bidirectional_seq_lens", 4, T=4, B=3, I=2, H=3,
    dirs="bidirectional", lens=[4, 3, 2], h0=True, c0=True, outs=("Y", "", "Y_c"), layout=1)
rec("LSTM", "lstm_relu_activations", 4, T=3, B=2, I=3, H=2, dirs="bidirectional",
    outs=("Y", "Y_h"), activations=["Sigmoid", "Relu", "Tanh", "Sigmoid", "Tanh", "Relu"])
rec("GRU", "gru_bidirectional_seq_lens_linear_before_reset", 3, T=5, B=3, I=4, H=3,
    dirs="bidirectional", lens=[2, 5, 4], h0=True, linear_before_reset=1)
rec("GRU", "gru_reverse_seq_lens_clip", 3, T=4, B=2, I=3, H=5, dirs="reverse", lens=[4, 1],
    h0=True, clip=0.7)
rec("GRU", "gru_batchwise_bidirectional", 3, T=3, B=2, I=3, H=2, dirs="bidirectional",
    h0=True, layout=1)
rec("RNN", "rnn_bidirectional_seq_lens_relu", 1, T=4, B=3, I=3, H=4, dirs="bidirectional",
    lens=[4, 2, 3], h0=True, activations=["Relu", "Tanh"])
if_cases()
print(f"generated {len(os.listdir(DST))} cases (onnxruntime {ort.__version__})", file=sys.stderr)
