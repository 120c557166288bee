"""rnnlab against PyTorch on the CPU: the grid of docs/performance.md, in one run.

    python benchmarks/bench.py                  # the whole grid, about 5 minutes on 2 cores
    python benchmarks/bench.py --cells lstm --grid "256,64,512,100" --json

The same as ``rnnlab bench`` (see ``rnnlab bench --help``); needs torch.
"""

import sys

from rnnlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
