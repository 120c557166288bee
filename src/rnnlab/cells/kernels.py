"""The compiled code of the time loops: each step's gate arithmetic, one call each; the
packed recurrent product (:mod:`rnnlab.cells.gemm` explains it); and, for small sizes, the
whole loops.

Shapes: T steps, B batch, H hidden units; gate blocks stacked as in PyTorch (LSTM i, f, g,
o; GRU r, z, n).

The time loops of the cells do two kinds of work per step: one matrix product
(``h_{t-1} @ W_hh^T`` forward and ``da_t @ W_hh`` backward, :mod:`rnnlab.cells.gemm`) and
the gate arithmetic around it. Written as NumPy expressions, the gate arithmetic is a dozen
or more separate passes over (B, H) arrays per step, each with its own call overhead and
temporary; at small B and H the overhead dominates, and at large ones the passes over memory
and NumPy's scalar tanh do. Here each step's gate arithmetic is one compiled call (Numba)
that takes the whole sequence arrays and the step t, adds the biases itself (so the input
projection needs no pass of its own) and, in backward, sums the bias gradients while the
step's rows are in cache.

How the loops are cut. Inside a call, for each row b, every equation of the cells'
docstrings is its own loop over the hidden units, touching only the few arrays of that
equation, each as a contiguous row; the tags in the comments are the equations' numbers.
LLVM vectorizes such loops (8 float32 lanes). One loop doing all of a step's work at once,
over a dozen arrays, it left scalar: measured at B=256, H=512, 18 ns per hidden unit for the
LSTM's forward step that way, 3.3 ns cut into loops (backward 6.1 -> 2.6; GRU forward
13 -> 2.4, RNN 3.6 -> 0.6). Each gate's activation is a loop of its own (one loop over all
4H choosing sigmoid or tanh ran at half the speed), and the RNN's branch on its nonlinearity
sits outside the loops. At a padded row (the per-row ``valid`` flag) the state
is copied through, and backward passes the gradients through without arithmetic.

Nonlinearities: :func:`tanh` and :func:`sigmoid` work on one scalar. In float64 they are the
C library's tanh (sigmoid(a) = (1 + tanh(a/2)) / 2, which never overflows), accurate to the
last bit or two, which is what the gradient checks need. In float32, tanh is a rational
approximation (Eigen's ``ptanh_float``: clamp |a| to 7.9053, then odd polynomial / even
polynomial), which the compiler vectorizes: within 4e-7 of the exact tanh everywhere
(``tests/test_kernels.py`` measures it), about eight times faster than NumPy's float32 tanh
on this kind of machine, and NaN stays NaN so that a diverging run is still caught.
"""

from __future__ import annotations

import math

import numpy as np
import llvmlite.binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array

# error_model "numpy": a division never raises, so loops vectorize; "contract": fused
# multiply-adds allowed (nothing else of fastmath: NaN and inf keep their meaning).
JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}, "nogil": True}

TANH_CLAMP = 7.90531110763549805  # beyond it the float32 rational is +-1 within 3e-7
SATURATED = 9.011  # from here on float32's tanh rounds to exactly +-1
_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
      5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)


# -- scalar nonlinearities, one implementation per float type -----------------------------
def tanh(a):
    """tanh(a) for one scalar (compiled; see the module docstring)."""
    return math.tanh(a)


def sigmoid(a):
    """1 / (1 + exp(-a)) = (1 + tanh(a / 2)) / 2 for one scalar (compiled)."""
    return 0.5 + 0.5 * math.tanh(0.5 * a)


def dsigmoid(y):
    """sigmoid'(a) = y (1 - y), from y = sigmoid(a)."""
    return y * (1.0 - y)


def dtanh(y):
    """tanh'(a) = 1 - y^2, from y = tanh(a)."""
    return 1.0 - y * y


def relu(a):
    """max(a, 0); NaN stays NaN."""
    return 0.0 if a < 0 else a


def drelu(y):
    """relu'(a) = 1 where y > 0, else 0 (PyTorch's convention at a = 0)."""
    return 1.0 if y > 0 else 0.0


def one_minus(y):
    """1 - y, in y's type."""
    return 1.0 - y


def flush(v):
    """v, or 0 where |v| is below the smallest normal number of its type (denormals)."""
    return 0.0 if abs(v) < np.finfo(np.float64).tiny else v


