"""Torch modules and their training code, one sub-package per neural stage. Never imports ``pipeline``."""
