"""Link the static-int8 calibration set of the bundled models into a folder.

96 training-side utterances, drawn with seed 0: RAVDESS actors 1-6 (36), TESS (20), URDU (20)
and TurEV-DB (20); never RAVDESS 9-12 or SAVEE, the held-out test sets.

    python training/configs/calibration_set.py DATASETS_DIR OUT_DIR
"""

import os
import random
import sys
from pathlib import Path

PICKS = [
    ("ravdess", "Actor_0[1-6]/*.flac", 36),
    ("tess", "*/*.flac", 20),
    ("urdu", "*/*.flac", 20),
    ("turev-db", "Sound Source/*/*.flac", 20),
]


def main(datasets: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    random.seed(0)
    for sub, pattern, n in PICKS:
        for i, f in enumerate(random.sample(sorted((datasets / sub).glob(pattern)), n)):
            link = out / f"{sub}_{i:02d}_{f.name}"
            if not link.exists():
                os.symlink(f.resolve(), link)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
