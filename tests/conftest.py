from __future__ import annotations

import torch

# pytest-xdist runs one process per core; one torch thread each keeps them from fighting.
torch.set_num_threads(1)
