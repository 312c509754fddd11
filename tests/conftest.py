"""Shared pytest fixtures."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.fixture(scope="session")
def minilm_installed() -> None:
    """Skips unless the pure-numpy MiniLM can run here: its optional packages and the installed weights."""
    pytest.importorskip("safetensors")
    pytest.importorskip("tokenizers")
    from hwq.errors import HwqError
    from hwq.eval.minilm import find_model_dir

    try:
        find_model_dir()
    except HwqError as exc:
        pytest.skip(f"MiniLM weights not installed: {exc}")


@pytest.fixture
def run_sanitized():
    """Run a Python script in a child process with AddressSanitizer preloaded and UndefinedBehaviorSanitizer
    halting on error (the C libraries it builds with ``sanitize=True`` report there); returns the child's
    stdout after asserting it exited 0. Skips when gcc has no libasan."""
    libasan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True,
                             check=False).stdout.strip()
    if not os.path.isabs(libasan):
        pytest.skip("libasan not available")
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")

    def run(script: str, *args: object, timeout: int = 600) -> str:
        res = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                             env=env, timeout=timeout, check=False)
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout

    return run
