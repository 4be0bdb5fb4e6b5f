"""The `roofline` command collects cyclic garbage less often; the library and in-process calls keep Python's settings."""
from __future__ import annotations

import gc
import subprocess
import sys

from roofline.cli import main


def test_console_command_raises_the_thresholds():
    code = ("import gc, sys; from roofline.cli import main; sys.argv = ['roofline', '--version']; "
            "default = gc.get_threshold(); rc = main(); print(default, gc.get_threshold(), rc)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert out == "(700, 10, 10) (10000, 50, 100) 0"


def test_in_process_calls_keep_the_thresholds(capsys):
    before = gc.get_threshold()
    assert main(["--version"]) == 0
    assert gc.get_threshold() == before