@njit(**JIT)
def _tanh32(a):
    """Eigen's float32 rational tanh; exactly +-1 where float32's tanh rounds to it (|a| >=
    9.011); NaN in gives NaN out (the comparisons leave it alone)."""
    if a >= np.float32(SATURATED):
        return np.float32(1.0)
    if a <= -np.float32(SATURATED):
        return np.float32(-1.0)
    limit = np.float32(TANH_CLAMP)
    if a > limit:
        a = limit
    if a < -limit:
        a = -limit
    a2 = a * a
    p = np.float32(_P[0])
    p = p * a2 + np.float32(_P[1])
    p = p * a2 + np.float32(_P[2])
    p = p * a2 + np.float32(_P[3])
    p = p * a2 + np.float32(_P[4])
    p = p * a2 + np.float32(_P[5])
    p = p * a2 + np.float32(_P[6])
    q = np.float32(_Q[0])
    q = q * a2 + np.float32(_Q[1])
    q = q * a2 + np.float32(_Q[2])
    q = q * a2 + np.float32(_Q[3])
    return a * p / q


@overload(tanh)
def _tanh_typed(a):
    if a == types.float32:
        return lambda a: _tanh32(a)
    return lambda a: math.tanh(a)


@overload(sigmoid)
def _sigmoid_typed(a):
    if a == types.float32:
        half = np.float32(0.5)
        return lambda a: half + half * _tanh32(half * a)
    return lambda a: 0.5 + 0.5 * math.tanh(0.5 * a)


@overload(dsigmoid)
def _dsigmoid_typed(y):
    if y == types.float32:
        one = np.float32(1.0)
        return lambda y: y * (one - y)
    return lambda y: y * (1.0 - y)


@overload(dtanh)
def _dtanh_typed(y):
    if y == types.float32:
        one = np.float32(1.0)
        return lambda y: one - y * y
    return lambda y: 1.0 - y * y


@overload(relu)
def _relu_typed(a):
    zero = np.float32(0.0) if a == types.float32 else 0.0
    return lambda a: zero if a < zero else a


@overload(drelu)
def _drelu_typed(y):
    zero, one = (np.float32(0.0), np.float32(1.0)) if y == types.float32 else (0.0, 1.0)
    return lambda y: one if y > zero else zero


@overload(one_minus)
def _one_minus_typed(y):
    one = np.float32(1.0) if y == types.float32 else 1.0
    return lambda y: one - y


@overload(flush)
def _flush_typed(v):
    if v == types.float32:
        zero, tiny = np.float32(0.0), np.float32(np.finfo(np.float32).tiny)
    else:
        zero, tiny = 0.0, np.finfo(np.float64).tiny
    return lambda v: zero if abs(v) < tiny else v


@njit(**JIT)
def tanh_array(a, out):
    """out = tanh(a), elementwise over flat contiguous arrays (for tests and callers)."""
    for n in range(a.size):
        out.flat[n] = tanh(a.flat[n])


@njit(**JIT)
def _copy(src, dst):
    """dst = src, for two rows of the same length."""
    for k in range(dst.size):
        dst[k] = src[k]


@njit(**JIT)
def _zero(dst):
    """dst = 0 over one row."""
    for k in range(dst.size):
        dst[k] = 0


@njit(**JIT)
def _split4(row):
    """One row of 4H -> its four gate blocks, in PyTorch's order (LSTM i, f, g, o)."""
    hidden = row.size // 4
    return row[:hidden], row[hidden:2 * hidden], row[2 * hidden:3 * hidden], row[3 * hidden:]


@njit(**JIT)
def _split3(row):
    """One row of 3H -> its three gate blocks, in PyTorch's order (GRU r, z, n)."""
    hidden = row.size // 3
    return row[:hidden], row[hidden:2 * hidden], row[2 * hidden:]


@njit(**JIT)
def _accumulate(total, row):
    """total += row: a bias gradient, summed over the batch while the step's row is in cache."""
    for j in range(total.size):
        total[j] += row[j]


# -- the recurrent product: packed panels, register tiles (see rnnlab.cells.gemm) ----------
def _register_shape() -> tuple:
    """(bytes per vector, vectors per panel row) for this machine's vector registers.

    With AVX-512 (32 registers of 64 bytes) a tile keeps 4 rows x 4 vectors = 16
    accumulators in half the registers; elsewhere (AVX2: 16 registers of 32 bytes; NEON),
    4 rows x 2 vectors of 32 bytes, 8 accumulators, so that nothing spills to memory.
    """
    if llvm.get_host_cpu_features().get("avx512f"):
        return 64, 4
    return 32, 2


