"""scipy.special's functions for the estimators, without paying for all of scipy.special up front.

``import scipy.special`` costs about 0.3 s on a quiet machine (more than a whole paper-grid
analysis), almost all of it in its array-API layer, which imports ``numpy.testing`` and
``numpy.f2py``. The p-values of lm, att and poisson need only ``stdtr`` and ``ndtr``, which live
in the compiled ufunc module ``scipy.special._ufuncs``; that module loads in about 10 ms.

:func:`ufuncs` therefore loads that module under a *deferred* ``scipy.special`` package: a module
object with the real package's spec and path, so that its compiled submodules import as they
always do, and which runs the real ``scipy/special/__init__.py`` in place the first time anyone
asks it for anything it does not yet hold (``from scipy.special import digamma``,
``scipy.special.stdtr``, ``import scipy.stats``). Until then nothing else of the package is
imported; afterwards it is the complete package. Either way ``stdtr`` is the one ufunc object
scipy.special exports, so every p-value is the same as with a plain ``from scipy import special``.
If scipy.special is already imported, or its layout is not the expected one, the plain import is
used.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

__all__ = ["full", "ufuncs"]

_PACKAGE = "scipy.special"
_lock = threading.RLock()
_ufuncs = None


class _DeferredPackage(types.ModuleType):
    """``scipy.special`` before its ``__init__`` ran: submodules import normally; the first
    attribute it lacks runs the real ``__init__`` in this module, which then is an ordinary module."""

    def __getattr__(self, name: str):
        if (name.startswith("__") and name != "__all__") or "_matchedwake_initialising" in self.__dict__:
            raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")
        _initialise(self)
        return getattr(self, name)

    def __dir__(self):
        _initialise(self)
        return sorted(self.__dict__)


def _initialise(module: types.ModuleType) -> None:
    """Run scipy.special's own ``__init__`` in ``module`` (once), then drop the deferral; if it
    fails, the module is forgotten as a failed import is."""
    with _lock:
        if type(module) is not _DeferredPackage:
            return
        module.__dict__["_matchedwake_initialising"] = True
        try:
            module.__spec__.loader.exec_module(module)
        except BaseException:
            if sys.modules.get(_PACKAGE) is module:
                del sys.modules[_PACKAGE]
            raise
        finally:
            del module.__dict__["_matchedwake_initialising"]
            module.__class__ = types.ModuleType


def _deferred_package() -> types.ModuleType:
    """A :class:`_DeferredPackage` registered as ``scipy.special`` (the parent ``scipy`` is cheap)."""
    spec = importlib.util.find_spec(_PACKAGE)  # imports scipy, not scipy.special
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        raise ImportError(f"{_PACKAGE} has no package spec")
    module = _DeferredPackage(_PACKAGE)
    module.__spec__ = spec
    module.__loader__ = spec.loader
    module.__package__ = _PACKAGE
    module.__path__ = list(spec.submodule_search_locations)
    module.__file__ = spec.origin
    sys.modules[_PACKAGE] = module
    sys.modules["scipy"].special = module
    return module


def ufuncs():
    """The module holding ``stdtr`` and ``ndtr``: ``scipy.special._ufuncs`` (see the module docs)."""
    global _ufuncs
    if _ufuncs is not None:
        return _ufuncs
    with _lock:
        loaded = sys.modules.get(_PACKAGE)
        if loaded is not None:
            _ufuncs = loaded if type(loaded) is not _DeferredPackage else loaded._ufuncs
            return _ufuncs
        try:
            package = _deferred_package()
        except ImportError:
            package = None
        if package is not None:
            try:
                _ufuncs = importlib.import_module(f"{_PACKAGE}._ufuncs")
                return _ufuncs
            except ImportError:  # not scipy's layout: forget the deferred package, import it whole
                if sys.modules.get(_PACKAGE) is package:
                    del sys.modules[_PACKAGE]
    _ufuncs = full()
    return _ufuncs


def full():
    """``scipy.special`` with its ``__init__`` run (the NB fit's gamma functions need it)."""
    module = importlib.import_module(_PACKAGE)
    if type(module) is _DeferredPackage:
        _initialise(module)
    return module
