"""The user's code, imported by name (`package.module:function`): code tasks and objective functions."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def load_function(target: str, where: str) -> Callable[..., Any]:
    """The function `target` names (`package.module:function`), imported.

    Raises:
        ValueError: one line starting with `where`: not of that form, the module does not import (or
            fails while importing), it has no such attribute, or that is not callable.
    """
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"{where}: expected package.module:function, got {target!r}")
    try:
        function = getattr(importlib.import_module(module), attribute)
    except ImportError as error:
        raise ValueError(f"{where}: cannot import {module}: {error}") from None
    except AttributeError:
        raise ValueError(f"{where}: module {module} has no {attribute!r}") from None
    except Exception as error:  # the user's module failed while importing
        raise ValueError(f"{where}: importing {module} failed: {one_line(error)}") from None
    if not callable(function):
        raise ValueError(f"{where}: {target} is not a function but a {type(function).__name__}")
    return function


def one_line(error: BaseException) -> str:
    """`Type: first line of the message`, for errors raised by the user's code."""
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