VECTOR_BYTES, VECTORS = _register_shape()
ROWS = 4  # rows of a tile


def _splat(builder, value, vector_type):
    """A vector with ``value`` in every lane."""
    undef = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(first, undef, zeros)


def _tile(rows: int):
    """The tile for ``rows`` rows (1 to 4): ``tile(a, panels, out, p, m0)`` sets
    out[m0:m0+rows, p*L:(p+1)*L] = a[m0:m0+rows] @ W[:, p*L:(p+1)*L], columns past N left
    alone. a (M, K), panels (P, K, L) and out (M, N), C-contiguous, one float dtype; K >= 1.
    """

    @intrinsic
    def tile(typingctx, a, panels, out, p, m0):
        arrays = (a, panels, out)
        if not all(isinstance(x, types.Array) and x.layout == "C" for x in arrays):
            return None
        dtype = a.dtype
        if not isinstance(dtype, types.Float) or any(x.dtype != dtype for x in arrays):
            return None
        lanes = VECTOR_BYTES // (dtype.bitwidth // 8)
        width = VECTORS * lanes
        align = ir.Constant(ir.IntType(32), dtype.bitwidth // 8)

        def codegen(context, builder, sig, args):
            a_ary = make_array(sig.args[0])(context, builder, args[0])
            w_ary = make_array(sig.args[1])(context, builder, args[1])
            o_ary = make_array(sig.args[2])(context, builder, args[2])
            p_val, m0_val = args[3], args[4]
            intp = context.get_value_type(types.intp)
            vector = ir.VectorType(context.get_value_type(dtype), lanes)
            suffix = f"v{lanes}f{dtype.bitwidth}"
            fmuladd = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vector, [vector] * 3), "llvm.fmuladd." + suffix)
            mask_type = ir.VectorType(ir.IntType(1), lanes)
            store = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(ir.VoidType(), [vector, vector.as_pointer(), ir.IntType(32),
                                                mask_type]),
                "llvm.masked.store." + suffix + ".p0")

            def const(n):
                return ir.Constant(intp, n)

            depth = cgutils.unpack_tuple(builder, a_ary.shape)[1]
            n_cols = cgutils.unpack_tuple(builder, o_ary.shape)[1]
            panel = builder.gep(w_ary.data, [builder.mul(p_val, builder.mul(depth, const(width)))])
            a_rows = [builder.gep(a_ary.data, [builder.mul(builder.add(m0_val, const(r)), depth)])
                      for r in range(rows)]
            # the sum over k: one loop, the accumulators carried as phi values (registers)
            entry = builder.block
            loop = builder.append_basic_block("tile.k")
            done = builder.append_basic_block("tile.done")
            builder.branch(loop)
            builder.position_at_end(loop)
            k = builder.phi(intp)
            k.add_incoming(const(0), entry)
            zero = ir.Constant(vector, [0.0] * lanes)
            acc = [[builder.phi(vector) for _ in range(VECTORS)] for _ in range(rows)]
            for row in acc:
                for phi in row:
                    phi.add_incoming(zero, entry)
            w_row = builder.gep(panel, [builder.mul(k, const(width))])  # W[k, p*L:(p+1)*L]
            w_vec = [builder.load(builder.bitcast(builder.gep(w_row, [const(v * lanes)]),
                                                  vector.as_pointer()), align=align.constant)
                     for v in range(VECTORS)]
            new = []
            for r in range(rows):
                a_rk = _splat(builder, builder.load(builder.gep(a_rows[r], [k])), vector)
                new.append([builder.call(fmuladd, [a_rk, w_vec[v], acc[r][v]])
                            for v in range(VECTORS)])
            k_next = builder.add(k, const(1))
            k.add_incoming(k_next, loop)
            for r in range(rows):
                for v in range(VECTORS):
                    acc[r][v].add_incoming(new[r][v], loop)
            builder.cbranch(builder.icmp_signed("<", k_next, depth), loop, done)
            # out[m0 + r, columns]: the lanes at or past N masked off
            builder.position_at_end(done)
            lane_index = ir.Constant(ir.VectorType(intp, lanes), list(range(lanes)))
            limit = _splat(builder, n_cols, ir.VectorType(intp, lanes))
            for r in range(rows):
                row_index = builder.add(m0_val, const(r))
                o_row = builder.gep(o_ary.data, [builder.mul(row_index, n_cols)])
                for v in range(VECTORS):
                    column = builder.add(builder.mul(p_val, const(width)), const(v * lanes))
                    columns = builder.add(_splat(builder, column, ir.VectorType(intp, lanes)),
                                          lane_index)
                    mask = builder.icmp_signed("<", columns, limit)
                    target = builder.bitcast(builder.gep(o_row, [column]), vector.as_pointer())
                    builder.call(store, [new[r][v], target, align, mask])
            return context.get_dummy_value()

        return types.void(a, panels, out, types.intp, types.intp), codegen

    return tile


