"""momentum-search: measured hyperparameter search for MomentumRNNs.

`MomentumRNN` (any cell kind behind `torch.nn.LSTM`'s contract) and `CELL_KINDS` (the kinds, their
hyperparameters and defaults) are exported lazily: importing the package loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from momentum_search._lazy import lazy_exports

if TYPE_CHECKING:
    from momentum_search.trainers.cells import CELL_KINDS, MomentumRNN

__version__ = "0.1.0"
__all__ = ["CELL_KINDS", "MomentumRNN", "__version__"]

__getattr__, __dir__ = lazy_exports(globals(), {"CELL_KINDS": ".trainers.cells", "MomentumRNN": ".trainers.cells"})
