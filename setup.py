"""Package layout (the metadata is in pyproject.toml).

Two folders install under other names than their own: the web app in ``app/`` becomes the package ``skelrec_app``
(nothing installs a package called ``app``), and the shipped models in ``weights/`` become package data in
``skelrec/weights`` (a wheel labels videos with no clone and no network). pyproject.toml's ``packages.find`` cannot
name a package after another folder, hence this file.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["skelrec", "skelrec.*"]), "skelrec_app", "skelrec.weights"],
    package_dir={"skelrec_app": "app", "skelrec.weights": "weights"},
)