_tile1, _tile2, _tile3, _tile4 = (_tile(rows) for rows in (1, 2, 3, 4))


@njit(**JIT)
def matmul_packed(a, panels, out):
    """out = a @ W for W given as its panels (``pack``): a (M, K), panels (P, K, L), out (M, N)
    with (P - 1) L < N <= P L; all C-contiguous, one float dtype."""
    n_rows, depth = a.shape
    if depth == 0:
        out[:] = 0
        return
    full = n_rows - n_rows % ROWS
    rest = n_rows - full
    for p in range(panels.shape[0]):  # a panel, (K, L): in L1 across the row blocks
        for m0 in range(0, full, ROWS):
            _tile4(a, panels, out, p, m0)
        if rest == 1:
            _tile1(a, panels, out, p, full)
        elif rest == 2:
            _tile2(a, panels, out, p, full)
        elif rest == 3:
            _tile3(a, panels, out, p, full)


# -- LSTM ----------------------------------------------------------------------------------
@njit(**JIT)
def lstm_forward_step(t, a, hw, bias, valid, h, c, tanh_c):
    """Equations (1)-(5) of :mod:`rnnlab.cells.lstm` for step t (0-based) of the sequence.

    Parameters
    ----------
    t : int
    a : (T, B, 4H)
        In at t: W_ih x_t. Out at t: the activated gates i, f, g, o.
    hw : (B, 4H)
        W_hh h_{t-1}, the recurrent half of (1).
    bias : (4H,)
        b_ih + b_hh (zeros for a layer without biases).
    valid : (T, B) bool
        False at a padded step: the state passes through.
    h, c : (T+1, B, H)
        Read h_{t-1}, c_{t-1} at [t]; write h_t, c_t at [t + 1].
    tanh_c : (T, B, H)
        Out at t: tanh(c_t).
    """
    batch = hw.shape[0]
    b_i, b_f, b_g, b_o = _split4(bias)
    for b in range(batch):
        i, f, g, o = _split4(a[t, b])
        r_i, r_f, r_g, r_o = _split4(hw[b])
        for k in range(i.size):  # (1), (2)
            i[k] = sigmoid(i[k] + b_i[k] + r_i[k])
        for k in range(f.size):
            f[k] = sigmoid(f[k] + b_f[k] + r_f[k])
        for k in range(g.size):
            g[k] = tanh(g[k] + b_g[k] + r_g[k])
        for k in range(o.size):
            o[k] = sigmoid(o[k] + b_o[k] + r_o[k])
        c_prev, c_t, h_t, tanh_c_t = c[t, b], c[t + 1, b], h[t + 1, b], tanh_c[t, b]
        for k in range(c_t.size):
            c_t[k] = flush(f[k] * c_prev[k] + i[k] * g[k])  # (3)
        for k in range(c_t.size):
            tanh_c_t[k] = tanh(c_t[k])  # (4)
            h_t[k] = flush(o[k] * tanh_c_t[k])
        if not valid[t, b]:  # (5)
            _copy(c_prev, c_t)
            _copy(h[t, b], h_t)


