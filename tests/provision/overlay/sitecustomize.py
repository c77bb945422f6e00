"""Test setup only: until the artifacts domain (`taichu.artifacts.service`) is in the tree,
servers started by the provision tests (PYTHONPATH has this directory) find a tiny
stand-in of its documented API (CREATE-CONTRACT.md). The real one, once present, wins."""

import importlib.util
import pathlib

try:
    import taichu

    if importlib.util.find_spec("taichu.artifacts") is None:
        taichu.__path__.append(str(pathlib.Path(__file__).parent / "taichu_overlay"))
except ImportError:  # not a taichu process
    pass
