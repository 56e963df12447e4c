"""Top-1 agreement of two exported models (e.g. int8 against fp32) on real speech.

Both models run through the full runtime (VAD, windowing, preprocessing, aggregation) on
every audio file under the given folders; the script prints one JSON object with the
file-level and window-level top-1 agreement and the largest aggregated-score difference.

    python benchmarks/int8_agreement.py MODEL_A MODEL_B AUDIO_DIR [AUDIO_DIR ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_ser import Classifier
from edge_ser.audio import AUDIO_EXTENSIONS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_a", help="e.g. the int8 export folder")
    parser.add_argument("model_b", help="e.g. the fp32 export folder (--quantize none)")
    parser.add_argument("audio", nargs="+", help="folders of real speech (searched recursively)")
    args = parser.parse_args()
    files = sorted(
        p
        for folder in args.audio
        for p in Path(folder).rglob("*")
        if p.suffix.lower() in AUDIO_EXTENSIONS
    )
    a, b = Classifier(args.model_a), Classifier(args.model_b)
    files_same = files_n = windows_same = windows_n = 0
    max_diff = 0.0
    for path in files:
        ra, rb = a.classify(path), b.classify(path)
        if ra.label is None or rb.label is None:
            continue
        files_n += 1
        files_same += ra.label == rb.label
        max_diff = max(max_diff, *(abs(ra.scores[k] - rb.scores[k]) for k in ra.scores))
        for wa, wb in zip(ra.windows, rb.windows, strict=True):
            windows_n += 1
            windows_same += wa.label == wb.label
    print(
        json.dumps(
            {
                "model_a": args.model_a,
                "model_b": args.model_b,
                "audio": args.audio,
                "files": files_n,
                "file_top1_agreement": files_same / max(1, files_n),
                "windows": windows_n,
                "window_top1_agreement": windows_same / max(1, windows_n),
                "max_abs_score_diff": max_diff,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
