"""Package layout for setuptools; the metadata is in pyproject.toml.

The shipped data stays at the top of the checkout (``conf/``, ``lexicons/``, ``checkpoints/``, ``demo/``) and
travels in the wheel as package data under ``pipeline/_data/``: each folder is mapped onto a data package
``pipeline._data.<folder>`` with every file below it. ``pipeline.resources.data_root`` finds it there at run
time; an editable install reads the checkout's own folders instead.
"""

from setuptools import find_namespace_packages, setup

DATA_DIRS = ("conf", "lexicons", "checkpoints", "demo")   # pipeline/resources.py: DATA_DIRS
DATA_PACKAGES = {f"pipeline._data.{folder}": folder for folder in DATA_DIRS}

setup(
    packages=find_namespace_packages(include=["pipeline*", "models*"], exclude=["*__pycache__"])
    + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={package: ["**/*"] for package in DATA_PACKAGES},   # hidden files (.gitkeep) stay out
)
