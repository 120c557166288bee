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


def test_train_writes_checkpoints_and_resumes(tmp_path, capsys):
    corpus, ckpt = tmp_path / "corpus.txt", tmp_path / "ckpt"
    corpus.write_text("".join(chr(97 + (i * 7) % 13) for i in range(6000)), encoding="utf-8")
    common = ["text", "train", str(corpus), "--hidden", "8", "--layers", "1", "--seq-len",
              "10", "--batch-size", "8", "--eval-every", "5", "--json"]
    assert main(common + ["--updates", "20", "--out", str(tmp_path / "whole")]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main(common + ["--updates", "10", "--out", str(tmp_path / "half"),
                          "--checkpoint-dir", str(ckpt)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit):  # a folder with checkpoints needs --resume
        main(common + ["--updates", "20", "--checkpoint-dir", str(ckpt)])
    assert "--checkpoint-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # another run's folder: refused before any work
        main(common + ["--updates", "20", "--lr", "0.01", "--checkpoint-dir", str(ckpt),
                       "--resume"])
    assert "differs in lr" in capsys.readouterr().err
    assert main(common + ["--updates", "20", "--out", str(tmp_path / "resumed"),
                          "--checkpoint-dir", str(ckpt), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["resumed_from"].endswith("epoch-0002")
    assert resumed["val_bpc"] == whole["val_bpc"]
    a, _, _ = load_model(tmp_path / "whole")
    b, _, _ = load_model(tmp_path / "resumed")
    assert all((a.state_dict()[k] == v).all() for k, v in b.state_dict().items())


def test_gradflow_on_a_trained_character_model(tmp_path, capsys):
    corpus, out = tmp_path / "corpus.txt", tmp_path / "model"
    corpus.write_text("".join(chr(97 + (i * i) % 17) for i in range(30000)), encoding="utf-8")
    assert main(["text", "train", str(corpus), "--hidden", "8", "--layers", "2", "--seq-len",
                 "20", "--batch-size", "8", "--updates", "20", "--out", str(out),
                 "--json"]) == 0
    capsys.readouterr()
    assert main(["gradflow", "--text-model", str(out), "--text", str(corpus), "--length",
                 "60", "--warmup", "30", "--batch", "4", "--json", "--no-plot"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [layer["label"] for layer in found["layers"]] == ["lstm layer 1", "lstm layer 2"]
    for layer in found["layers"]:
        assert len(layer["dh"]) == 60 and layer["dh"][-1] == 1.0
        assert 0 <= layer["reach"] <= 59 and set(layer["gates"]) == {"i", "f", "o"}
    assert [p["k"] for p in found["context_bits"]] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert found["val_bpc"] == json.loads((out / "config.json").read_text())["results"][
        "val_bpc"]
    assert main(["gradflow", "--text-model", str(out), "--text", str(corpus), "--length",
                 "60", "--batch", "4", "--out", str(tmp_path / "pics")]) == 0
    printed = capsys.readouterr().out
    assert "How far back the gradient reaches" in printed and "lstm layer 2" in printed
    assert sorted(p.name for p in (tmp_path / "pics").iterdir()) == [
        "context.png", "gradflow.png", "jacobian.png"]
