"""Run a callback right after a module is first imported (a post-import hook), without importing it.

:mod:`nft.local.plugin` is imported at ``import verl`` in every process; importing the verl modules
whose registries it fills (rollout registries, ~1 s) in processes that never use them would slow
every Ray worker down. :func:`when_imported` defers the work to the moment the module is imported
(or runs it at once if it already is).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from typing import Callable

_lock = threading.RLock()
_hooks: dict[str, list[Callable]] = {}


class _LoaderWrapper(importlib.abc.Loader):
    def __init__(self, loader, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        with _lock:
            hooks = _hooks.pop(self._name, [])
        for hook in hooks:
            hook(module)

    def __getattr__(self, item):  # get_source, is_package, ... for tools that ask
        return getattr(self._loader, item)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        with _lock:
            if fullname not in _hooks:
                return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _LoaderWrapper(spec.loader, fullname)
        return spec


_finder = _Finder()


def when_imported(module_name: str, hook: Callable) -> None:
    """Call ``hook(module)`` once ``module_name`` is imported (now, if it already is)."""
    with _lock:
        mod = sys.modules.get(module_name)
        if mod is None:
            _hooks.setdefault(module_name, []).append(hook)
            if _finder not in sys.meta_path:
                sys.meta_path.insert(0, _finder)
            return
    hook(mod)
