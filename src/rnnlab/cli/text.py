"""``rnnlab text``: character-level language models. ``train`` a model on a text file,
``sample`` text from a saved one, write a ``corpus`` that every machine with Python has."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os

from rnnlab.cli.arguments import positive_float, positive_int, probability, seed
from rnnlab.cli.checks import check_file_target, check_folder, check_pictures, refuse, say
from rnnlab.experiments.gradflow import (chart_and_summary, gradflow_json, reach,
                                         text_gradient_flow)
from rnnlab.experiments.plots import plot_context, plot_gradient_flow, plot_jacobians
from rnnlab.io import write_text
from rnnlab.text import CORPORA, context_bits, corpus, generate, read_text, unigram_entropy
from rnnlab.text.checkpoints import CheckpointError, find_checkpoint, text_digest
from rnnlab.text.model import CELLS
from rnnlab.text.training import (TextConfig, load_model, load_results, save_model, split_text,
                                  train_text)
from rnnlab.training import TrainingDiverged


def add_parser(sub) -> None:
    """``rnnlab text train|sample|corpus`` and their options."""
    p = sub.add_parser("text", help="character-level language models: train, sample, corpus",
                       description=__doc__)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = actions.add_parser("train", help="train a character model on a text file",
                           description=train.__doc__)
    t.add_argument("file", metavar="FILE", help="a UTF-8 text file")
    t.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    t.add_argument("--hidden", type=positive_int, default=256, help="hidden units (default 256)")
    t.add_argument("--layers", type=positive_int, default=2, help="stacked layers (default 2)")
    t.add_argument("--one-hot", action="store_true",
                   help="read each character as its one-hot vector instead of a learned "
                        "embedding (min-char-rnn's input)")
    t.add_argument("--dropout", type=probability, default=0.0,
                   help="dropout between stacked layers (default 0)")
    t.add_argument("--seq-len", type=positive_int, default=100,
                   help="steps per chunk, the truncation of BPTT (default 100)")
    t.add_argument("--k2", type=positive_int,
                   help="back-propagate through the last K2 >= --seq-len steps at each update "
                        "(TBPTT(k1, k2) with k1 = --seq-len, as rnnlab train --tbptt; default "
                        "--seq-len)")
    t.add_argument("--batch-size", type=positive_int, default=32,
                   help="parallel streams over the text (default 32)")
    t.add_argument("--updates", type=positive_int, default=1000, help="(default 1000)")
    t.add_argument("--lr", type=positive_float, default=2e-3, help="Adam's (default 2e-3)")
    t.add_argument("--eval-every", type=positive_int, default=100,
                   help="measure the held-out last 5%% every this many updates (default 100)")
    t.add_argument("--seed", type=seed, default=0, help="(default 0)")
    t.add_argument("--out", default="rnnlab-charlm",
                   help="folder for the model, its vocabulary and config (default rnnlab-charlm)")
    t.add_argument("--checkpoint-dir", metavar="DIR",
                   help="write a checkpoint after every validation, keeping the last two; a "
                        "folder that holds checkpoints already needs --resume")
    t.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoints are in --checkpoint-dir from the "
                        "newest one that loads (from the beginning if there is none yet), to "
                        "the weights of a run never interrupted; the file and every option but "
                        "--updates must be the same")
    t.add_argument("--json", action="store_true", help="print JSON and nothing else")
    t.set_defaults(run=train)
    s = actions.add_parser("sample", help="sample text from a saved character model",
                           description=sample.__doc__)
    s.add_argument("folder", metavar="DIR", help="what rnnlab text train saved")
    s.add_argument("--length", type=positive_int, default=500, help="characters (default 500)")
    s.add_argument("--temperature", type=_temperature, default=0.8,
                   help="softmax temperature; 0 is greedy (default 0.8)")
    s.add_argument("--top-k", type=positive_int, metavar="K",
                   help="draw among the K likeliest characters only")
    s.add_argument("--prime", default="", help="text the model reads first")
    s.add_argument("--seed", type=seed, default=0, help="(default 0)")
    s.set_defaults(run=sample)
    c = actions.add_parser("corpus", help="write a text every Python installation has",
                           description=write_corpus.__doc__)
    c.add_argument("name", choices=CORPORA)
    c.add_argument("--out", required=True, help="the text file to write")
    c.add_argument("--chars", type=positive_int, help="at most this many characters")
    c.set_defaults(run=write_corpus)


def _temperature(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def train(args) -> int:
    """Train a character model on a text file (its last 5% held out), printing the held-out
    bits per character as it goes; save the model, its vocabulary and config in --out."""
    if args.resume and args.checkpoint_dir is None:
        raise refuse(args, "--resume", "needs --checkpoint-dir, the folder to resume from")
    try:
        text = read_text(args.file)
    except ValueError as err:
        raise refuse(args, "FILE", err) from None
    check_folder(args, "--out", args.out)
    if args.checkpoint_dir is not None:
        check_folder(args, "--checkpoint-dir", args.checkpoint_dir)
    if importlib.util.find_spec("safetensors") is None:
        raise refuse(args, "--out", 'saving the model needs safetensors: pip install '
                                    '"rnnlab[train]"')
    try:
        config = TextConfig(cell=args.cell, hidden_size=args.hidden, num_layers=args.layers,
                            one_hot=args.one_hot, dropout=args.dropout, seq_len=args.seq_len,
                            k2=args.k2, batch_size=args.batch_size, updates=args.updates,
                            lr=args.lr, eval_every=args.eval_every, seed=args.seed)
        split_text(text, config)  # too short for the streams: refused before any work
    except ValueError as err:
        raise refuse(args, "--k2" if "k2" in str(err) else "FILE, --batch-size, --seq-len",
                     err) from None
    if args.checkpoint_dir is not None:
        try:
            resumed, skipped = find_checkpoint(args.checkpoint_dir, config, text_digest(text),
                                               args.resume)
        except CheckpointError as err:
            raise refuse(args, "--resume" if args.resume else "--checkpoint-dir",
                          err) from None
        for path, why in skipped:
            say(args, f"Skipping {path}, which does not load ({why}).")
        if resumed is not None:
            say(args, f"Resuming from {resumed}.")
        elif args.resume:
            say(args, f"No checkpoint in {args.checkpoint_dir} yet: starting from the "
                      f"beginning.")

    def report(record):
        say(args, f"updates {record['updates']:>6}  train {record['train_bpc']:.3f} bits/char  "
                  f"held-out {record['val_bpc']:.3f} bits/char  ({record['seconds']:.0f} s)")

    try:
        result = train_text(text, config, progress=not args.json, report=report,
                            checkpoint_dir=args.checkpoint_dir, resume=args.resume)
    except CheckpointError as err:  # the folder changed since the check
        raise refuse(args, "--resume" if args.resume else "--checkpoint-dir", err) from None
    except TrainingDiverged as err:
        say(args, f"rnnlab text train: diverged: {err}")
        return 1
    summary = {"val_bpc": result["val_bpc"], "chars_per_second": result["chars_per_second"],
               "vocabulary": len(result["vocabulary"]), "out": args.out,
               "history": result["history"], "resumed_from": result["resumed_from"]}
    save_model(args.out, result["model"], result["vocabulary"], config, summary)
    if args.json:
        print(json.dumps(summary))
    else:
        speed = ("no updates were left to do" if result["chars_per_second"] is None else
                 f"{result['chars_per_second']:.0f} characters per second of training")
        print(f"Held-out bits per character: {result['val_bpc']:.3f} "
              f"({len(result['vocabulary'])} characters; {speed}). Saved in {args.out}/.")
    return 0


def sample(args) -> int:
    """Print text sampled from a saved character model, after reading --prime."""
    try:
        model, vocabulary, _ = load_model(args.folder)
    except (ValueError, OSError) as err:
        raise refuse(args, "DIR", err) from None
    try:
        vocabulary.encode(args.prime)
    except ValueError as err:
        raise refuse(args, "--prime", err) from None
    print(args.prime + generate(model, vocabulary, args.length, args.prime, args.temperature,
                                args.top_k, args.seed))
    return 0


def write_corpus(args) -> int:
    """Write a corpus (the Python standard library's own source files, concatenated) to a
    text file, for rnnlab text train."""
    check_file_target(args, "--out", args.out)
    text = corpus(args.name, args.chars)
    write_text(args.out, text)
    say(args, f"Wrote {len(text):,} characters ({len(set(text))} distinct) to "
              f"{os.path.abspath(args.out)}.")
    return 0


CONTEXTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # k of the context curve


def text_gradflow(args) -> int:
    """``rnnlab gradflow --text-model DIR --text FILE``: how far back the gradient reaches
    through a trained character model in real text, and how much of the text it uses."""
    for option, name in (("--cell", "cell"), ("--task", "task"), ("--hidden", "hidden"),
                         ("--nonlinearity", "nonlinearity"), ("--lambda1", "lambda1"),
                         ("--forget-bias", "forget_bias"), ("--chrono", "chrono"),
                         ("--weights", "weights")):
        if getattr(args, name) is not None:
            raise refuse(args, option, "does not apply with --text-model: the model's folder "
                                       "says its cell, sizes and weights")
    if args.text is None:
        raise refuse(args, "--text", "--text-model needs the text to measure on: --text FILE "
                                     "(its training file; windows come from its held-out tail)")
    check_pictures(args)
    try:
        model, vocabulary, config = load_model(args.text_model)
    except (ValueError, OSError) as err:
        raise refuse(args, "--text-model", err) from None
    try:
        text = read_text(args.text)
        held_out = vocabulary.encode(text[len(text) - int(len(text) * config.val_fraction):])
    except ValueError as err:
        raise refuse(args, "--text", err) from None
    length, warmup = args.length or 200, 100 if args.warmup is None else args.warmup
    if len(held_out) < warmup + length + 1:
        raise refuse(args, "--length", f"windows of {length} characters after {warmup} of "
                                       f"warm-up need {warmup + length + 1} held-out "
                                       f"characters; the held-out last "
                                       f"{config.val_fraction:.0%} of --text has "
                                       f"{len(held_out)}")
    results = text_gradient_flow(model, config, held_out, length, args.batch, warmup,
                                 args.seed)
    contexts = [k for k in CONTEXTS if k < len(held_out)]
    points = context_bits(model, held_out, contexts, seed=args.seed)
    full = load_results(args.text_model).get("val_bpc")
    unigram = unigram_entropy(vocabulary.encode(text), len(vocabulary))
    reaches = [reach(r) for r in results]
    if args.json:
        print(json.dumps({"layers": [{**gradflow_json(r), "reach": n}
                                     for r, n in zip(results, reaches)],
                          "context_bits": [{"k": k, "bits": b, "standard_error": e}
                                           for k, b, e in points],
                          "val_bpc": full, "unigram_bits": unigram,
                          "length": length, "warmup": warmup, "batch": args.batch}))
    else:
        print(f"Gradient flow through a trained character model ({config.cell}, "
              f"{config.num_layers} layer(s) of {config.hidden_size}), measured by the "
              f"hand-written backward (float64): {args.batch} windows of T = {length} "
              f"characters from the held-out tail of {args.text}, each starting from the "
              f"state after the {warmup} characters before it; the loss is the last "
              f"character's prediction only.")
        print(chart_and_summary(results, args.every))
        print()
        print("How far back the gradient reaches (||dL/dh_t|| >= 1e-3 of its value at T): "
              + ", ".join(f"{r['label']} {n} steps" for r, n in zip(results, reaches)) + ".")
        print("How much of the text the model uses: bits per character of the next "
              "character given only the last k characters (the state zero before them), "
              "at 1000 held-out positions (the same for every k):")
        print("  k     " + "".join(f"{k:>7}" for k, _, _ in points))
        print("  bits  " + "".join(f"{b:>7.3f}" for _, b, _ in points))
        print("  +/-   " + "".join(f"{e:>7.3f}" for _, _, e in points) + "  (standard error)")
        if full is not None:
            print(f"  the whole stream, state carried (rnnlab text train's held-out figure): "
                  f"{full:.3f}; no context (unigram entropy): {unigram:.3f}")
    if not args.no_plot:
        paths = [plot_gradient_flow(results, os.path.join(args.out, "gradflow.png"),
                                    f"Gradient through a character model on real text "
                                    f"(loss at the last of {length} characters)"),
                 plot_jacobians(results, os.path.join(args.out, "jacobian.png")),
                 plot_context(points, os.path.join(args.out, "context.png"), full, unigram)]
        say(args, "\nPictures: " + ", ".join(paths))
    return 0
