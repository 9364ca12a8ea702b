"""Model families, one small module each; ``FAMILIES`` maps a family's name to its class."""

from __future__ import annotations

from ..checks import SettingsError
from .base import Family
from .cnn import CNN
from .fcnet import FCNet
from .lcbench import LCBench

FAMILIES: dict[str, type[Family]] = {"fcnet": FCNet, "lcbench": LCBench, "cnn": CNN}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]()
    except KeyError:
        raise SettingsError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None


__all__ = ["FAMILIES", "Family", "get_family"]
