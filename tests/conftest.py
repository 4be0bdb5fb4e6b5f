import os
import warnings

import pytest

# Keep the suite deterministic and light on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("YOLO_OFFLINE", "1")
# Every test traces afresh (tests that patch the tracer must not read workloads cached on disk);
# tests/test_workload_cache.py turns the cache on in a temporary folder.
os.environ.setdefault("ROOFLINE_CACHE", "0")
warnings.filterwarnings("ignore", category=DeprecationWarning)


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="Rewrite tests/goldens/ from the current output (review the diff before committing).")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running tests, excluded from the default run")


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from roofline.cli import main

    def run(*args: str):
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run
