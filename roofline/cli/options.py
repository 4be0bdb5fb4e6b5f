"""Options shared by the commands, each defined once so a flag means the same thing everywhere, and
the parsers of human quantities (30ms, 15W, $500, 0.15/kWh) into SI values."""
from __future__ import annotations

import math
import re

import click

from roofline.constants import DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_UTILIZATION, DEFAULT_YEARS
from roofline.errors import RooflineError
from roofline.workload.dtypes import COUNTING_DTYPES


class OptionError(RooflineError):
    """An option with a malformed value."""


_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµ/$%]*)\s*$")


def _split(text: str, what: str) -> tuple[float, str]:
    m = _QUANTITY.match(str(text))
    if not m:
        raise OptionError(f"malformed value {text!r}: expected {what}")
    value = float(m.group(1))
    if value <= 0:
        raise OptionError(f"malformed value {text!r}: must be positive")
    return value, m.group(2)


def parse_duration(text: str) -> float:
    """'30ms', '0.03s', '500us' -> seconds."""
    value, unit = _split(text, "a duration such as 30ms or 0.03s")
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "min": 60.0}.get(unit)
    if scale is None:
        raise OptionError(f"malformed duration {text!r}: use s, ms or us, e.g. 30ms")
    return value * scale


def parse_rate(text: str) -> float:
    """'100/s', '100', '6000/min' -> per second."""
    value, unit = _split(text, "a rate such as 100/s")
    scale = {"": 1.0, "/s": 1.0, "persec": 1.0, "/min": 1 / 60, "/h": 1 / 3600, "qps": 1.0, "ips": 1.0,
             "rps": 1.0}.get(unit)
    if scale is None:
        raise OptionError(f"malformed rate {text!r}: use e.g. 100/s or 6000/min")
    return value * scale


def parse_power(text: str) -> float:
    """'15W', '0.5kW' -> watts."""
    value, unit = _split(text, "a power such as 15W")
    scale = {"w": 1.0, "kw": 1e3, "mw": 1e-3}.get(unit.lower())
    if scale is None:
        raise OptionError(f"malformed power {text!r}: use W or kW, e.g. 15W")
    return value * scale


def parse_usd(text: str) -> float:
    """'500', '$500', '1.5k' -> USD."""
    cleaned = str(text).strip().lstrip("$").replace(",", "")
    scale = 1.0
    if cleaned.lower().endswith("k"):
        cleaned, scale = cleaned[:-1], 1e3
    try:
        value = float(cleaned) * scale
    except ValueError:
        raise OptionError(f"malformed price {text!r}: give US dollars, e.g. 500 or 1.5k") from None
    if not math.isfinite(value) or value < 0:
        raise OptionError(f"malformed price {text!r}: must be a non-negative number of US dollars")
    return value


