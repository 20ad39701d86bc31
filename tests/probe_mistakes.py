"""Probe the command lines with a new user's mistakes and the machine's faults; count what each one does.

    .venv/bin/python tests/probe_mistakes.py                 # this checkout
    .venv/bin/python tests/probe_mistakes.py --tree DIR      # another checkout of vietner (its src/, train.py)

Every case runs the real commands in a subprocess, in a temporary copy of a repository tree (``data/``,
``configs/``, a fake ``.git`` and a finished tiny run in ``outputs/run1``), and is classified as:

- ``ok``: a valid request did what it should (checked);
- ``one-line error``: exit status 2, one ``error:`` line naming what it should, nothing changed;
- ``unclear or late error``: refused, but without naming the file or setting, or only after the work;
- ``traceback``, ``data loss`` (a protected file changed or vanished), ``silently wrong`` (exit 0, wrong result).

The last lines count the outcomes; the goal is 0 tracebacks, 0 data loss, 0 silently wrong. A full disk is a
real tmpfs and a read-only output a real read-only bind mount when run as root (``mount`` works), otherwise
those two cases are reported as not run. The tests in ``tests/test_safety.py`` check each case with faults
injected instead, so they run anywhere; this script is the end-to-end tally, not part of the test suite.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SMALL = [
    "model.scratch.hidden_size=32", "model.scratch.num_hidden_layers=1", "model.scratch.intermediate_size=64",
    "train.epochs=1", "train.batch_size=8", "train.score_train_split=false", "data.segmenter=none",
]
BAD_VALUES = ["train.lr=nan", "model.scratch.intermediate_size=-1", "model.classifier_dropout=2",
              "train.num_workers=-1", "train.seed=-1", "data.segmenter=foo"]


def tree_of(path: Path) -> dict[str, bytes] | None:
    """Every file under ``path`` with its bytes (None when it is gone)."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


