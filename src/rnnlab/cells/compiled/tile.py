"""The register-tiled product ``out = a @ W`` for a W packed into panels (see
:mod:`rnnlab.cells.gemm` for why and how): a tile of up to 6 rows by one panel keeps its
accumulators in vector registers for the whole sum over k. Numba's loops cannot express
such a register block, so the tile is emitted in LLVM's IR (llvmlite), with vector types
that LLVM lowers to the machine's registers (AVX-512, AVX2, SSE or NEON); one concern here:
emitting that tile and calling it over the rows and panels (:func:`matmul_packed`, and
:func:`matmul_stacked` for the product of [x_t, h_{t-1}] that the threaded loops make).
"""

from __future__ import annotations

import llvmlite.binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array

from rnnlab.cells.compiled.scalar import JIT, copy_row

# The compile options come from scalar.py: this file must change when they do (see the
# package's docstring; tests/test_kernels.py checks the record).
DEPENDS = {"scalar.py": "4596c690ac9375e3"}

def _register_shape() -> tuple:
    """(bytes per vector, vectors per panel row) for this machine's vector registers.

    With AVX-512 (32 registers of 64 bytes) a tile keeps 6 rows x 4 vectors = 24
    accumulators, leaving 8 registers for the panel row's 4 vectors and the broadcast;
    elsewhere (AVX2: 16 registers of 32 bytes; NEON), 6 rows x 2 vectors of 32 bytes, 12
    accumulators, so that nothing spills to memory. (Tiles of 4 rows, 16 accumulators, ran
    10-24% slower: fewer multiply-adds per vector loaded; docs/performance.md.)
    """
    if llvm.get_host_cpu_features().get("avx512f"):
        return 64, 4
    return 32, 2


VECTOR_BYTES, VECTORS = _register_shape()
ROWS = 6  # rows of a tile


def _splat(builder, value, vector_type):
    """A vector with ``value`` in every lane."""
    undef = ir.Constant(vector_type, ir.Undefined)
    first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(first, undef, zeros)


def _tile(rows: int):
    """The tile for ``rows`` rows (1 to 6): ``tile(a, panels, out, p, m0)`` sets
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


_tile1, _tile2, _tile3, _tile4, _tile5, _tile6 = (_tile(rows) for rows in range(1, 7))


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
            _tile6(a, panels, out, p, m0)
        if rest == 1:
            _tile1(a, panels, out, p, full)
        elif rest == 2:
            _tile2(a, panels, out, p, full)
        elif rest == 3:
            _tile3(a, panels, out, p, full)
        elif rest == 4:
            _tile4(a, panels, out, p, full)
        elif rest == 5:
            _tile5(a, panels, out, p, full)


@njit(**JIT)
def matmul_stacked(x, t, h, lo, z, panels, out):
    """out = [x_t, h] @ W for rows lo.. of a block, W packed (``panels``, (I+H) rows): the
    recurrent loops' one product per step for both halves of a pre-activation. x (B, T, I)
    batch-first, h (B, H) the states the block's rows read, z (R, I+H) and out (R, N) the
    block's own work rows (R = hi - lo), filled here row by row."""
    n_in = x.shape[2]
    for r in range(z.shape[0]):
        copy_row(x[lo + r, t], z[r, :n_in])
        copy_row(h[lo + r], z[r, n_in:])
    matmul_packed(z, panels, out)
