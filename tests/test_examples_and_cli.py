"""The README's first commands work: the gradcheck command and the quickstart example."""

import importlib.util
import pathlib

import pytest

from rnnlab.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gradcheck_command_passes_and_prints_a_row_per_cell(capsys):
    assert main(["gradcheck", "--layers", "1", "--no-bidirectional", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    for row in ("rnn   tanh", "rnn   relu", "rnn   sigmoid", "lstm  tanh", "gru   tanh"):
        assert row in out
    assert "All gradients match." in out and "FAIL" not in out


def test_gradcheck_command_refuses_bad_arguments():
    with pytest.raises(SystemExit, match="--cells"):
        main(["gradcheck", "--cells", "transformer"])
    with pytest.raises(SystemExit, match="--hidden"):
        main(["gradcheck", "--hidden", "0"])


def test_quickstart_example_learns():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples/quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    assert quickstart.main(epochs=30, seed=0) >= 0.95