def _number(text: str, what: str, example: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise OptionError(f"malformed {what} {text!r}: expected a number such as {example}") from None
    if not math.isfinite(value):
        raise OptionError(f"malformed {what} {text!r}: expected a finite number such as {example}")
    return value


def parse_electricity(text: str) -> float:
    """'0.15', '$0.15', '0.15/kWh' -> USD per kWh."""
    cleaned = str(text).strip().lower().replace("usd", "").lstrip("$").strip()
    for suffix in ("/kwh", "per kwh"):
        cleaned = cleaned.removesuffix(suffix).strip()
    value = _number(cleaned, "electricity price", "0.15 (USD per kWh)")
    if value < 0:
        raise OptionError(f"malformed electricity price {text!r}: must be a non-negative number of USD per kWh")
    return value


def parse_years(text: str) -> float:
    value = _number(text, "period", "3 (years)")
    if value <= 0:
        raise OptionError(f"malformed period {text!r}: --years must be positive")
    return value


def parse_utilization(text: str) -> float:
    """'0.5' or '50%' -> 0.5."""
    cleaned = str(text).strip()
    scale = 1.0
    if cleaned.endswith("%"):
        cleaned, scale = cleaned[:-1], 0.01
    value = _number(cleaned, "utilization", "0.5 or 50%") * scale
    if not 0 < value <= 1:
        raise OptionError(f"malformed utilization {text!r}: must be in (0, 1], e.g. 0.5 or 50%")
    return value


def parse_host_memory(text: str | None) -> float | None:
    """'256GB', '512 GiB' -> bytes (None: not given)."""
    if text is None:
        return None
    from roofline.catalog.units import parse_quantity
    from roofline.errors import UnitError

    try:
        return parse_quantity(str(text).strip(), "bytes")
    except UnitError as exc:
        raise OptionError(f"malformed --host-memory {text!r}: {exc}") from None


def parse_positive_int(text: str, flag: str, example: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise OptionError(f"malformed {flag} {text!r}: expected a positive integer such as {example}") from None
    if value < 1:
        raise OptionError(f"malformed {flag} {text!r}: must be a positive integer")
    return value


# ------------------------------------------------------------------ option groups

def _apply(f, options):
    for option in reversed(options):
        f = option(f)
    return f


def model_options(f):
    """The model and input options of every command that takes a MODEL."""
    return _apply(f, [
        click.option("--imgsz", type=int, default=None, help="Square image size: input (B, 3, N, N)."),
        click.option("--seq-len", type=int, default=None,
                     help="hf: text encoders (BERT, CLIP text...): tokens per sequence (default 128)."),
        click.option("--input-shape", type=str, default=None, help="Input shape, e.g. 1,3,224,224."),
        click.option("--batch", type=int, default=None,
                     help="Batch size (first input dimension; language models: concurrent sequences)."),
        click.option("--dtype", type=str, default=None,
                     help=f"Counting dtype for bytes: {', '.join(COUNTING_DTYPES)} (default: the model's; language "
                          "models: activation dtype, default fp16)."),
        click.option("--prompt", type=int, default=None, help="hf: models: prompt tokens per sequence (default 1024)."),
        click.option("--generate", type=int, default=None,
                     help="hf: models: tokens generated per sequence (default 256)."),
        click.option("--weights", default=None,
                     help="hf: models: weight format (fp16, bf16, fp32, or int8/int4 weight-only; default: the "
                          "activation dtype)."),
        click.option("--kv-dtype", default=None,
                     help="hf: models: KV cache dtype (fp16, bf16, fp32, fp8, int8; default: the activation dtype)."),
        click.option("--audio-seconds", type=float, default=None,
                     help="hf: Whisper: seconds of audio in the window, at most 30 (default 30; the encoder always "
                          "takes 3000 frames)."),
    ])


def model_options_from(kwargs: dict):
    """Pop the model options out of a command's keyword arguments: (batch, dtype, ModelOptions)."""
    from roofline.resolve import ModelOptions

    options = ModelOptions(imgsz=kwargs.pop("imgsz"), input_shape=kwargs.pop("input_shape"),
                           prompt=kwargs.pop("prompt"), generate=kwargs.pop("generate"),
                           weights=kwargs.pop("weights"), kv_dtype=kwargs.pop("kv_dtype"),
                           seq_len=kwargs.pop("seq_len"), audio_seconds=kwargs.pop("audio_seconds", None))
    return kwargs.pop("batch"), kwargs.pop("dtype"), options


def PARALLEL_OPTIONS(f):
    """Several GPUs per model replica (hf: language models; roofline.llm.parallel)."""
    return _apply(f, [
        click.option("--gpus", type=int, default=None,
                     help="hf: models: GPUs per replica (alone: tensor parallel over N GPUs of one NVLink domain)."),
        click.option("--tp", type=int, default=None, help="hf: models: tensor-parallel degree."),
        click.option("--pp", type=int, default=None, help="hf: models: pipeline-parallel stages."),
        click.option("--ep", type=int, default=None,
                     help="hf: mixture-of-experts models: expert-parallel degree (divides --tp)."),
    ])


def parallel_from(kwargs: dict):
    """Pop --gpus/--tp/--pp/--ep: a Parallelism, or None when none is given."""
    from roofline.llm.parallel import make_parallelism

    return make_parallelism(gpus=kwargs.pop("gpus"), tp=kwargs.pop("tp"), pp=kwargs.pop("pp"), ep=kwargs.pop("ep"))


RUNTIME_OPTION = click.option("--runtime", type=click.Choice(["eager", "compiled"]), default=None,
                              help="eager: PyTorch eager (unfused, per-op overhead); compiled: fused-graph "
                                   "runtimes (TensorRT, OpenVINO, torch.compile, LLM serving engines). "
                                   "Default: eager; compiled for hf: language models.")
TIER_OPTION = click.option("--tier", type=click.Choice(["sol", "datasheet", "published", "calibrated"]), default=None,
                           help="Efficiency tier (default: calibrated when the device has a calibration, "
                                "else datasheet; published = the device file's measured GEMM and bandwidth; "
                                "sol = 100 % of peak, no overhead).")
KINDS = click.Choice(["cpu", "gpu", "sbc", "accelerator"])
KIND_OPTION = click.option("--kind", "kinds", multiple=True, type=KINDS,
                           help="Only devices of this kind (repeatable).")
HOST_MEMORY_OPTION = click.option("--host-memory", default=None, metavar="BYTES",
                                  help="System memory of CPU hosts, e.g. 256GB (default: the catalog's, else an "
                                       "assumed 64 GiB, capped at the platform maximum).")
JOBS_OPTION = click.option("--jobs", type=int, default=None, metavar="N",
                           help="Models traced in parallel processes (default: the number of CPU cores).")
DEVICES_OPTION = click.option("--devices", "device_ids", default=None, metavar="ID,ID,...",
                              help="Comma-separated catalog device ids (default: the whole catalog).")


def cost_options(f):
    """What a device costs to own and run: the same defaults everywhere (roofline.constants)."""
    return _apply(f, [
        click.option("--electricity", default=str(DEFAULT_ELECTRICITY_USD_PER_KWH), show_default=True,
                     metavar="USD/kWh", help="Electricity price in USD per kWh."),
        click.option("--years", default=f"{DEFAULT_YEARS:g}", show_default=True,
                     help="Period of ownership over which the purchase price is amortised."),
        click.option("--utilization", default=f"{DEFAULT_UTILIZATION:g}", show_default=True,
                     help="Share of the time a device serves requests (0.5 or 50%), for the amortised price."),
        click.option("--cost-basis", type=click.Choice(["auto", "purchase", "cloud"]), default="auto",
                     show_default=True,
                     help="auto: the purchase price where the catalog has one, else the cloud price per hour."),
    ])


def costs_from(kwargs: dict):
    from roofline.decide.costs import CostAssumptions

    return CostAssumptions(parse_electricity(kwargs.pop("electricity")), parse_years(kwargs.pop("years")),
                           parse_utilization(kwargs.pop("utilization")), kwargs.pop("cost_basis"))


def select_devices(catalog, device_ids: str | None, kinds: tuple[str, ...]):
    """The devices a command runs on: --devices ids (unknown: one-line error), else the catalog, with --kind."""
    from roofline.resolve import resolve_devices

    ids = None
    if device_ids is not None:
        ids = [i.strip() for i in device_ids.split(",") if i.strip()]
        if not ids:
            raise OptionError("--devices needs at least one device id, e.g. --devices nvidia-l4,nvidia-t4")
    specs = resolve_devices(ids, catalog=catalog, kinds=kinds or None)
    if not specs:
        raise OptionError("no device of kind " + ", ".join(kinds) + " among the devices asked for")
    return specs


__all__ = ["OptionError", "parse_duration", "parse_rate", "parse_power", "parse_usd", "parse_electricity",
           "parse_years", "parse_utilization", "parse_positive_int", "model_options", "model_options_from",
           "RUNTIME_OPTION", "TIER_OPTION", "KIND_OPTION", "DEVICES_OPTION", "JOBS_OPTION", "cost_options", "costs_from",
           "select_devices", "KINDS", "PARALLEL_OPTIONS", "parallel_from"]
