"""Import every genmatch module before collection.

Doctests are collected from the package's source files with ``--import-mode=importlib``,
which reuses a module already in ``sys.modules`` but would otherwise load a second copy of
it (two ``PosteriorValue`` classes, say), whatever the order in which files are collected.
"""

import importlib
import pkgutil

import genmatch

for _module in pkgutil.walk_packages(genmatch.__path__, "genmatch."):
    if not _module.name.endswith("__main__"):  # the command line, not a module to load
        importlib.import_module(_module.name)
