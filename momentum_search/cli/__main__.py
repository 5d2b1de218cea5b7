"""``python -m momentum_search.cli``, as the ``momentum-search`` script."""

from __future__ import annotations

from momentum_search.cli import app

app()
