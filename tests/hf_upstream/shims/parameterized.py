"""A stand-in for the ``parameterized`` package (not a dependency of anyres), enough for the
vendored transformers test files: ``@parameterized.expand([...])`` makes one test method per
case, named ``<name>_<index>`` as the real package names them."""

from __future__ import annotations

import functools
import inspect


class parameterized:  # noqa: N801 - the real package's spelling
    @staticmethod
    def expand(cases, name_func=None, **_ignored):
        def decorate(func):
            frame = inspect.currentframe().f_back
            namespace = frame.f_locals
            for index, case in enumerate(cases):
                args = tuple(case) if isinstance(case, (list, tuple)) else (case,)

                def make(args=args):
                    @functools.wraps(func)
                    def method(self):
                        return func(self, *args)

                    return method

                name = name_func(func, index, args) if name_func else f"{func.__name__}_{index}"
                method = make()
                method.__name__ = name
                namespace[name] = method
            return None

        return decorate
