"""Windows of one recording scored at the same time (``SessionOptions.parallel_windows``).

Files and arrays go through a stream whose windows wait until ``parallel_windows`` of them
are ready and then run on that many threads of the one session: the results must equal
one-at-a-time scoring, the runs must really overlap, and a live stream must still return
each window as soon as it completes.
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import synth_speechlike

from edge_ser import Classifier
from edge_ser.cli_classify import add_arguments, options_from_args
from edge_ser.errors import ModelError, OptionsError
from edge_ser.model import load_model
from edge_ser.options import SessionOptions


def test_parallel_windows_is_a_validated_option_with_a_flag(tmp_path: Path) -> None:
    assert SessionOptions().parallel_windows == 1  # one window at a time by default
    for bad in (0, -1, 65):
        with pytest.raises(OptionsError, match="parallel_windows"):
            SessionOptions(parallel_windows=bad)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["x.wav", "--parallel-windows", "3", "--threads", "1"])
    session = options_from_args(args).session
    assert (session.parallel_windows, session.intra_op_threads) == (3, 1)
    assert options_from_args(parser.parse_args(["x.wav"])).session.parallel_windows == 1


def _result(clf: Classifier, x: np.ndarray) -> dict[str, Any]:
    r = clf.classify(x, 16000)
    return {
        "label": r.label,
        "scores": r.scores,
        "windows": [(w.start, w.end, w.scores, w.speech_ratio) for w in r.windows],
    }


def test_parallel_windows_give_the_one_at_a_time_result(tiny_model_dir: Path) -> None:
    x = synth_speechlike(70.0, 16000, seed=3)
    one = _result(Classifier(tiny_model_dir, {"session": {"parallel_windows": 1}}), x)
    assert len(one["windows"]) >= 8
    for n in (2, 3):
        clf = Classifier(tiny_model_dir, {"session": {"parallel_windows": n}})
        assert _result(clf, x) == one, n


class _OverlapSession:
    """A session whose runs wait for each other: two runs return only if they overlap."""

    def __init__(self, real: Any, parties: int, timeout: float = 10.0) -> None:
        self._real = real
        self._barrier = threading.Barrier(parties, timeout=timeout)
        self.threads: set[int] = set()

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.add(threading.get_ident())
        self._barrier.wait()  # BrokenBarrierError when the runs are sequential
        return self._real.run(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_parallel_windows_run_at_the_same_time(tiny_model_dir: Path) -> None:
    model = load_model(tiny_model_dir, SessionOptions())
    fake = _OverlapSession(model.session, 2)
    overlapping = dataclasses.replace(model, session=fake)
    windows = [synth_speechlike(3.0, 16000, seed=i) for i in range(4)]
    together = overlapping.score(windows, batch_size=1, workers=2)
    assert len(fake.threads) == 2
    np.testing.assert_allclose(together, model.score(windows, batch_size=1), atol=1e-6)
    # One worker runs them one after another: the barrier breaks and the run fails.
    with pytest.raises(ModelError, match="inference failed"):
        dataclasses.replace(model, session=_OverlapSession(model.session, 2, 1.0)).score(
            windows[:1], batch_size=1, workers=2
        )


def test_a_live_stream_returns_each_window_when_it_completes(tiny_model_dir: Path) -> None:
    x = synth_speechlike(40.0, 16000, seed=5)

    def per_chunk(parallel: int) -> list[int]:
        stream = Classifier(tiny_model_dir, {"session": {"parallel_windows": parallel}}).stream(
            16000
        )
        return [len(stream.accept_waveform(x[i : i + 8000])) for i in range(0, x.shape[0], 8000)]

    one = per_chunk(1)
    assert sum(one) >= 3
    # Live windows never wait for others, whatever parallel_windows says.
    assert per_chunk(4) == one
