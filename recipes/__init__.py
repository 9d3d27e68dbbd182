"""Recipes that reproduce the experiments of the mixup paper (see README.md)."""

from recipes.lib import startup as _startup

# Before anything imports Keras: TensorFlow's start-up notices filtered out
# of the first screen, real warnings and errors kept (recipes/lib/startup.py).
_startup.quiet_backend_import()
