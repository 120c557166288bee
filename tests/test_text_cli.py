"""rnnlab text corpus | train | sample, end to end, and what a saved model holds."""

import json

import pytest

from rnnlab.cli import main
from rnnlab.text import generate
from rnnlab.text.training import FILES, load_model


def test_corpus_train_and_sample(tmp_path, capsys):
    corpus, out = tmp_path / "corpus.txt", tmp_path / "model"
    assert main(["text", "corpus", "python-stdlib", "--out", str(corpus), "--chars",
                 "40000"]) == 0
    assert len(corpus.read_text(encoding="utf-8")) == 40000
    capsys.readouterr()
    assert main(["text", "train", str(corpus), "--hidden", "16", "--layers", "1", "--seq-len",
                 "20", "--batch-size", "8", "--updates", "30", "--eval-every", "10", "--out",
                 str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert [r["updates"] for r in summary["history"]] == [10, 20, 30]
    assert summary["val_bpc"] < summary["history"][0]["val_bpc"] < 7.5  # it learns
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    model, vocabulary, config = load_model(out)
    assert config.hidden_size == 16 and len(vocabulary) == summary["vocabulary"]
    assert main(["text", "sample", str(out), "--length", "60", "--prime", "def ", "--seed",
                 "3", "--top-k", "5"]) == 0
    printed = capsys.readouterr().out
    assert printed == "def " + generate(model, vocabulary, 60, "def ", 0.8, 5, 3) + "\n"
    assert main(["text", "sample", str(out), "--length", "60", "--prime", "def ", "--seed",
                 "3", "--top-k", "5"]) == 0
    assert capsys.readouterr().out == printed  # the same seed, the same text
    with pytest.raises(SystemExit):
        main(["text", "sample", str(out), "--prime", "\u00a7\u00b6"])
    err = capsys.readouterr().err
    assert "--prime" in err and "'\u00a7'" in err
