"""Counts given to `roofline profile` are checked before any work: a bad one is a one-line error with
exit code 2, never a table with rows silently dropped."""
import pytest


@pytest.mark.parametrize("args,message", [
    (("--top", "-3"), "--top must be a positive number of rows, got -3"),
    (("--top", "0"), "--top must be a positive number of rows, got 0"),
    (("--depth", "-1"), "--depth must be 0 or more, got -1"),
    (("--depth", "2", "--by", "module"), "--depth shows the module tree"),
    (("--threads", "0", "--measure"), "--threads must be a positive integer"),
])
def test_bad_counts_are_one_line_errors(run_cli, args, message):
    code, out, err = run_cli("profile", "resnet18", *args)
    assert code == 2 and out == ""
    assert err.strip() == f"error: {err.strip().removeprefix('error: ')}" and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_counts_are_checked_before_the_model_is_built(run_cli):
    # the count is wrong whatever the model: said first, without building or tracing anything
    code, _, err = run_cli("profile", "no_such_model", "--top", "-3")
    assert code == 2 and "--top must be a positive number of rows, got -3" in err
