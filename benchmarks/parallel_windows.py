"""Windows in parallel against intra-op threads: the whole runtime on one long voice note.

Issue 19's lead: on a long note, windows run at the same time on one thread each may beat
one window at a time on several intra-op threads. Each configuration classifies the same
notes (a synthetic voice note, and real acted speech from ``../shared/datasets`` when it is
there) with the whole runtime (decode, VAD, windows, inference,
aggregation) in a fresh process (``edge_ser.benchmark.measure_long_audio``), in rounds with a
rotating order so that load from other processes falls on all of them alike:

* ``threads 0, parallel 1``: the runtime's defaults (ONNX Runtime's automatic intra-op
  threads, one window at a time);
* ``threads 0, parallel 2``: two windows at once on the automatic threads;
* ``threads 1, parallel 1`` and ``threads 1, parallel 2``: one intra-op thread.

Reported per configuration: median wall and CPU seconds of ``classify`` (model loading
excluded), windows per second, peak RSS of the process, and the label (which must agree).

    python benchmarks/parallel_windows.py                       # 60-minute note, 3 rounds
    python benchmarks/parallel_windows.py --minutes 1 --rounds 1 --out /tmp/quick

Results: ``benchmarks/results/parallel_windows.json`` and ``.md``, with the CPU flags.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"
CONFIGS = ((0, 1), (0, 2), (1, 1), (1, 2))  # (intra-op threads, parallel_windows)
BASELINE = (0, 1)


def name(config: tuple[int, int]) -> str:
    return f"threads {config[0]}, parallel {config[1]}"


def real_speech_note(path: Path, files: int) -> str | None:
    """``files`` RAVDESS utterances (actors 1-9, sorted) back to back, their own pauses
    kept: short regions, few full windows. None when the shared datasets are absent."""
    import numpy as np
    import soundfile as sf

    found = sorted(SHARED_DATASETS.glob("ravdess/Actor_0*/*.flac"))[:files]
    if not found:
        return None
    sf.write(path, np.concatenate([sf.read(f, dtype="float32")[0] for f in found]), 16000)
    return f"{len(found)} RAVDESS utterances (actors 1-9) back to back"


def measure(model: str | None, note: Path, rounds: int) -> dict[str, Any]:
    from edge_ser.benchmark import measure_long_audio

    runs: dict[tuple[int, int], list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    for r in range(rounds):
        order = CONFIGS[r % len(CONFIGS) :] + CONFIGS[: r % len(CONFIGS)]
        for config in order:
            threads, parallel = config
            result = measure_long_audio(
                model, note, threads, options={"session": {"parallel_windows": parallel}}
            )
            runs[config].append(result)
            print(
                f"round {r + 1}: {name(config)}: wall {result['wall_s']:.1f} s, CPU "
                f"{result['cpu_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    rows: dict[str, Any] = {}
    base_wall = statistics.median(r["wall_s"] for r in runs[BASELINE])
    for config, results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        rows[name(config)] = {
            "intra_op_threads": config[0],
            "parallel_windows": config[1],
            "wall_s": wall,
            "walls_s": [r["wall_s"] for r in results],
            "cpu_s": statistics.median(r["cpu_s"] for r in results),
            "windows": results[0]["windows"],
            "windows_per_s": results[0]["windows"] / wall,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "labels": sorted({str(r["label"]) for r in results}),
            "speedup_vs_baseline": base_wall / wall,
        }
    return {"audio_s": runs[BASELINE][0]["audio_s"], "rounds": rounds, "configs": rows}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Windows in parallel against intra-op threads (issue 19)",
        "",
        f"Measured {report['created']} by `python benchmarks/parallel_windows.py` on "
        f"{m['cpu']} ({m['cores']} cores), CPU flags **{', '.join(m['cpu_flags'])}**, load "
        f"{m['load_average']} before and {report['load_after']} after; onnxruntime "
        f"{m['onnxruntime']}. Model: {report['model']}. The whole runtime, a fresh process "
        "per run, in rounds with a rotating order; medians.",
    ]
    for note in report["notes"]:
        lines += [
            "",
            f"## {note['description']} ({note['audio_s'] / 60:.1f} min, {note['rounds']} rounds)",
            "",
            "| configuration | wall | CPU | windows/s | vs `threads 0, parallel 1` | peak RSS |",
            "|---|---|---|---|---|---|",
        ]
        for key, r in note["configs"].items():
            lines.append(
                f"| {key} | {r['wall_s']:.1f} s | {r['cpu_s']:.1f} s | {r['windows_per_s']:.1f}"
                f" | {r['speedup_vs_baseline']:.2f}x | {r['peak_rss_mb']:.0f} MB |"
            )
        labels = {tuple(r["labels"]) for r in note["configs"].values()}
        same = "the same in every run" if len(labels) == 1 else f"DIFFER: {sorted(labels)}"
        lines += ["", f"Labels: {same}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from edge_ser.benchmark import machine_info, write_voice_note

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="model folder or file (default: the bundled default)")
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--real-files", type=int, default=200,
                   help="RAVDESS utterances in the real-speech note (0: none)")  # fmt: skip
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.rounds < 1:
        p.error("--minutes must be > 0 and --rounds >= 1")
    machine = machine_info()
    notes = []
    with tempfile.TemporaryDirectory(prefix="edge_ser_parallel_") as tmp:
        synthetic = Path(tmp) / "synthetic.wav"
        write_voice_note(synthetic, args.minutes, seed=args.seed)
        todo = [(synthetic, f"synthetic voice note (seed {args.seed})")]
        real = Path(tmp) / "real.wav"
        described = real_speech_note(real, args.real_files) if args.real_files else None
        if described:
            todo.append((real, described))
        for path, description in todo:
            print(description, file=sys.stderr, flush=True)
            notes.append({"description": description, **measure(args.model, path, args.rounds)})
    report = {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": Path(args.model).name if args.model else "the bundled default",
        "machine": machine,
        "load_after": machine_info()["load_average"],
        "notes": notes,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parallel_windows.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "parallel_windows.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
