"""Recipes that reproduce the experiments of the mixup paper (see README.md)."""
