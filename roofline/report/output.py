"""Writing a report: the format from the extension, all-or-nothing files.

- ``.html``: one self-contained file, written atomically;
- ``.md``: the Markdown file and ``<stem>_files/`` with its PNG charts. The images are written
  to a temporary folder next to the target, which replaces ``<stem>_files/`` in one rename;
  the Markdown is then written atomically. A failure at any step leaves the previous report
  (or nothing) in place, never a half-written one.

Charts are drawn before anything is written, so a drawing error writes nothing either.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from roofline._atomic import atomic_write_text
from roofline.errors import RooflineError
from roofline.report.data import ModelSection, ReportData

FORMATS = {".html": "html", ".md": "markdown"}

ChartFn = Callable[[str, ModelSection, str], bytes]


class ReportOutputError(RooflineError):
    """The output path has an unknown extension or cannot be written."""


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    format: str  # "html" or "markdown"
    images: tuple[Path, ...]  # Markdown only
    bytes_written: int


def output_format(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ReportOutputError(f"unknown report format {Path(path).name!r}: the output must end in .html or .md")
    return FORMATS[suffix]


def check_output_path(path: str | os.PathLike[str]) -> str:
    """Fail early (before any model is traced) on an extension or a folder that cannot work.

    Returns the format. Permission problems the check cannot see still surface, as the same
    one-line error, when the file is written.
    """
    fmt = output_format(path)
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.exists():
        raise ReportOutputError(f"cannot write {target}: folder {parent} does not exist")
    if not parent.is_dir():
        raise ReportOutputError(f"cannot write {target}: {parent} is not a folder")
    if target.is_dir():
        raise ReportOutputError(f"cannot write {target}: it is a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ReportOutputError(f"cannot write {target}: folder {parent} is not writable")
    if target.exists() and not os.access(target, os.W_OK):
        raise ReportOutputError(f"cannot write {target}: the file is read-only")
    if fmt == "markdown":
        files = files_dir(target)
        if files.exists() and not files.is_dir():
            raise ReportOutputError(f"cannot write {target}: {files} exists and is not a folder")
    return fmt


def files_dir(path: Path) -> Path:
    return path.with_name(f"{path.stem}_files")


def _oserror(target: Path, exc: OSError) -> ReportOutputError:
    reason = exc.strerror or type(exc).__name__
    return ReportOutputError(f"cannot write {target}: {reason.lower()}")


def write_report(data: ReportData, path: str | os.PathLike[str], *, chart: ChartFn | None = None) -> WrittenReport:
    """Render ``data`` in the format of ``path``'s extension and write it (all or nothing)."""
    target = Path(path)
    fmt = check_output_path(target)
    if chart is None:
        from roofline.report.charts import chart as default_chart

        chart = default_chart
    if fmt == "html":
        from roofline.report.html import render_html

        document = render_html(data, chart)
        try:
            atomic_write_text(target, document)
        except OSError as exc:
            raise _oserror(target, exc) from None
        return WrittenReport(target, fmt, (), len(document.encode("utf-8")))

    from roofline.report.markdown import render_markdown

    folder = files_dir(target)
    document, images = render_markdown(data, chart, folder.name)
    return _write_markdown(target, folder, document, images)


def _write_markdown(target: Path, folder: Path, document: str, images: dict[str, bytes]) -> WrittenReport:
    parent = target.parent if str(target.parent) else Path(".")
    staging: Path | None = None
    backup: Path | None = None
    try:
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=parent))
            for name, blob in images.items():
                with open(staging / name, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
            os.chmod(staging, 0o777 & ~_umask())
            if folder.exists():
                backup = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".old", dir=parent))
                os.rmdir(backup)
                os.replace(folder, backup)
            os.replace(staging, folder)
            staging = None
            try:
                atomic_write_text(target, document)
            except BaseException:
                # put the previous images back: the old report stays whole
                shutil.rmtree(folder, ignore_errors=True)
                if backup is not None:
                    os.replace(backup, folder)
                    backup = None
                raise
        except OSError as exc:
            raise _oserror(target, exc) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
    paths = tuple(folder / name for name in images)
    return WrittenReport(target, "markdown", paths, len(document.encode("utf-8")) + sum(map(len, images.values())))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