@njit(**JIT)
def lstm_backward_step(t, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all, dbias):
    """The backward equations of :mod:`rnnlab.cells.lstm` for step t, up to (1).

    Parameters
    ----------
    t : int
    dy : (T, B, H)
        In at t: dL/dy_t. Out at t: dh, the total dL/dh_t (6).
    dh_next : (B, H)
        The part of dL/dh_t that went through W_hh at the step after.
    carry : (B, H)
        In: the part of dL/dh_t passed straight through padded steps after. Out: the same
        for h_{t-1} (all of dh at a padded step, else 0).
    dc : (B, H)
        In: dL/dc_t from the future. Out: dL/dc_{t-1}.
    gates : (T, B, 4H)
        The activated i, f, g, o.
    c : (T+1, B, H)
        The cell states; c_{t-1} at [t].
    tanh_c : (T, B, H)
    valid : (T, B) bool
    da : (T, B, 4H)
        Out at t: dL/d of the pre-activations, zero at a padded step.
    dc_all : (T, B, H)
        Out at t: the total dL/dc_t (diagnostics).
    dbias : (4H,)
        Accumulates the sum over the batch of da (1): the bias gradient.
    """
    batch, hidden = dc.shape
    for b in range(batch):
        dh, dc_b, dc_t, carry_b, dh_next_b = dy[t, b], dc[b], dc_all[t, b], carry[b], dh_next[b]
        if not valid[t, b]:  # (5): nothing computed here, the gradients pass through
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            _copy(carry_b, dh)
            _copy(dc_b, dc_t)
            _zero(da[t, b])
            continue
        i, f, g, o = _split4(gates[t, b])
        da_i, da_f, da_g, da_o = _split4(da[t, b])
        tc, c_prev = tanh_c[t, b], c[t, b]
        for k in range(hidden):
            dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (6)
        _zero(carry_b)
        for k in range(hidden):
            dc_t[k] = flush(dc_b[k] + dh[k] * o[k] * dtanh(tc[k]))  # (4)
        for k in range(hidden):
            da_o[k] = flush(dh[k] * tc[k] * dsigmoid(o[k]))  # (4), (2)
        for k in range(hidden):
            da_i[k] = flush(dc_t[k] * g[k] * dsigmoid(i[k]))  # (3), (2)
        for k in range(hidden):
            da_f[k] = flush(dc_t[k] * c_prev[k] * dsigmoid(f[k]))
        for k in range(hidden):
            da_g[k] = flush(dc_t[k] * i[k] * dtanh(g[k]))
        for k in range(hidden):
            dc_b[k] = flush(dc_t[k] * f[k])  # (3) dL/dc_{t-1}
        _accumulate(dbias, da[t, b])  # (1)


# -- GRU -----------------------------------------------------------------------------------
@njit(**JIT)
def gru_forward_step(t, a, hw, bias_ih, bias_hh, valid, h, h_n):
    """Equations (1)-(6) of :mod:`rnnlab.cells.gru` for step t (0-based) of the sequence.

    Parameters
    ----------
    t : int
    a : (T, B, 3H)
        In at t: W_ih x_t. Out at t: the activated gates r, z, n.
    hw : (B, 3H)
        W_hh h_{t-1}, without its bias.
    bias_ih, bias_hh : (3H,)
        b_ih and b_hh (zeros for a layer without biases).
    valid : (T, B) bool
    h : (T+1, B, H)
        Reads h_{t-1} at [t], writes h_t at [t + 1].
    h_n : (T, B, H)
        Out at t: W_hn h_{t-1} + b_hn (the candidate's recurrent part, for backward).
    """
    batch, hidden = hw.shape[0], hw.shape[1] // 3
    _, _, b_in = _split3(bias_ih)
    _, _, b_hn = _split3(bias_hh)
    for b in range(batch):
        gates, recurrent = a[t, b], hw[b]
        for j in range(2 * hidden):  # (1)-(3): r and z
            gates[j] = sigmoid(gates[j] + bias_ih[j] + recurrent[j] + bias_hh[j])
        r, z, n = _split3(gates)
        _, _, w_hn_h = _split3(recurrent)
        hn, h_prev, h_t = h_n[t, b], h[t, b], h[t + 1, b]
        for k in range(hidden):
            hn[k] = w_hn_h[k] + b_hn[k]  # (2)
        for k in range(hidden):
            n[k] = tanh(n[k] + b_in[k] + r[k] * hn[k])  # (1), (4)
        if valid[t, b]:
            for k in range(hidden):
                h_t[k] = flush(n[k] + z[k] * (h_prev[k] - n[k]))  # (5) (1 - z) n + z h_{t-1}
        else:  # (6)
            _copy(h_prev, h_t)