class Probe:
    """Runs the cases against the checkout ``tree`` and keeps their outcomes."""

    def __init__(self, tree: Path, work: Path) -> None:
        self.tree, self.work = tree, work
        self.env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
        self.results: list[tuple[str, str, str]] = []
        self.base = work / "base"
        self.count = 0

    # ---- running -----------------------------------------------------------------------------------------

    def run(self, args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def train_args(self, *extra: str) -> list[str]:
        sets = [a for s in SMALL for a in ("--set", s)]
        return [sys.executable, str(self.tree / "train.py"), "--config", "configs/tiny.yaml", *sets, *extra]

    def python(self, code: str, cwd: Path) -> subprocess.CompletedProcess:
        return self.run([sys.executable, "-c", code], cwd)

    def clone(self) -> Path:
        """A fresh repository tree holding a copy of the base run."""
        self.count += 1
        root = self.work / f"case{self.count:02d}"
        shutil.copytree(self.tree / "data", root / "data")
        shutil.copytree(self.tree / "configs", root / "configs")
        (root / ".git").mkdir()
        (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
        (root / "README.md").write_text("my clone\n")
        shutil.copytree(self.base / "outputs" / "run1", root / "outputs" / "run1")
        return root

    def prepare(self) -> None:
        """Train the base run once: a finished one-epoch tiny run of the project corpus."""
        shutil.copytree(self.tree / "data", self.base / "data")
        shutil.copytree(self.tree / "configs", self.base / "configs")
        done = self.run(self.train_args("--set", "output_dir=outputs/run1"), self.base)
        if done.returncode != 0:
            raise SystemExit(f"the base run failed:\n{done.stderr[-3000:]}")

    # ---- classifying -------------------------------------------------------------------------------------

    def record(
        self, name: str, done: subprocess.CompletedProcess, *, error: str | None = None,
        protected: dict[Path, dict | None] | None = None, check: Callable[[], bool] | None = None,
    ) -> None:
        """Classify one case: ``error`` is what the refusal must name (None: the request is valid)."""
        lines = [line.split("\r")[-1] for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        lost = [str(path) for path, before in (protected or {}).items() if tree_of(path) != before]
        if "Traceback" in done.stderr:
            outcome = "traceback"
        elif lost:
            outcome, last = "data loss", f"changed or gone: {', '.join(lost)}; {last}"
        elif error is not None:
            if done.returncode == 0:
                outcome, last = "silently wrong", "exit 0"
            elif done.returncode == 2 and last.startswith("error:") and error in last and (check is None or check()):
                outcome = "one-line error"
            else:
                outcome, last = "unclear or late error", f"exit {done.returncode}: {last}"
        elif done.returncode != 0:
            outcome, last = "refused a valid request", f"exit {done.returncode}: {last}"
        elif check is not None and not check():
            outcome, last = "silently wrong", f"exit 0: {last}"
        else:
            outcome = "ok"
            last = ([line for line in done.stdout.splitlines() if line.strip()] or [last])[-1]
        self.results.append((outcome, name, last[:300]))
        print(f"[{outcome}] {name}: {last[:300]}", flush=True)

    def not_run(self, name: str, why: str) -> None:
        self.results.append(("not run", name, why))
        print(f"[not run] {name}: {why}", flush=True)


# ---- the cases ----------------------------------------------------------------------------------------------


def data_loss_cases(p: Probe) -> None:
    # Each case in a clone of its own: a case that deletes must not take the next one's tree with it.
    root = p.clone()
    run1 = root / "outputs" / "run1"
    keep = {run1: tree_of(run1)}
    p.record("overwrite with a typo in a data path", p.run(p.train_args("--set", "output_dir=outputs/run1", "--set", "data.splits=data/splits.jsno", "--overwrite"), root), error="splits.jsno", protected=keep)
    root = p.clone()
    keep = {root / "data": tree_of(root / "data")}
    p.record("output_dir=data --overwrite", p.run(p.train_args("--set", "output_dir=data", "--overwrite"), root), error="data", protected=keep)
    root = p.clone()
    keep = {root: tree_of(root)}
    p.record("output_dir=. --overwrite in a clone", p.run(p.train_args("--set", "output_dir=.", "--overwrite"), root), error="current directory", protected=keep)
    root = p.clone()
    run1 = root / "outputs" / "run1"
    keep = {run1: tree_of(run1)}
    args = p.train_args("--set", "model.name_or_path=outputs/run1/model", "--set", "output_dir=outputs/run1", "--overwrite")
    p.record("stage 2 from RUN1/model with output_dir=RUN1 --overwrite", p.run(args, root), error="model.name_or_path", protected=keep)
    root = p.clone()
    (root / "notes").mkdir()
    (root / "notes" / "thesis.txt").write_text("years of work")
    keep = {root / "notes": tree_of(root / "notes")}
    p.record("--overwrite onto a folder that is not a run", p.run(p.train_args("--set", "output_dir=notes", "--overwrite"), root), error="not a vietner training run", protected=keep)
    root = p.clone()
    run1 = root / "outputs" / "run1"
    old_log = (run1 / "log.jsonl").read_text()
    done = p.run(p.train_args("--set", "output_dir=outputs/run1", "--set", "train.seed=7", "--overwrite"), root)
    p.record("--overwrite of a run that then succeeds (valid)", done, check=lambda: (run1 / "log.jsonl").read_text() != old_log and sorted(os.listdir(root / "outputs")) == ["run1"])


def two_writers(p: Probe) -> None:
    root = p.clone()
    first = subprocess.Popen(p.train_args("--set", "output_dir=outputs/twin", "--set", "train.epochs=1000"), cwd=root, env=p.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stdout:  # the first run is training: its checkpoint of epoch 1 is written
            if line.startswith("epoch 1:"):
                break
        second = p.run(p.train_args("--set", "output_dir=outputs/twin", "--overwrite"), root)
        running = first.poll() is None
        first.send_signal(signal.SIGINT)  # then stop the first: it must end as an interrupted run does
        _, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    fake = subprocess.CompletedProcess(second.args, second.returncode, second.stdout, second.stderr + ("\n[first run]\n" + err if "Traceback" in err else ""))
    p.record("two train.py runs on one output_dir (the second, --overwrite)", fake, error="in use by another process",
             check=lambda: running and first.returncode == 130 and (root / "outputs/twin/checkpoints/last/trainer_state.json").is_file())


def damaged_checkpoints(p: Probe) -> None:
    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def tamper(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    cases = [("config.yaml", Path.unlink, "missing"), ("checkpoints/last/trainer_state.json", truncate, "truncated"),
             ("checkpoints/last/model.safetensors", truncate, "truncated"), ("checkpoints/last/optimizer.bin", truncate, "truncated"),
             ("checkpoints/last/random_states_0.pkl", truncate, "truncated"), ("checkpoints/last/random_states_0.pkl", tamper, "tampered")]
    for name, damage, how in cases:
        root = p.clone()
        run1 = root / "outputs" / "run1"
        damage(run1 / name)
        keep = {run1: tree_of(run1)}
        p.record(f"--resume with a {how} {name}", p.run(p.train_args("--set", "output_dir=outputs/run1", "--resume"), root), error=name, protected=keep)
    root = p.clone()
    shutil.move(root / "outputs" / "run1", root / "drive")
    done = p.run(p.train_args("--set", "output_dir=drive", "--resume"), root)
    p.record("--resume of a run moved to another folder (valid)", done, check=lambda: json.loads((root / "drive" / "metrics.json").read_text())["test"] is not None)


def bad_values(p: Probe) -> None:
    root = p.clone()
    for setting in BAD_VALUES:
        done = p.run(p.train_args("--set", "output_dir=outputs/new", "--set", setting), root)
        p.record(f"--set {setting}", done, error=setting.split("=")[0], check=lambda: not (root / "outputs" / "new").exists())
        shutil.rmtree(root / "outputs" / "new", ignore_errors=True)


def machine_faults(p: Probe) -> None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        p.not_run("full disk", "needs root for a tmpfs")
        p.not_run("read-only output", "needs root for a read-only bind mount")
        return
    root = p.clone()
    outputs = root / "outputs"
    run_size = sum(f.stat().st_size for f in (outputs / "run1").rglob("*") if f.is_file())
    shutil.move(outputs, root / "kept")
    outputs.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={run_size + (512 << 10)}", "tmpfs", str(outputs)]).returncode:
        p.not_run("full disk", "mount -t tmpfs failed")
    else:
        try:
            shutil.copytree(root / "kept" / "run1", outputs / "run1")
            keep = {outputs / "run1": tree_of(outputs / "run1")}
            done = p.run(p.train_args("--set", "output_dir=outputs/run1", "--set", "train.seed=9", "--overwrite"), root)
            p.record("full disk (tmpfs) under an --overwrite run", done, error="No space left on device", protected=keep)
        finally:
            subprocess.run(["umount", str(outputs)])
    root = p.clone()
    outputs = root / "outputs"
    if subprocess.run(["mount", "--bind", str(outputs), str(outputs)]).returncode:
        p.not_run("read-only output", "mount --bind failed")
        return
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(outputs)], check=True)
        keep = {outputs / "run1": tree_of(outputs / "run1")}
        done = p.run(p.train_args("--set", "output_dir=outputs/run1", "--set", "train.seed=9", "--overwrite"), root)
        p.record("read-only output (ro bind mount), --overwrite", done, error="Read-only file system", protected=keep,
                 check=lambda: "epoch 1" not in done.stdout)
    finally:
        subprocess.run(["umount", str(outputs)])


PREDICT_INPUT = ["Bí thư Thành ủy Hà Nội Đinh Tiến Dũng tiếp bà Kang Kum-Sil.", "Ông Nguyễn Văn An đến Hàn Quốc."] * 3


def predict_cases(p: Probe) -> None:
    root = p.clone()
    model = root / "outputs" / "run1" / "model"
    source = root / "in.txt"
    source.write_text("".join(d + "\n" for d in PREDICT_INPUT), encoding="utf-8")
    predict = [sys.executable, "-m", "vietner.predict", "--model", str(model), "--input", str(source), "--part-size", "2", "--workers", "0", "--quiet"]
    # An interrupted run: every part written, killed before the merge.
    interrupted = (
        "import sys, vietner.documents as d, vietner.predict as p\n"
        "def stop(*a, **k): raise KeyboardInterrupt\n"
        "d.merge_parts = stop\n"
        f"sys.exit(p.main({predict[3:] + ['--output', str(root / 'out.jsonl')]!r}))\n"
    )
    assert p.python(interrupted, root).returncode == 130
    retrain = (
        "from safetensors.torch import load_file, save_file\n"
        f"w = load_file({str(model / 'model.safetensors')!r})\n"
        "w = {k: v + 0.5 if v.is_floating_point() else v for k, v in w.items()}\n"
        f"save_file(w, {str(model / 'model.safetensors')!r}, metadata={{'format': 'pt'}})\n"
    )
    p.python(retrain, root)
    p.record("vietner.predict --resume after the model changed", p.run([*predict, "--output", str(root / "out.jsonl"), "--resume"], root), error="another model")
    rows = [{"id": "doc1\n# sent_id = forged\nFAKE\tB-PER", "text": "Hà Nội và Việt Nam."}]
    (root / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    conll = root / "out.conll"
    args = [sys.executable, "-m", "vietner.predict", "--model", str(model), "--input", str(root / "in.jsonl"), "--output", str(conll), "--format", "conll", "--quiet"]

    def not_forged() -> bool:
        lines = conll.read_text(encoding="utf-8").splitlines()
        return sum(line.startswith("# sent_id") for line in lines) == 1 and not any(line.startswith("FAKE") for line in lines)

    p.record("--format conll with an id holding a newline and a tab (valid)", p.run(args, root), check=not_forged)
    (root / "results").mkdir()
    done = p.run([sys.executable, "-m", "vietner.predict", "--model", str(root / "no-model-yet"), "--input", str(source), "--output", str(root / "results"), "--overwrite", "--quiet"], root)
    p.record("vietner.predict --overwrite onto a directory (before any work)", done, error="is a directory")
    eio = (
        "import errno, os, sys, vietner.predict as p\n"
        "real = os.fsync\n"
        "def fsync(fd):\n"
        "    if 'out-eio' in os.readlink(f'/proc/self/fd/{fd}'): raise OSError(errno.EIO, os.strerror(errno.EIO))\n"
        "    return real(fd)\n"
        "os.fsync = fsync\n"
        f"sys.exit(p.main({predict[3:] + ['--output', str(root / 'out-eio.jsonl')]!r}))\n"
    )
    p.record("[Errno 5] while writing the output", p.python(eio, root), error="out-eio")
    bad = root / "bad-model"
    shutil.copytree(model, bad)
    (bad / "vietner.json").write_text('{"labels": ["O", "B-PER"', encoding="utf-8")
    load = (
        "import sys\nfrom vietner import NerTagger\nfrom vietner.modeling import ModelLoadError\n"
        f"try:\n    NerTagger.from_pretrained({str(bad)!r})\n"
        "except ModelLoadError as e:\n    print(f'error: {e}', file=sys.stderr); sys.exit(2)\n"
        "except Exception as e:\n    print(f'error: {type(e).__name__}: {e}', file=sys.stderr); sys.exit(1)\n"
    )
    p.record("NerTagger.from_pretrained on a malformed vietner.json", p.python(load, root), error="vietner.json")


def text_and_commands(p: Probe) -> None:
    root = p.clone()
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from tagger_fixtures import SYLLABLES, lookup_model, write_tokenizer\n"
        "from vietner import NerTagger\nfrom vietner.config import Preprocessing\n"
        "tok = write_tokenizer(SYLLABLES, 'tok')\n"
        "tagger = NerTagger(lookup_model(tok, {'Hà': 'B-LOC', 'Nội': 'I-LOC'}), tok, Preprocessing(segmenter='none', max_length=64, window_overlap=16))\n"
        "print(json.dumps([[e.label, e.text, e.start, e.end] for e in tagger.predict('\\u200fHà Nội')], ensure_ascii=False))\n"
    )
    done = p.python(code, root)
    p.record("predict('\\u200fHà Nội') with a model that knows Hà Nội (valid)", done,
             check=lambda: json.loads(done.stdout.strip().splitlines()[-1]) == [["LOC", "Hà Nội", 1, 7]])
    gold = root / "pred.conll"
    gold.write_text("Hà\tB-LOC\tB-LOC\nNội\tI-LOC\tI-LOC\n", encoding="utf-8")
    (root / "report.md").write_text("an older report")
    done = p.run([sys.executable, str(p.tree / "evaluate.py"), "--predictions", str(gold), "--output", str(root / "report.json")], root)
    p.record("evaluate.py --output whose report.md exists (before any work)", done, error="report.md", check=lambda: not (root / "report.json").exists())
    done = p.run([sys.executable, "-m", "vietner.data", "export", str(root / "missing.conll")], root)
    p.record("python -m vietner.data export MISSING", done, error="missing.conll")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", default=str(HERE.parent), help="the vietner checkout to probe (default: this one)")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="probe-mistakes-") as work:
        probe = Probe(Path(args.tree).resolve(), Path(work))
        probe.prepare()
        for group in (data_loss_cases, two_writers, damaged_checkpoints, bad_values, machine_faults, predict_cases, text_and_commands):
            try:
                group(probe)
            except Exception as error:  # a case whose setup the probed code broke: counted, the rest still run
                probe.not_run(group.__name__, f"the probe itself failed: {type(error).__name__}: {error}")
    counts = collections.Counter(outcome for outcome, _, _ in probe.results)
    print(f"\n{len(probe.results)} cases in {time.perf_counter() - start:.0f} s:")
    for outcome in ("ok", "one-line error", "unclear or late error", "refused a valid request", "traceback", "data loss", "silently wrong", "not run"):
        print(f"  {outcome}: {counts.get(outcome, 0)}")
    bad = sum(counts.get(k, 0) for k in ("traceback", "data loss", "silently wrong"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
