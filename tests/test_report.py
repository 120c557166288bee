"""A study's report: what it reads from the run store, the page and pictures it writes, the
command, and the page as a real browser (headless Chromium) shows it.

The study is a real one, small: ``compare`` of two cells at two lengths with two seeds and two
learning rates, the larger of which diverges (SGD without clipping on the adding task), so
that the report has a learning-rate grid to show and failures to list.
"""

import json
import os
import shutil

import pytest

from rnnlab.cli import main
from rnnlab.experiments import RunStore, runner
from rnnlab.experiments import report_html
from rnnlab.experiments.compare import compare, variant_config
from rnnlab.experiments.report import file_stem, load_study, write_report
from rnnlab.experiments.runner import RunConfig

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BASE = RunConfig(task="adding", length=5, hidden_size=8, updates=8, eval_every=4, n_val=32,
                 n_test=64, batch_size=16, optimizer="sgd", clip_norm=None)
GOOD_LR, BAD_LR = 0.03, 1000.0  # SGD at 1000 without clipping: the loss overflows


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> str:
    """A run store holding one small compare study, "tiny"; its path."""
    db = str(tmp_path_factory.mktemp("study") / "runs.db")
    with RunStore(db) as store:
        compare(BASE, ["rnn", "lstm"], [5, 10], [0, 1], lrs=[GOOD_LR, BAD_LR], store=store,
                study="tiny", progress=False)
        failed = store.runs(study="tiny", status="failed")
    assert failed and all("TrainingDiverged" in r["error"] for r in failed)
    return db


def test_a_compare_study_is_read_from_its_run_rows(study):
    with RunStore(study) as store:
        info = load_study(store, "tiny")
    assert info["x_field"] == "length" and info["series_fields"] == ["cell"]
    assert info["lr_chosen"] and set(info["varying"]) == {"length", "cell", "lr"}
    assert [(r["label"], r["x"]) for r in info["rows"]] == [("rnn", 5), ("rnn", 10),
                                                           ("lstm", 5), ("lstm", 10)]
    for row in info["rows"]:  # the chosen learning rate's two seeds, both finished
        assert row["lrs"] == [GOOD_LR] and row["runs"] == 2 and row["finished"] == 2
        assert row["baseline"] > 0 and row["budget"] == BASE.updates
        assert all(m["epochs"] for m in row["members"])
    assert all(s["group"] is not None for s in info["selections"])


