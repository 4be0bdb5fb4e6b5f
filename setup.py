"""Two top-level folders ship inside the package: ``devices/`` (the built-in catalog) as
``roofline.devices`` and ``calibration/`` (the microbenchmark suite) as ``roofline.calibration``.

pyproject.toml cannot map one subpackage to another folder while also discovering the
rest, so the package list is assembled here; all other metadata stays in pyproject.toml.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["roofline", "roofline.*"]) + ["roofline.devices", "roofline.calibration"],
    package_dir={"roofline.devices": "devices", "roofline.calibration": "calibration"},
    package_data={"roofline.devices": ["**/*.yaml", "*.yaml"], "roofline": ["py.typed", "**/*.yaml", "**/*.json"]},
)
