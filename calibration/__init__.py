"""Microbenchmark suite run on a target host by `roofline calibrate` (installed as ``roofline.calibration``)."""
