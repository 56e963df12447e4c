"""Batch classification at scale on Ray Data: :func:`classify_batch` (``edge-ser batch``).

Inputs (files, folders, globs, or manifests with a ``path`` column) are spread over a Ray
actor pool with one :class:`~edge_ser.classifier.Classifier` per actor: the model is loaded
once per actor, with ``threads_per_worker`` ONNX Runtime threads. Results stream back to the
driver, which writes them to ``out`` as Parquet parts (and JSONL parts on request):

.. code-block:: text

    out/_batch.json          the model and options of the results in this folder
    out/part-*.parquet       one row per input file (readable as one Parquet dataset)
    out/_jsonl/part-*.jsonl  the same rows as JSON lines (``jsonl=True``)

Each row holds the fields of ``edge-ser classify --json`` (the same ``to_dict()``), plus
``status`` (``ok`` or ``error``) and ``error`` (the one-line message, or null). In Parquet,
``scores`` is a map, ``windows`` and ``speech_regions`` are lists of structs, and
``options`` is the options' JSON text (its shape follows the option dataclasses);
:func:`read_results` gives the rows back as ``classify --json`` dicts.

Nothing lost, nothing twice: a part is written to a hidden temporary name and then renamed,
so a part is either whole or absent; a rerun into the same ``out`` skips every file that
already has a row (``ok`` or ``error``), so an interrupted run resumes where its last part
ended. A file that fails becomes an ``error`` row; the job goes on.

Ray and pyarrow are optional (``pip install "edge-ser[batch]"``): this module imports them
only when a batch runs, so ``import edge_ser`` never does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import posixpath
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .classifier import Classifier
from .errors import EdgeSerError, OptionsError, ToolchainMissingError
from .options import ClassifierOptions, coerce

__all__ = [
    "MANIFEST_SUFFIXES",
    "BatchOptions",
    "BatchProgress",
    "BatchSummary",
    "classify_batch",
    "read_results",
    "resolve_inputs",
]

logger = logging.getLogger("edge_ser.batch")

BATCH_EXTRA = 'pip install "edge-ser[batch]"'
MANIFEST_SUFFIXES = frozenset({".csv", ".parquet", ".pq", ".jsonl", ".ndjson"})
STATE_FILE = "_batch.json"
JSONL_DIR = "_jsonl"
STATUS_OK = "ok"
STATUS_ERROR = "error"


@dataclass(frozen=True)
class BatchOptions:
    """How a batch runs (not what it computes: that is :class:`ClassifierOptions`).

    Attributes:
        ray_address: the Ray cluster to join (``"auto"``, ``"ray://head:10001"``, ...);
            ``None`` starts a local Ray runtime sized to this machine (or uses the one
            already initialised in this process).
        workers: actors in the pool; ``None``: the cluster's CPUs divided by
            ``threads_per_worker``.
        threads_per_worker: ONNX Runtime intra-op threads per actor, and the CPUs each
            actor reserves.
        jsonl: also write the rows as JSON lines.
        flush_rows: write a part after this many rows ...
        flush_seconds: ... or after this many seconds, whichever comes first (a crash loses
            at most this much work, which a rerun redoes).
    """

    ray_address: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1
    jsonl: bool = False
    flush_rows: int = 1000
    flush_seconds: float = 30.0

    def __post_init__(self) -> None:
        def check(cond: bool, message: str) -> None:
            if not cond:
                raise OptionsError(message)

        check(
            self.ray_address is None
            or (isinstance(self.ray_address, str) and bool(self.ray_address)),
            f"BatchOptions.ray_address must be a non-empty string or None, got {self.ray_address!r}",
        )
        check(
            self.workers is None or (_is_int(self.workers) and 1 <= self.workers <= 100_000),
            f"BatchOptions.workers must be 1 to 100000 (or None: automatic), got {self.workers!r}",
        )
        check(
            _is_int(self.threads_per_worker) and 1 <= self.threads_per_worker <= 256,
            f"BatchOptions.threads_per_worker must be 1 to 256, got {self.threads_per_worker!r}",
        )
        check(
            isinstance(self.jsonl, bool), f"BatchOptions.jsonl must be a bool, got {self.jsonl!r}"
        )
        check(
            _is_int(self.flush_rows) and self.flush_rows >= 1,
            f"BatchOptions.flush_rows must be a positive integer, got {self.flush_rows!r}",
        )
        check(
            isinstance(self.flush_seconds, (int, float)) and self.flush_seconds > 0,
            f"BatchOptions.flush_seconds must be > 0, got {self.flush_seconds!r}",
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class BatchProgress:
    """A snapshot of a running batch, given to the ``progress`` callback.

    Attributes:
        files: files this run has to classify (inputs less those already done).
        done: files finished so far in this run (including failures).
        failed: files that became ``error`` rows in this run.
        audio_seconds: seconds of audio classified so far in this run.
        elapsed_s: wall time since the run started (Ray start-up included).
    """

    files: int
    done: int
    failed: int
    audio_seconds: float
    elapsed_s: float

    @property
    def audio_hours_per_hour(self) -> float:
        """Throughput in audio hours per wall-clock hour (the speed-up over real time)."""
        return self.audio_seconds / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def files_per_second(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True)
class BatchSummary:
    """What one :func:`classify_batch` run did.

    Attributes:
        out: the output folder.
        inputs: distinct input files (after expanding folders, globs and manifests).
        skipped: inputs that already had a row in ``out`` (from an earlier run).
        processed: rows this run wrote.
        failed: ``error`` rows this run wrote.
        failed_before: inputs whose earlier row is an ``error`` row.
        audio_seconds: seconds of audio this run classified.
        wall_seconds: this run's wall time (Ray start-up included).
        workers: actors in the pool (0 when nothing was left to classify).
        threads_per_worker: ONNX Runtime threads per actor.
    """

    out: str
    inputs: int
    skipped: int
    processed: int
    failed: int
    failed_before: int
    audio_seconds: float
    wall_seconds: float
    workers: int
    threads_per_worker: int

    @property
    def audio_hours_per_hour(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when every input has an ``ok`` row."""
        return self.failed == 0 and self.failed_before == 0

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        failed = f"{self.failed} failed" + (
            f" (+{self.failed_before} earlier)" if self.failed_before else ""
        )
        rate = self.processed / self.wall_seconds if self.wall_seconds > 0 else 0.0
        return (
            f"{self.inputs} files: {self.processed} processed, {self.skipped} already done, "
            f"{failed}; {self.audio_seconds / 3600:.3f} audio hours in {self.wall_seconds:.1f} s "
            f"({self.audio_hours_per_hour:.1f} audio h/h, {rate:.2f} files/s, "
            f"{self.workers} workers x {self.threads_per_worker} threads) -> {self.out}"
        )


