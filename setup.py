"""The built-in catalog lives in the top-level ``devices/`` folder and ships as ``roofline.devices``.

pyproject.toml cannot map one subpackage to another folder while also discovering the
rest, so the package list is assembled here; all other metadata stays in pyproject.toml.
"""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["roofline", "roofline.*"]) + ["roofline.devices"],
    package_dir={"roofline.devices": "devices"},
    package_data={"roofline.devices": ["**/*.yaml", "*.yaml"], "roofline": ["py.typed", "**/*.yaml", "**/*.json"]},
)
