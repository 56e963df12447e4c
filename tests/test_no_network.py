"""The runtime never touches the network: no socket, no name lookup.

Each check runs in a fresh interpreter whose ``sitecustomize`` replaces every way Python
code opens a socket or resolves a name (``socket.socket`` and its C base class,
``create_connection``, ``socketpair``, ``fromfd``, ``getaddrinfo``, ``gethostbyname``...)
with a function that records the attempt and raises, before anything else is imported. At
exit it reports the recorded attempts and any socket file descriptor still open (which would
reveal one opened by native code, out of Python's sight). Both must be empty after
importing ``edge_ser``, classifying a file, an array and a stream, and running
``edge-ser classify``, in-process and as the installed command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import soundfile as sf
from conftest import run_with_sitecustomize, synth_speechlike

SITECUSTOMIZE = r"""
import atexit
import os
import socket
import _socket
import sys

ATTEMPTS = []


def _blocked(name):
    def refuse(*args, **kwargs):
        ATTEMPTS.append(name)
        raise OSError(f"network access blocked by test: {name}")
    return refuse


class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        ATTEMPTS.append("socket.socket")
        raise OSError("network access blocked by test: socket.socket")


socket.socket = _NoSocket
socket.SocketType = _NoSocket
_socket.socket = _blocked("_socket.socket")
for module in (socket, _socket):
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo",
                 "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo",
                 "getfqdn"):
        if hasattr(module, name):
            setattr(module, name, _blocked(f"{module.__name__}.{name}"))


def _open_socket_fds():
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:  # not Linux: the Python-level record still counts
        return []
    found = []
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                found.append(fd)
        except OSError:
            pass
    return found


@atexit.register
def _report():
    sys.stderr.write("NETWORK_CHECK " + repr((ATTEMPTS, _open_socket_fds())) + "\n")
"""

IN_PROCESS = r"""
import sys
import numpy as np
import edge_ser
from edge_ser.cli import main

model, wav = sys.argv[1], sys.argv[2]
clf = edge_ser.Classifier(model)
print(clf.classify(wav).label is not None)
x = np.sin(np.arange(32000) * 0.05).astype(np.float32)
print(clf.classify(x, 16000).duration)
stream = clf.stream(16000)
stream.accept_waveform(x)
print(stream.finish().duration)
sys.exit(main(["classify", "--model", model, "--json", wav]))
"""


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_with_sitecustomize(args, tmp_path, SITECUSTOMIZE)


def _assert_no_network(proc: subprocess.CompletedProcess[str]) -> None:
    reports = [line for line in proc.stderr.splitlines() if line.startswith("NETWORK_CHECK ")]
    assert reports == ["NETWORK_CHECK ([], [])"], proc.stderr


def test_the_guard_catches_network_use(tmp_path: Path) -> None:
    code = "import socket, urllib.request\n" + "\n".join(
        f"try:\n    {call}\nexcept OSError:\n    pass"
        for call in (
            "socket.socket()",
            "socket.getaddrinfo('example.org', 80)",
            "urllib.request.urlopen('http://example.org', timeout=1)",
        )
    )
    proc = _run([sys.executable, "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NETWORK_CHECK (['socket.socket', 'socket.getaddrinfo'," in proc.stderr


def test_runtime_and_cli_never_open_a_socket(tiny_model_dir: Path, tmp_path: Path) -> None:
    wav = tmp_path / "note.wav"
    sf.write(wav, synth_speechlike(4.0, 44100), 44100)
    proc = _run([sys.executable, "-c", IN_PROCESS, str(tiny_model_dir), str(wav)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["True", "2.0", "2.0"]
    assert json.loads(lines[3])["path"] == str(wav)
    _assert_no_network(proc)


def test_installed_command_never_opens_a_socket(tiny_model_dir: Path, tmp_path: Path) -> None:
    wav = tmp_path / "note.flac"
    sf.write(wav, synth_speechlike(3.0, 16000), 16000)
    script = Path(sys.executable).with_name("edge-ser")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "edge_ser.cli"]
    proc = _run([*command, "classify", "--model", str(tiny_model_dir), str(wav)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].startswith(wav.name)  # named relative to the cwd
    _assert_no_network(proc)
