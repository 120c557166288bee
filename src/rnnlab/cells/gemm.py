"""The recurrent product of a time loop, ``a_t @ W`` for one fixed W and T different a_t.

Shapes: M rows (the batch), K the inner dimension, N columns; L the width of a panel.

Each step of a recurrence multiplies a small (M, K) block by the same weight matrix: forward
``h_{t-1} W_hh^T`` (K = H, N = G*H), backward ``da_t W_hh`` (K = G*H, N = H). At small
batches a BLAS call spends most of its time outside the arithmetic: OpenBLAS copies W into
its own blocked layout on every call and hands the work to its threads, which for a 16 x 128
by 128 x 512 product costs as much as the multiplication (measured: 33-45 us a call, against
about 20 us for the kernel here). So W is packed once per sequence, and small products run
through a compiled kernel that reads the packed panels directly; large products, where
packing is cheap next to the arithmetic and two threads pay, stay with BLAS (:class:`Product`
chooses, from the size of one product).

The kernel. W (K, N) is cut into column panels of L = 4 vectors of 64 bytes (64 float32 or
32 float64 columns; the last panel padded with zeros) and stored panel after panel, each
(K, L) contiguous: ``pack``. One call of a tile computes a block of up to 4 rows by one panel
of ``out``, keeping its 16 vector accumulators in registers for the whole sum over k: per k,
it loads the panel's 4 vectors of row k once, broadcasts each of the 4 rows' a[m, k], and
does 16 vector multiply-adds. A register block like this is not something Numba's loops can
express (written as loops over arrays, the same sums ran at 20 GFLOP/s, accumulators going
through memory), so the tile is written in LLVM's IR, with vector types that LLVM lowers to
AVX-512, AVX2, SSE or NEON registers as the machine has them; everything around it is
ordinary Numba. Measured on the development machine (Xeon, AVX-512): about 100 GFLOP/s on
one core for 16 x 128 by 128 x 512, in about 20 us. The sums over k run in order from k = 0,
one multiply-add at a time, so results agree with BLAS up to the rounding of a differently
ordered sum.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from rnnlab.backend import get_xp

VECTOR_BYTES = 64  # one AVX-512 register; LLVM splits it where registers are narrower
VECTORS = 4  # vectors per panel row: a panel is L = 4 * 64 bytes wide
ROWS = 4  # rows of a tile: 4 x 4 = 16 accumulators, half the 32 vector registers
SMALL = 1 << 22  # M*K*N up to which the packed kernel beats BLAS (see Product)
JIT = {"cache": True, "error_model": "numpy", "nogil": True}


def panel_width(dtype) -> int:
    """L, the columns of one panel: 64 for float32, 32 for float64."""
    return VECTORS * VECTOR_BYTES // np.dtype(dtype).itemsize


def pack(w):
    """W (K, N) -> its panels (P, K, L), P = ceil(N / L), the columns past N zero.

    Panel p holds columns p*L .. p*L + L - 1 of W, row after row: what one tile reads as it
    sums over k, in the order it reads it.
    """
    rows, cols = w.shape
    width = panel_width(w.dtype)
    count = -(-cols // width)
    padded = np.zeros((rows, count * width), dtype=w.dtype)  # (K, P*L)
    padded[:, :cols] = w
    return np.ascontiguousarray(padded.reshape(rows, count, width).transpose(1, 0, 2))


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


class Product:
    """``a @ w`` for one fixed w (K, N) and many a (M, K): the product of every time step.

    ``product(a)`` writes a @ w into ``product.out`` (M, N) and returns it; ``out`` is the
    same array at every call, so a loop reads it where the product left it. ``packed`` says
    whether the packed kernel computes it; then ``panels`` holds w packed, and a compiled
    time loop can call :func:`matmul_packed` itself.

    How it is computed depends on the size of one product, M*K*N: up to ``SMALL`` (2^22,
    e.g. M=16, K=128, N=512), through the packed kernel above, w packed once here; beyond,
    through the array module's matmul. With ``feature_major=True`` that BLAS product is
    computed as w^T a^T into an (N, M) buffer and ``out`` is its (M, N) transpose (OpenBLAS
    is faster in that orientation when M is small; readers of ``out`` then see a strided
    array). CuPy arrays always go to matmul.
    """

    def __init__(self, w, rows: int, feature_major: bool = False):
        xp = get_xp(w)
        depth, cols = w.shape
        self.packed = xp is np and rows * depth * cols <= SMALL
        if self.packed:
            self.panels = pack(w)  # (P, K, L)
            self.out = np.zeros((rows, cols), dtype=w.dtype)  # (M, N)
        elif feature_major:
            self._w_t = xp.ascontiguousarray(w.T)  # (N, K)
            self._buffer = xp.zeros((cols, rows), dtype=w.dtype)  # (N, M)
            self.out = self._buffer.T
        else:
            self._w = w
            self.out = xp.zeros((rows, cols), dtype=w.dtype)
        self._feature_major = feature_major

    def __call__(self, a):
        if self.packed:
            matmul_packed(a, self.panels, self.out)
        elif self._feature_major:
            get_xp(a).matmul(self._w_t, a.T, out=self._buffer)
        else:
            get_xp(a).matmul(a, self._w, out=self.out)
        return self.out
