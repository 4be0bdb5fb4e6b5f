"""The ``roofline`` command: a thin layer over the Python API.

Subcommands live in their own modules and are imported only when invoked, so that
``roofline devices list`` does not pay for importing torch.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from roofline.errors import RooflineError

# command name -> "module:attribute"
_COMMANDS: dict[str, str] = {
    "profile": "roofline.cli.profile:profile",
    "devices": "roofline.cli.devices:devices",
    "predict": "roofline.cli.predict:predict",
    "rank": "roofline.cli.predict:rank",
    "calibrate": "roofline.cli.calibrate:calibrate",
    "validate": "roofline.cli.calibrate:validate",
    "report": "roofline.cli.report:report",
    "plan": "roofline.cli.report:plan",
}


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    return importlib.util.find_spec(module) is not None


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, target in _COMMANDS.items() if _available(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None or not _available(target):
            return None
        module_name, attr = target.split(":", 1)
        return getattr(importlib.import_module(module_name), attr)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.version_option(package_name="roofline")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """roofline: which device should run this model, how fast, at what energy and cost."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def usage_message(exc: click.ClickException) -> str:
    """A click error in one line, in the house style (lower-case, no trailing period), naming the
    command's --help for usage errors."""
    text = " ".join(exc.format_message().split())
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    text = text.rstrip(".")
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text += f" (see `{ctx.command_path} --help`)"
    return text


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback.

    Called without ``argv`` (the ``roofline`` command), a process that imported torch ends as soon
    as its output is flushed: the interpreter's teardown of torch's modules takes about a second and
    does nothing for a command that has finished.
    """
    if argv is None:
        _collect_less()
    code = _main(argv)
    if argv is None and "torch" in sys.modules:
        _exit_now(code)
    return code


def _collect_less() -> None:
    """The ``roofline`` command runs the cyclic garbage collector less often than Python's default
    (700, 10, 10): importing torch, TorchDynamo and torchvision makes about a million long-lived
    objects, and the default thresholds had the collector walk them again and again, about a fifth of
    the CPU time of a first ``rank resnet50`` (docs/performance.md). Young objects are still collected
    every 10,000 allocations; full collections become rare. The library keeps Python's settings."""
    import gc

    gc.set_threshold(10_000, 50, 100)


def _exit_now(code: int) -> None:
    import os

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass
    os._exit(code)


def _house_warnings() -> None:
    """The library's own warnings (roofline.*, e.g. a calibration record from another torch) print as
    ``warning: ...`` on one line, like the CLI's; other libraries' warnings keep Python's format."""
    import warnings

    default = warnings.showwarning
    if getattr(default, "house_style", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if (category.__module__ or "").startswith("roofline"):
            click.echo(f"warning: {message}", err=True)
        else:
            default(message, category, filename, lineno, file, line)

    show.house_style = True  # type: ignore[attr-defined]
    warnings.showwarning = show


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _house_warnings()
    try:
        # Without standalone mode click returns a command's ctx.exit() code instead of exiting.
        rv = cli.main(args=args, prog_name="roofline", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as exc:  # `roofline` or `roofline devices` alone: the help
        click.echo(exc.ctx.get_help())
        return 0
    except click.ClickException as exc:
        click.echo(f"error: {usage_message(exc)}", err=True)
        return 2 if isinstance(exc, click.UsageError) else exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except RooflineError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an unexpected failure is a bug; say so in one line
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