ProgressCallback = Callable[[BatchProgress], None]


# --------------------------------------------------------------------------- optional imports


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.fs
        import pyarrow.parquet
    except ImportError as exc:
        raise ToolchainMissingError(
            f"edge-ser batch needs pyarrow and Ray Data ({exc}); install them with: {BATCH_EXTRA}"
        ) from exc
    return pyarrow


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ToolchainMissingError(
            f"edge-ser batch needs Ray Data ({exc}); install it with: {BATCH_EXTRA}"
        ) from exc
    return ray


# --------------------------------------------------------------------------- filesystems


def _is_uri(name: str) -> bool:
    return "://" in name


def _filesystem(uri: str) -> tuple[Any, str]:
    """``(pyarrow filesystem, path inside it)`` for a URI pyarrow or fsspec understands."""
    pa = _pyarrow()
    try:
        fs, path = pa.fs.FileSystem.from_uri(uri)
        return fs, str(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as arrow_exc:
        try:
            import fsspec
        except ImportError:
            raise EdgeSerError(f"{uri}: pyarrow cannot open this URI ({arrow_exc})") from None
        try:
            fsspec_fs, path = fsspec.core.url_to_fs(uri)
        except (ValueError, ImportError) as exc:
            raise EdgeSerError(f"{uri}: no filesystem for this URI ({exc})") from None
        handler = pa.fs.FSSpecHandler(fsspec_fs)
        return pa.fs.PyFileSystem(handler), str(path)


def _uri_prefix(uri: str) -> str:
    return uri.split("://", 1)[0] + "://"


def _local_fs() -> Any:
    return _pyarrow().fs.LocalFileSystem()


def _out_filesystem(out: str) -> tuple[Any, str]:
    if _is_uri(out):
        return _filesystem(out)
    return _local_fs(), str(Path(out).absolute())


# --------------------------------------------------------------------------- inputs


def resolve_inputs(inputs: Sequence[str]) -> list[tuple[str, str | None]]:
    """Expand files, folders, globs and manifests to ``(name, why_not)`` pairs.

    ``name`` is what the result row's ``path`` holds (for local files exactly what
    ``edge-ser classify`` prints); ``why_not`` is an error message for an input that names no
    file (a missing path, an empty folder, a glob that matches nothing), else ``None``.
    Manifest entries are not checked here: a missing one becomes an ``error`` row when a
    worker tries it. Duplicates are dropped, first occurrence kept.
    """
    from .cli_classify import _why_nothing, expand_inputs

    found: list[tuple[str, str | None]] = []
    for item in inputs:
        item = str(item)
        if _is_uri(item):
            found.extend(_resolve_uri(item))
        elif Path(item).suffix.lower() in MANIFEST_SUFFIXES and Path(item).is_file():
            found.extend((name, None) for name in read_manifest(item))
        else:
            for name, path in expand_inputs([item]):
                found.append((name, None if path is not None else _why_nothing(name)))
    unique: dict[str, str | None] = {}
    for name, why in found:
        unique.setdefault(name, why)
    return list(unique.items())


def _resolve_uri(uri: str) -> list[tuple[str, str | None]]:
    from .audio import AUDIO_EXTENSIONS

    pa = _pyarrow()
    prefix = _uri_prefix(uri)
    if any(c in uri for c in "*?["):
        try:
            import fsspec
        except ImportError:
            return [(uri, "globs on remote filesystems need fsspec (pip install fsspec)")]
        glob_fs, pattern = fsspec.core.url_to_fs(uri)
        matches = sorted(glob_fs.glob(pattern))
        if not matches:
            return [(uri, "no files match this pattern")]
        return [(_join_uri(prefix, m), None) for m in matches]
    fs, path = _filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pa.fs.FileType.NotFound:
        return [(uri, "no such file or folder")]
    if info.type == pa.fs.FileType.Directory:
        selector = pa.fs.FileSelector(path, recursive=True)
        files = sorted(
            i.path
            for i in fs.get_file_info(selector)
            if i.type == pa.fs.FileType.File
            and posixpath.splitext(i.path)[1].lower() in AUDIO_EXTENSIONS
        )
        if not files:
            return [(uri, "no audio files in this folder")]
        return [(_join_uri(prefix, f), None) for f in files]
    if posixpath.splitext(path)[1].lower() in MANIFEST_SUFFIXES:
        return [(name, None) for name in read_manifest(uri)]
    return [(uri, None)]


def _join_uri(prefix: str, path: str) -> str:
    """A URI for ``path`` on the filesystem of ``prefix``, percent-encoded as pyarrow wants."""
    from urllib.parse import quote

    return prefix + quote(path if prefix == "file://" else path.lstrip("/"))


def read_manifest(manifest: str) -> list[str]:
    """The ``path`` column of a CSV, Parquet or JSONL manifest, local or on any filesystem.

    Relative paths are taken relative to the manifest's folder; other columns are ignored.
    """
    pa = _pyarrow()
    from pyarrow import csv as pa_csv
    from pyarrow import json as pa_json

    if _is_uri(manifest):
        fs, path = _filesystem(manifest)
        prefix = _uri_prefix(manifest)

        def place(entry: str) -> str:
            if _is_uri(entry):
                return entry
            return _join_uri(prefix, posixpath.join(posixpath.dirname(path), entry))
    else:
        fs, path = _local_fs(), str(Path(manifest).absolute())
        folder = Path(manifest).parent

        def place(entry: str) -> str:
            return entry if _is_uri(entry) or Path(entry).is_absolute() else str(folder / entry)

    suffix = posixpath.splitext(path)[1].lower()
    try:
        with fs.open_input_file(path) as f:
            if suffix in (".parquet", ".pq"):
                table = pa.parquet.read_table(f)
            elif suffix == ".csv":
                convert = pa_csv.ConvertOptions(column_types={"path": pa.string()})
                table = pa_csv.read_csv(f, convert_options=convert)
            else:
                table = pa_json.read_json(f)
    except (pa.ArrowException, OSError) as exc:
        raise EdgeSerError(f"cannot read manifest {manifest}: {_one_line(str(exc))}") from None
    if "path" not in table.column_names:
        raise EdgeSerError(
            f"manifest {manifest} has no 'path' column (columns: {', '.join(table.column_names)})"
        )
    entries = table.column("path").to_pylist()
    for row, entry in enumerate(entries, start=1):
        if not isinstance(entry, str) or not entry.strip():
            raise EdgeSerError(f"manifest {manifest}: row {row} has no path (got {entry!r})")
    return [place(entry) for entry in entries]


# --------------------------------------------------------------------------- one file


def _one_line(message: str) -> str:
    return " ".join(message.split())


def classify_one(clf: Classifier, name: str, local_path: str | None = None) -> dict[str, Any]:
    """One result row: ``classify --json``'s dict plus ``status`` and ``error``; never raises."""
    local = local_path or name
    try:
        if _is_uri(name):
            fs, path = _filesystem(name)
            with fs.open_input_file(path) as f:
                result = clf.classify(f)
        else:
            result = clf.classify(Path(local))
        row = result.to_dict()
    except EdgeSerError as exc:
        # Messages name the file as the worker opened it; the row names it as given.
        return _error_row(name, str(exc).replace(local, name))
    except FileNotFoundError:  # a remote file that is not there
        return _error_row(name, "no such file")
    except OSError as exc:  # a remote filesystem refusing (permissions, network)
        return _error_row(name, f"cannot read: {exc}")
    except Exception as exc:  # one bad file must not fail the job
        logger.info("unexpected error on %s", name, exc_info=True)
        return _error_row(name, f"unexpected {type(exc).__name__}: {exc} (a bug: please report it)")
    row["path"] = name
    return {"path": name, "status": STATUS_OK, "error": None, **row}


def _error_row(name: str, message: str) -> dict[str, Any]:
    return {"path": name, "status": STATUS_ERROR, "error": _one_line(message) or "error"}


class _Worker:
    """A Ray Data actor: one Classifier, loaded once, classifying one file per row."""

    def __init__(self, model: str | None, options: dict[str, Any]) -> None:
        self._clf = Classifier(model, options)

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        records, durations, failed = [], [], []
        for name, local in zip(batch["path"], batch["local"], strict=True):
            row = classify_one(self._clf, str(name), str(local))
            records.append(json.dumps(row, ensure_ascii=False))
            durations.append(float(row.get("duration") or 0.0))
            failed.append(row["status"] != STATUS_OK)
        return {
            "record": np.array(records, dtype=object),
            "duration": np.array(durations, dtype=np.float64),
            "failed": np.array(failed, dtype=bool),
        }


# --------------------------------------------------------------------------- output


def _schema(pa: Any) -> Any:
    scores = pa.map_(pa.string(), pa.float64())
    window = pa.struct([
        ("start", pa.float64()), ("end", pa.float64()), ("label", pa.string()),
        ("scores", scores), ("speech_ratio", pa.float64()), ("low_confidence", pa.bool_()),
    ])  # fmt: skip
    region = pa.struct([("start", pa.float64()), ("end", pa.float64())])
    return pa.schema([
        ("path", pa.string()), ("status", pa.string()), ("error", pa.string()),
        ("label", pa.string()), ("scores", scores), ("duration", pa.float64()),
        ("speech_duration", pa.float64()), ("aggregation", pa.string()),
        ("windows", pa.list_(window)), ("speech_regions", pa.list_(region)),
        ("model", pa.string()), ("options", pa.string()),
    ])  # fmt: skip


# Columns held as JSON text in Parquet (their shape follows code that may grow fields).
_JSON_COLUMNS = ("options",)


def _to_table(rows: list[dict[str, Any]]) -> Any:
    pa = _pyarrow()
    schema = _schema(pa)
    known = set(schema.names)
    extra = sorted({k for row in rows for k in row} - known)
    columns: dict[str, list[Any]] = {name: [] for name in [*schema.names, *extra]}
    for row in rows:
        for name in columns:
            value = row.get(name)
            if value is not None and (name in _JSON_COLUMNS or name in extra):
                value = json.dumps(value, ensure_ascii=False)
            columns[name].append(value)
    fields = [*schema, *(pa.field(name, pa.string()) for name in extra)]
    return pa.Table.from_pydict(columns, schema=pa.schema(fields))


def read_results(out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows in an output folder, as dicts shaped like ``edge-ser classify --json``.

    ``ok`` rows equal ``classify --json``'s objects plus ``status`` and ``error``; ``error``
    rows hold ``path``, ``status`` and ``error``.
    """
    pa = _pyarrow()
    fs, root = _out_filesystem(str(out))
    rows: list[dict[str, Any]] = []
    schema_names = set(_schema(pa).names)
    for part in _parts(fs, root):
        with fs.open_input_file(part) as f:
            table = pa.parquet.read_table(f)
        for row in table.to_pylist():
            rows.append(_from_parquet(row, schema_names))
    return rows


def _from_parquet(row: dict[str, Any], schema_names: set[str]) -> dict[str, Any]:
    if row["status"] != STATUS_OK:
        return {"path": row["path"], "status": row["status"], "error": row["error"]}
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in _JSON_COLUMNS or key not in schema_names:
            value = None if value is None else json.loads(value)
        elif key == "scores":
            value = dict(value)
        elif key == "windows":
            value = [{**w, "scores": dict(w["scores"])} for w in value]
        out[key] = value
    return out


def _parts(fs: Any, root: str) -> list[str]:
    pa = _pyarrow()
    info = fs.get_file_info(root)
    if info.type == pa.fs.FileType.NotFound:
        return []
    selector = pa.fs.FileSelector(root, recursive=False)
    return sorted(
        i.path
        for i in fs.get_file_info(selector)
        if i.type == pa.fs.FileType.File
        and posixpath.basename(i.path).startswith("part-")
        and i.path.endswith(".parquet")
    )


class _State:
    """What an output folder already holds: ``path -> status`` over its parts."""

    def __init__(self, fs: Any, root: str) -> None:
        pa = _pyarrow()
        self.fs, self.root = fs, root
        self.status: dict[str, str] = {}
        self._clean()
        for part in _parts(fs, root):
            with fs.open_input_file(part) as f:
                table = pa.parquet.read_table(f, columns=["path", "status"])
            for path, status in zip(
                table.column("path").to_pylist(), table.column("status").to_pylist(), strict=True
            ):
                if path in self.status:
                    logger.warning("%s: %s has two rows (two runs at once?)", root, path)
                self.status[path] = status

    def _clean(self) -> None:
        """Remove what an interrupted run left: temporary parts and JSONL without Parquet."""
        pa = _pyarrow()
        if self.fs.get_file_info(self.root).type == pa.fs.FileType.NotFound:
            return
        parts = {posixpath.basename(p)[: -len(".parquet")] for p in _parts(self.fs, self.root)}
        for folder in (self.root, posixpath.join(self.root, JSONL_DIR)):
            if self.fs.get_file_info(folder).type != pa.fs.FileType.Directory:
                continue
            for i in self.fs.get_file_info(pa.fs.FileSelector(folder)):
                base = posixpath.basename(i.path)
                orphan = folder != self.root and base[: -len(".jsonl")] not in parts
                if i.type == pa.fs.FileType.File and (base.endswith(".tmp") or orphan):
                    logger.info("removing %s, left by an interrupted run", i.path)
                    self.fs.delete_file(i.path)


class _Writer:
    """Buffers rows and writes them as whole parts (temporary name, then rename)."""

    def __init__(self, fs: Any, root: str, options: BatchOptions) -> None:
        self.fs, self.root, self.options = fs, root, options
        self.rows: list[dict[str, Any]] = []
        self.records: list[str] = []
        self.run = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        self.count = 0
        self.last = time.monotonic()
        fs.create_dir(root, recursive=True)
        if options.jsonl:
            fs.create_dir(posixpath.join(root, JSONL_DIR), recursive=True)

    def add(self, row: dict[str, Any], record: str | None = None) -> None:
        self.rows.append(row)
        self.records.append(record if record is not None else json.dumps(row, ensure_ascii=False))
        due = time.monotonic() - self.last >= self.options.flush_seconds
        if len(self.rows) >= self.options.flush_rows or due:
            self.flush()

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.rows:
            return
        with _output_errors(self.root):
            self._write()

    def _write(self) -> None:
        pa = _pyarrow()
        stem = f"part-{self.run}-{self.count:05d}"
        if self.options.jsonl:  # first: a JSONL part without its Parquet part is an orphan
            final = posixpath.join(self.root, JSONL_DIR, stem + ".jsonl")
            self._atomic(final, "".join(r + "\n" for r in self.records).encode())
        sink = pa.BufferOutputStream()
        pa.parquet.write_table(_to_table(self.rows), sink)
        self._atomic(posixpath.join(self.root, stem + ".parquet"), sink.getvalue().to_pybytes())
        self.count += 1
        self.rows, self.records = [], []

    def _atomic(self, final: str, data: bytes) -> None:
        tmp = posixpath.join(posixpath.dirname(final), "." + posixpath.basename(final) + ".tmp")
        with self.fs.open_output_stream(tmp) as f:
            f.write(data)
        self.fs.move(tmp, final)


@contextlib.contextmanager
def _output_errors(out: object) -> Iterator[None]:
    """Turn a failure to read or write the output folder into one clear error."""
    pa = _pyarrow()
    try:
        yield
    except (OSError, pa.ArrowException) as exc:
        raise EdgeSerError(f"cannot use the output folder {out}: {_one_line(str(exc))}") from None


def _check_state_file(fs: Any, root: str, identity: dict[str, Any]) -> None:
    """Refuse to mix results of another model or other options in one folder."""
    path = posixpath.join(root, STATE_FILE)
    pa = _pyarrow()
    if fs.get_file_info(path).type == pa.fs.FileType.File:
        with fs.open_input_stream(path) as f:
            try:
                before = json.loads(f.read().decode())
            except ValueError:
                before = None
        if not isinstance(before, dict) or any(
            before.get(k) != v for k, v in identity.items() if k != "edge_ser"
        ):
            raise EdgeSerError(
                f"{root} holds results of another model or other options "
                f"(see {STATE_FILE}); give a new --out, or the same --model and options"
            )
        return
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(identity, indent=2).encode())


# --------------------------------------------------------------------------- the run


def classify_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    options: ClassifierOptions | Mapping[str, Any] | None = None,
    batch: BatchOptions | Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> BatchSummary:
    """Classify many files on Ray Data and write the results to ``out`` (see the module doc).

    Args:
        inputs: files, folders, globs and manifests (CSV, Parquet or JSONL with a ``path``
            column), local paths or URIs that pyarrow or fsspec reads (``s3://...``).
        out: the output folder, local or a URI; a rerun into it skips files already done.
        model: as for :class:`Classifier`; it must exist at this path on every Ray node.
        options: the classifier options (``session.intra_op_threads`` is replaced by
            ``batch.threads_per_worker``).
        batch: :class:`BatchOptions` (or a dict of them).
        progress: called with a :class:`BatchProgress` after each block of results.

    Returns:
        the run's :class:`BatchSummary`.

    Raises:
        ToolchainMissingError: Ray Data or pyarrow is not installed.
        EdgeSerError: the model or a manifest cannot be read, ``out`` holds results of
            another model or other options, or the Ray job itself fails.
    """
    started = time.monotonic()
    bopts = coerce(BatchOptions, batch, "batch")
    copts = coerce(ClassifierOptions, options, "options")
    session = dataclasses.replace(copts.session, intra_op_threads=bopts.threads_per_worker)
    copts = dataclasses.replace(copts, session=session)
    _pyarrow()
    _ray()
    model_arg = None if model is None else str(model)
    if model_arg is not None and not _is_uri(model_arg) and Path(model_arg).exists():
        model_arg = str(Path(model_arg).absolute())  # Ray workers may not share our cwd
    if model_arg is None or Path(model_arg).exists() or bopts.ray_address is None:
        # Load once here: a bad model is one clear error before any worker starts.
        source = Classifier(model_arg, copts).model_source
    else:
        source = model_arg  # only on the cluster's nodes; the workers will say if it is not
    fs, root = _out_filesystem(str(out))
    # The session options (threads) change speed, not results: a rerun may change them.
    result_options = {k: v for k, v in copts.to_dict().items() if k != "session"}
    identity = {"edge_ser": __version__, "model": source, "options": result_options}
    with _output_errors(out):
        _check_state_file(fs, root, identity)
        state = _State(fs, root)
    resolved = resolve_inputs([str(i) for i in inputs])
    todo = [(name, why) for name, why in resolved if name not in state.status]
    skipped = len(resolved) - len(todo)
    failed_before = sum(1 for name, _ in resolved if state.status.get(name, STATUS_OK) != STATUS_OK)
    with _output_errors(out):
        writer = _Writer(fs, root, bopts)
    counts = {"done": 0, "failed": 0}
    audio = 0.0

    def report() -> None:
        if progress is not None:
            progress(
                BatchProgress(
                    files=len(todo), done=counts["done"], failed=counts["failed"],
                    audio_seconds=audio, elapsed_s=time.monotonic() - started,
                )
            )  # fmt: skip

    workers = 0
    try:
        for name, why in todo:
            if why is not None:
                writer.add(_error_row(name, why))
                counts["done"] += 1
                counts["failed"] += 1
        files = [name for name, why in todo if why is None]
        report()
        if files:
            with _ray_session(bopts) as cluster_cpus:
                workers = bopts.workers or max(1, int(cluster_cpus) // bopts.threads_per_worker)
                workers = min(workers, len(files))
                for block in _run_pool(files, model_arg, copts, bopts, workers):
                    for record, duration, failed in block:
                        writer.add(json.loads(record), record)
                        counts["done"] += 1
                        counts["failed"] += int(failed)
                        audio += duration
                    report()
    finally:
        writer.flush()
    summary = BatchSummary(
        out=str(out), inputs=len(resolved), skipped=skipped, processed=counts["done"],
        failed=counts["failed"], failed_before=failed_before, audio_seconds=audio,
        wall_seconds=time.monotonic() - started, workers=workers,
        threads_per_worker=bopts.threads_per_worker,
    )  # fmt: skip
    logger.info("batch: %s", summary.line())
    return summary


class _ray_session:
    """Join ``ray_address``, reuse this process's Ray, or start a local one sized to the
    machine; shut down only what it started. Yields the cluster's CPU count."""

    def __init__(self, options: BatchOptions) -> None:
        self.options = options
        self.started = False

    def __enter__(self) -> float:
        ray = _ray()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours counts files and audio hours instead
        ctx.print_on_execution_start = False
        ctx.enable_auto_log_stats = False
        # Ray's own notices (progress bars off, token set-up) would break the one line per
        # run; its errors still show.
        for name in ("ray.data", "ray._private.authentication"):
            logging.getLogger(name).setLevel(logging.ERROR)
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,  # failures are rows; worker logs would break lines
                "logging_level": logging.WARNING,
            }
            if self.options.ray_address is None:
                kwargs["num_cpus"] = os.cpu_count() or 1
            else:
                kwargs["address"] = self.options.ray_address
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.options.ray_address or "a local Ray runtime"
                raise EdgeSerError(f"cannot start {where}: {_one_line(str(exc))}") from None
            self.started = True
        return float(ray.cluster_resources().get("CPU", 1.0))

    def __exit__(self, *exc: object) -> None:
        if self.started:
            _ray().shutdown()


def _run_pool(
    files: list[str],
    model: str | None,
    options: ClassifierOptions,
    bopts: BatchOptions,
    workers: int,
) -> Iterator[Iterable[tuple[str, float, bool]]]:
    """Yield blocks of ``(record, duration, failed)`` as the actor pool finishes them."""
    ray = _ray()
    rows = [
        {"path": name, "local": name if _is_uri(name) else str(Path(name).absolute())}
        for name in files
    ]
    # Small blocks keep every actor busy to the end and results flowing to the writer.
    per_block = max(1, min(32, math.ceil(len(rows) / (workers * 4))))
    ds = ray.data.from_items(rows, override_num_blocks=math.ceil(len(rows) / per_block))
    ds = ds.map_batches(
        _Worker,
        fn_constructor_kwargs={"model": model, "options": options.to_dict()},
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=bopts.threads_per_worker,
    )
    try:
        for block in ds.iter_batches(batch_size=None, batch_format="numpy"):
            yield zip(
                (str(r) for r in block["record"]),
                (float(d) for d in block["duration"]),
                (bool(f) for f in block["failed"]),
                strict=True,
            )
    except ray.exceptions.RayError as exc:
        raise EdgeSerError(f"the Ray job failed: {_one_line(str(exc))[:500]}") from None
