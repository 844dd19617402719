"""Everything is declared in pyproject.toml except one thing pyproject cannot say: the top-level
``prompts/`` and ``knowledge/`` folders (where the project keeps them) go into the wheel as
``bot/_data/prompts`` and ``bot/_data/knowledge``, read through ``importlib.resources``
(:func:`bot.config.packaged_dir`). pyproject's ``packages.find`` cannot be combined with such a
mapping, so the package list is found here."""

from setuptools import find_namespace_packages, setup

DATA = {"bot._data.prompts": "prompts", "bot._data.knowledge": "knowledge"}

setup(
    # namespace discovery: folders of data without an __init__.py (bot/assets, the migrations'
    # versions/) are packages too, so their files are listed, not warned about
    packages=[*find_namespace_packages(include=["bot", "bot.*"], exclude=["*.__pycache__"]), *DATA],
    package_dir=DATA,
)