def test_the_report_is_one_page_with_its_pictures_embedded(study, tmp_path):
    with RunStore(study) as store:
        written = write_report(store, "tiny", tmp_path / "out")
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == sorted(["report-tiny.html"] + [f"report-tiny-{p}.png" for p in
                                                   ("metric", "updates", "curves", "lr-grid")])
    assert written["runs"] == 20 and written["failed"] == 8
    page = (tmp_path / "out" / "report-tiny.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 4
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for heading in ("Results", "Learning-rate grid", "Failures", "Every run"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count("TrainingDiverged") == written["failed"]


def test_a_sweep_is_grouped_by_the_fields_it_varies(tmp_path):
    """Runs of another kind, not RunConfigs: series and axis from the varying fields; the
    store's text is escaped."""
    with RunStore(tmp_path / "runs.db") as store:
        for cell in ("a", "b"):
            for width in (4, 16):
                for seed in (0, 1):
                    config = {"cell": cell, "width": width, "seed": seed, "steps": 3}
                    run = store.start_run(config, seed=seed, study="sw", kind="sweep")
                    store.log_epoch(run, 1, {"updates": 3, "val_metric": 0.5 + seed})
                    if cell == "b" and width == 16 and seed == 1:
                        store.finish_run(run, None, "failed", "ValueError: <b>boom</b>")
                    else:
                        store.finish_run(run, {"metric": 0.1 * width + seed,
                                               "metric_name": "loss"})
        info = load_study(store, "sw")
        written = write_report(store, "sw", tmp_path / "out")
    assert info["x_field"] == "width" and info["series_fields"] == ["cell"]
    assert not info["lr_chosen"] and info["fixed"]["steps"] == 3
    assert [(r["label"], r["x"], r["finished"], r["failed"]) for r in info["rows"]] == [
        ("a", 4, 2, 0), ("a", 16, 2, 0), ("b", 4, 2, 0), ("b", 16, 1, 1)]
    assert info["rows"][0]["metric"] == pytest.approx(0.9)
    page = open(written["html"]).read()
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "<b>boom" not in page
    assert len(written["pictures"]) == 2  # metric, curves: no budget, no selections


def test_series_of_compare_configs_are_named_by_their_variant(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        for variant in ("rnn", "irnn", "lstm-chrono"):
            _, config = variant_config(BASE, variant)
            run = store.start_run(config.to_json(), study="v", kind="compare")
            store.finish_run(run, {"metric": 0.2})
        info = load_study(store, "v")
    assert set(info["series_fields"]) == {"cell", "nonlinearity", "init_hh", "chrono"}
    assert [r["label"] for r in info["rows"]] == ["rnn", "irnn", "lstm-chrono"]


def test_a_study_of_one_x_draws_its_series_side_by_side(tmp_path):
    with RunStore(tmp_path / "runs.db") as store:
        for cell in ("a", "b", "c"):
            run = store.start_run({"cell": cell}, study="one", kind="sweep")
            store.finish_run(run, {"metric": 0.5, "updates_to_solve": 7})
        info = load_study(store, "one")
        written = write_report(store, "one", tmp_path)
    assert info["x_field"] is None and [r["label"] for r in info["rows"]] == ["a", "b", "c"]
    assert [os.path.basename(p) for p in written["pictures"]] == [
        "report-one-metric.png", "report-one-updates.png"]


def test_an_interrupted_study_is_reported_with_what_it_has(tmp_path, monkeypatch):
    calls = []

    class Interrupted(runner.Trainer):
        def fit(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 4:  # length 5's grid is done, length 10's is cut short
                raise KeyboardInterrupt
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(runner, "Trainer", Interrupted)
    with RunStore(tmp_path / "runs.db") as store:
        with pytest.raises(KeyboardInterrupt):
            compare(BASE, ["rnn"], [5, 10], [0], lrs=[GOOD_LR, 0.01], store=store,
                    study="cut", progress=False)
        info = load_study(store, "cut")
        written = write_report(store, "cut", tmp_path / "out")
    (chosen, open_row) = info["rows"]
    assert chosen["x"] == 5 and chosen["runs"] == 1  # the chosen learning rate's seed
    assert open_row["x"] == 10 and open_row["lrs"] == [0.01, GOOD_LR]  # none chosen yet
    assert open_row["other"] == 1 and open_row["finished"] == 1
    assert "interrupted" in open(written["html"]).read()


def test_a_page_that_fails_to_render_leaves_nothing_half_written(study, tmp_path,
                                                                 monkeypatch):
    def broken(info, pictures):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_html, "render", broken)
    with RunStore(study) as store, pytest.raises(RuntimeError):
        write_report(store, "tiny", tmp_path)
    assert not [n for n in os.listdir(tmp_path) if not n.endswith(".png")]


def test_file_names_keep_only_safe_characters():
    assert file_stem("20250131T120000.123Z-3fa9c1") == "report-20250131T120000.123Z-3fa9c1"
    assert file_stem("a b/../c") == "report-a_b_.._c"


def test_the_command_writes_the_report_and_names_unknown_studies(study, tmp_path, capsys):
    out = str(tmp_path / "pages")
    assert main(["report", "tiny", "--db", study, "--out", out, "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["html"] == os.path.join(out, "report-tiny.html")
    assert all(os.path.isfile(p) for p in [written["html"], *written["pictures"]])
    with pytest.raises(SystemExit) as info:
        main(["report", "nope", "--db", study, "--out", out])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "STUDY" in err and "'nope'" in err
    assert "its newest: tiny" in err  # the studies the store does hold


# -- the page in a real browser ------------------------------------------------------------
def _browser():
    """A headless Chromium driven by Selenium through Debian's chromedriver (no download);
    skipped where it is missing, failed under CI (CI=true), which installs it."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install selenium)")
    if missing:
        why = f"headless Chromium is needed: missing {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why + " (.ci/run installs chromium and chromium-driver)")
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_the_page_opens_whole_in_headless_chromium(study, tmp_path):
    with RunStore(study) as store:
        written = write_report(store, "tiny", tmp_path / "out")
    driver = _browser()
    try:
        driver.get("file://" + os.path.abspath(written["html"]))
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        tables = driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).map("
            "t => t.querySelectorAll('tr').length)")
        headings = driver.execute_script(
            "return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(height + 40, 12000))
        assert driver.save_screenshot(str(tmp_path / "report.png"))
        log = driver.get_log("browser")
    finally:
        driver.quit()
    assert not [entry for entry in log if entry["level"] == "SEVERE"], log
    assert len(images) == len(written["pictures"]) == 4
    assert all(complete and width > 0 for complete, width in images), images
    assert len(tables) >= 6 and all(rows > 1 for rows in tables), tables
    assert {"Results", "Learning-rate grid", "Failures", "Every run"} <= set(headings)
    assert (tmp_path / "report.png").stat().st_size > 10_000
