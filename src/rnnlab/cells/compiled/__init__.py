"""The compiled code of the time loops (Numba), one file per concern.

- ``scalar``: the scalar nonlinearities and their derivatives (float32 and float64), the
  denormal flush, the row helpers: what every step kernel is made of.
- ``tile``: the register-tiled product ``a @ W`` over a packed W, emitted as LLVM IR
  (:mod:`rnnlab.cells.gemm` packs W and chooses between it and BLAS).
- ``rnn``, ``lstm``, ``gru``: each cell's step, forward and backward, written equation by
  equation (the numbers are those of the cell's driver, :mod:`rnnlab.cells.lstm` etc., and
  of the specification, :mod:`rnnlab.reference`), and the whole loops: for small sizes
  (``forward_loop``, ``backward_loop``), for one block of rows of the batch on one of
  rnnlab's threads (``forward_rows``, ``backward_rows``: :mod:`rnnlab.cells.parallel`), and
  the inference forward, which keeps no cache (``infer_rows``).
- ``ln_rnn``, ``ln_lstm``, ``ln_gru``: the same for the layer-normalized cells (the row
  layer norm, forward and backward, is ``ln_lstm``'s, which the other two call).

Why a step is one compiled call. Each step of a time loop does two kinds of work: one matrix
product (``h_{t-1} @ W_hh^T`` forward, ``da_t @ W_hh`` backward) and the gate arithmetic
around it. Written as NumPy expressions, the gate arithmetic is a dozen or more passes over
(B, H) arrays per step, each with its own call overhead and temporary. Here each step's
gate arithmetic is one compiled call that takes the whole sequence arrays and the step t,
adds the biases itself (the input projection needs no pass of its own) and, in backward,
sums the bias gradients while the step's rows are in cache. At small sizes even the two
calls per step cost more than the Python around them, so the whole loop (product and step,
T times) is compiled too (``forward_loop``, ``backward_loop``).

How the loops are cut. Inside a call, for each row b, every equation is its own loop over
the hidden units, touching only the few arrays of that equation, each as a contiguous row;
LLVM vectorizes such loops (8 float32 lanes), where one loop doing all of a step's work over
a dozen arrays stayed scalar. Each gate's activation is a loop of its own, and the RNN's
branch on its nonlinearity sits outside the loops. At a padded row (the per-row ``valid``
flag) the state is copied through, and backward passes the gradients through without
arithmetic. What each choice gained, measured: docs/performance.md.

Numba caches the compiled code on disk, keyed on each function's own file: a change to a
function that another file calls does not invalidate the caller's cache. Each file that
calls into another records that file's SHA-256 in ``DEPENDS``, and ``tests/test_kernels.py``
fails until the record is brought up to date, which changes the caller's file too.
"""