@njit(**JIT)
def gru_backward_step(t, dy, dh_next, carry, gates, h, h_n, valid, da_x, da_h, dbias_ih,
                      dbias_hh):
    """The backward equations of :mod:`rnnlab.cells.gru` for step t, up to (1) and (2).

    Parameters
    ----------
    t : int
    dy : (T, B, H)
        In at t: dL/dy_t. Out at t: dh, the total dL/dh_t (7).
    dh_next : (B, H)
        The part of dL/dh_t that went through W_hh at the step after.
    carry : (B, H)
        In: the part of dL/dh_t that went straight from the step after (dh * z, or all of
        dh at a padded step). Out: the same for h_{t-1}.
    gates : (T, B, 3H)
        The activated r, z, n.
    h : (T+1, B, H)
        The states; h_{t-1} at [t].
    h_n : (T, B, H)
        W_hn h_{t-1} + b_hn.
    valid : (T, B) bool
    da_x, da_h : (T, B, 3H)
        Out at t: the gradients of the input-side and recurrent-side pre-activations, zero
        at a padded step.
    dbias_ih, dbias_hh : (3H,)
        Accumulate the sums over the batch of da_x and da_h: the bias gradients.
    """
    batch, hidden = carry.shape
    for b in range(batch):
        dh, carry_b, dh_next_b = dy[t, b], carry[b], dh_next[b]
        if not valid[t, b]:  # (6)
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            _copy(carry_b, dh)
            _zero(da_x[t, b])
            _zero(da_h[t, b])
            continue
        r, z, n = _split3(gates[t, b])
        dx_row, dh_row = da_x[t, b], da_h[t, b]
        da_r, da_z, da_n = _split3(dx_row)
        _, _, dh_n = _split3(dh_row)
        hn, h_prev = h_n[t, b], h[t, b]
        for k in range(hidden):
            dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (7)
        for k in range(hidden):
            da_n[k] = flush(dh[k] * one_minus(z[k]) * dtanh(n[k]))  # (5), (4)
        for k in range(hidden):
            da_r[k] = flush(da_n[k] * hn[k] * dsigmoid(r[k]))  # (4), (3)
        for k in range(hidden):
            da_z[k] = flush(dh[k] * (h_prev[k] - n[k]) * dsigmoid(z[k]))  # (5), (3)
        _copy(dx_row[:2 * hidden], dh_row[:2 * hidden])  # r and z: the same on both sides
        for k in range(hidden):
            dh_n[k] = flush(da_n[k] * r[k])  # (4)
        for k in range(hidden):
            carry_b[k] = flush(dh[k] * z[k])  # (5) the direct path to h_{t-1}
        _accumulate(dbias_ih, dx_row)  # (1)
        _accumulate(dbias_hh, dh_row)  # (2)


# -- vanilla RNN ---------------------------------------------------------------------------
TANH, RELU, SIGMOID = 0, 1, 2  # the nonlinearity codes the RNN kernels take


@njit(**JIT)
def _activate_row(a, code):
    """a = f(a) in place over one row; the branch on ``code`` stays outside the loops."""
    if code == TANH:
        for k in range(a.size):
            a[k] = flush(tanh(a[k]))
    elif code == SIGMOID:
        for k in range(a.size):
            a[k] = flush(sigmoid(a[k]))
    else:
        for k in range(a.size):
            a[k] = relu(a[k])


@njit(**JIT)
def _derivative_row(y, out, code):
    """out *= f'(a), written from y = f(a), over one row."""
    if code == TANH:
        for k in range(y.size):
            out[k] = flush(out[k] * dtanh(y[k]))
    elif code == SIGMOID:
        for k in range(y.size):
            out[k] = flush(out[k] * dsigmoid(y[k]))
    else:
        for k in range(y.size):
            out[k] = out[k] * drelu(y[k])


@njit(**JIT)
def rnn_forward_step(t, a, hw, bias, valid, code, h):
    """Equations (1)-(3) of :mod:`rnnlab.cells.rnn` for step t: h_t = f(a_t + W_hh h_{t-1}).

    ``a`` (T, B, H) holds W_ih x_t; ``hw`` (B, H) W_hh h_{t-1}; ``bias`` (H,) b_ih + b_hh
    (zeros without biases); ``code`` is TANH, RELU or SIGMOID; ``h`` (T+1, B, H): reads
    h_{t-1} at [t], writes h_t at [t + 1].
    """
    batch, hidden = hw.shape
    for b in range(batch):
        h_t, a_t, hw_b = h[t + 1, b], a[t, b], hw[b]
        if valid[t, b]:
            for k in range(hidden):
                h_t[k] = a_t[k] + bias[k] + hw_b[k]  # (1)
            _activate_row(h_t, code)  # (2)
        else:  # (3)
            _copy(h[t, b], h_t)


