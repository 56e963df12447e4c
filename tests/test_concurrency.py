"""Concurrency: one Classifier serves many threads; a Stream belongs to one thread.

* :class:`~edge_ser.Classifier` holds no per-call state (``InferenceSession.run`` is
  thread-safe), so one instance shared by several threads gives exactly the sequential
  results, failures included.
* A :class:`~edge_ser.Stream` is not thread-safe; that is documented and enforced: a call
  made while another thread is inside the same stream raises ``EdgeSerError``. Separate
  streams in separate threads are independent and equal to file mode.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from conftest import speech_bursts, synth_speechlike

from edge_ser import Classifier, Stream
from edge_ser.errors import EdgeSerError

THREADS = 6


@pytest.fixture(scope="module")
def clf(tiny_model_dir: Path) -> Classifier:
    return Classifier(tiny_model_dir, {"session": {"batch_size": 1}})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Any]:
    """24 inputs: files in several formats and rates, arrays, and two broken files."""
    folder = tmp_path_factory.mktemp("concurrency")
    items: list[Any] = []
    rates = (8000, 16000, 22050, 44100, 48000)
    for i in range(18):
        rate = rates[i % len(rates)]
        x = synth_speechlike(2.0 + (i % 5), rate, seed=i)
        if i % 3 == 0:
            items.append((x, rate))
            continue
        path = folder / f"note{i}.{'flac' if i % 3 == 1 else 'wav'}"
        sf.write(path, np.stack([x, 0.5 * x], axis=1) if i % 4 == 0 else x, rate)
        items.append(path)
    for i in range(4):
        items.append((speech_bursts([(0.3, 1.0 + i), (2.5 + i, 4.0 + i)], 5.0 + i), 16000))
    broken = folder / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(40))
    items += [broken, folder / "missing.wav"]
    return items


def _run(clf: Classifier, item: Any) -> dict[str, Any]:
    """The result as a dict, or the error's type and message (errors must match too)."""
    try:
        result = clf.classify(*item) if isinstance(item, tuple) else clf.classify(item)
    except EdgeSerError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return result.to_dict()


def test_shared_classifier_equals_sequential_use(clf: Classifier, inputs: list[Any]) -> None:
    sequential = [_run(clf, item) for item in inputs]
    assert sum("error" in r for r in sequential) == 2
    order = list(range(len(inputs))) * 2  # every input twice, in a shuffled order
    random.Random(0).shuffle(order)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        threaded = list(pool.map(lambda i: (i, _run(clf, inputs[i])), order))
    for i, result in threaded:
        assert result == sequential[i], f"input {i} differs when classified in a thread"


def test_classifiers_built_concurrently(tiny_model_dir: Path, inputs: list[Any]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        built = list(pool.map(lambda _: Classifier(tiny_model_dir), range(4)))
    x, rate = inputs[0]
    results = [c.classify(x, rate).to_dict() for c in built]
    assert all(r == results[0] for r in results[1:])


def _feed(stream: Stream, x: np.ndarray, chunk: int) -> dict[str, Any]:
    for i in range(0, x.shape[0], chunk):
        stream.accept_waveform(x[i : i + chunk])
    return stream.finish().to_dict()


def test_streams_in_parallel_threads(clf: Classifier, inputs: list[Any]) -> None:
    arrays = [item for item in inputs if isinstance(item, tuple)]
    expected = [clf.classify(x, rate).to_dict() for x, rate in arrays]
    chunks = [97, 160, 1001, 4096, 16000, 33333]

    def work(k: int) -> dict[str, Any]:
        x, rate = arrays[k % len(arrays)]
        return _feed(clf.stream(rate), x, chunks[k % len(chunks)])

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        got = list(pool.map(work, range(3 * len(arrays))))
    for k, result in enumerate(got):
        assert result == expected[k % len(arrays)], f"stream {k}"


def test_one_stream_used_by_two_threads_is_refused(clf: Classifier) -> None:
    x = synth_speechlike(3.0, 16000, seed=3)
    stream = clf.stream(16000)
    inside, release = threading.Event(), threading.Event()
    resampler = stream._resampler
    real_process = resampler.process

    def slow_process(y: np.ndarray, last: bool = False) -> np.ndarray:
        inside.set()
        assert release.wait(10), "the test never released the first call"
        return real_process(y, last)

    resampler.process = slow_process  # type: ignore[method-assign]
    first = threading.Thread(target=stream.accept_waveform, args=(x[:16000],))
    first.start()
    try:
        assert inside.wait(10)
        with pytest.raises(EdgeSerError, match="in use by another thread"):
            stream.accept_waveform(x[16000:32000])
        with pytest.raises(EdgeSerError, match="in use by another thread"):
            stream.finish()
    finally:
        release.set()
        first.join(10)
    resampler.process = real_process  # type: ignore[method-assign]
    # The refused calls changed nothing: the stream goes on as if they never happened.
    stream.accept_waveform(x[16000:])
    assert stream.finish().to_dict() == clf.classify(x, 16000).to_dict()