@njit(**JIT)
def rnn_backward_step(t, dy, dh_next, carry, h, valid, code, da, dbias):
    """The backward equations of :mod:`rnnlab.cells.rnn` for step t, up to (1).

    ``dy`` (T, B, H): in at t dL/dy_t, out the total dL/dh_t. ``dh_next`` (B, H): the part
    through W_hh from the step after; ``carry`` (B, H): in, the part passed straight through
    padded steps after; out, the same for h_{t-1}. ``h`` (T+1, B, H): h_t at [t + 1].
    ``da`` (T, B, H): out at t, dL/da_t (zero at a padded step). ``dbias`` (H,) accumulates
    the sum over the batch of da: the bias gradient.
    """
    batch, hidden = dh_next.shape
    for b in range(batch):
        dh, carry_b, dh_next_b, da_b = dy[t, b], carry[b], dh_next[b], da[t, b]
        if valid[t, b]:
            for k in range(hidden):
                dh[k] = flush(dh[k] + dh_next_b[k] + carry_b[k])  # (4)
            _zero(carry_b)
            _copy(dh, da_b)
            _derivative_row(h[t + 1, b], da_b, code)  # (2)
            _accumulate(dbias, da_b)  # (1)
        else:  # (3)
            for k in range(hidden):
                carry_b[k] = flush(dh_next_b[k] + carry_b[k])
            _copy(carry_b, dh)
            _zero(da_b)


# -- whole time loops, for products small enough for the packed kernel --------------------
# At small sizes a step's two compiled calls cost less than the Python around them (the
# arguments of each call are checked and unpacked one by one): measured at B=16, H=128, the
# LSTM's forward loop took 7.8 ms as a Python loop over the same two calls, 4.9 ms compiled.
# Each function here is exactly the loop the cell writes out in Python for the BLAS case:
# forward, the recurrent product then the step; backward, the step then the product.
@njit(**JIT)
def lstm_forward_loop(panels, a, hw, bias, valid, h, c, tanh_c):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`lstm_forward_step`."""
    for t in range(a.shape[0]):
        matmul_packed(h[t], panels, hw)
        lstm_forward_step(t, a, hw, bias, valid, h, c, tanh_c)


@njit(**JIT)
def lstm_backward_loop(panels, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all,
                       dbias):
    """For t = T-1..0: :func:`lstm_backward_step`, then dh_next = da[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        lstm_backward_step(t, dy, dh_next, carry, dc, gates, c, tanh_c, valid, da, dc_all,
                           dbias)
        matmul_packed(da[t], panels, dh_next)


@njit(**JIT)
def gru_forward_loop(panels, a, hw, bias_ih, bias_hh, valid, h, h_n):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`gru_forward_step`."""
    for t in range(a.shape[0]):
        matmul_packed(h[t], panels, hw)
        gru_forward_step(t, a, hw, bias_ih, bias_hh, valid, h, h_n)


@njit(**JIT)
def gru_backward_loop(panels, dy, dh_next, carry, gates, h, h_n, valid, da_x, da_h, dbias_ih,
                      dbias_hh):
    """For t = T-1..0: :func:`gru_backward_step`, then dh_next = da_h[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        gru_backward_step(t, dy, dh_next, carry, gates, h, h_n, valid, da_x, da_h, dbias_ih,
                          dbias_hh)
        matmul_packed(da_h[t], panels, dh_next)


@njit(**JIT)
def rnn_forward_loop(panels, a, hw, bias, valid, code, h):
    """For t = 0..T-1: hw = h[t] @ W_hh^T (packed), then :func:`rnn_forward_step`."""
    for t in range(a.shape[0]):
        matmul_packed(h[t], panels, hw)
        rnn_forward_step(t, a, hw, bias, valid, code, h)


@njit(**JIT)
def rnn_backward_loop(panels, dy, dh_next, carry, h, valid, code, da, dbias):
    """For t = T-1..0: :func:`rnn_backward_step`, then dh_next = da[t] @ W_hh (packed)."""
    for t in range(dy.shape[0] - 1, -1, -1):
        rnn_backward_step(t, dy, dh_next, carry, h, valid, code, da, dbias)
        matmul_packed(da[t], panels, dh_next)
