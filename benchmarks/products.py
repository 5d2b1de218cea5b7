"""The LSTM's three matrix products per step, through PyTorch's BLAS and through oneDNN, side by side.

    python benchmarks/products.py                          # hidden 64 and 128, batch 128, one thread
    python benchmarks/products.py --hidden 64 --threads 2

Our cells' steps multiply by the recurrent weight with `torch.mm` (PyTorch's BLAS, MKL in the x86
wheels); `nn.LSTM`, every speed goal's denominator, runs on oneDNN's RNN primitive. Which library is
faster for these small products depends on the CPU, and so do the cells' ratios to `nn.LSTM`
(docs/mnist784.md, "Speed at 784 steps"). This script measures the products alone, per step:
`h Uᵀ` (forward), `g U` (backward), and per chunk of 16 steps the weight gradient `gᵀ h`, each
through `torch.mm` and through oneDNN's matrix product (`torch.ops.mkldnn._linear_pointwise`, the
operator inductor uses for frozen weights; measured here, not used by the service: inside a compiled
graph inductor takes it only for a constant weight).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from _common import console, load_line, machine_line, print_table
from torch import Tensor

from momentum_search.trainers.cells._scan import CHUNK  # steps per chunk of the compiled steps


def onednn(a: Tensor, b: Tensor) -> Tensor:
    """`a @ b` through oneDNN: its linear operator computes `x Wᵀ`."""
    return torch.ops.mkldnn._linear_pointwise(a, b.t(), None, "none", [], "")


def microseconds(run: Callable[[], Tensor], repeats: int) -> float:
    """The median over `repeats` rounds of the mean time of one call, after a warm-up."""
    for _ in range(10):
        run()
    calls = 50
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", default="64,128", help="comma-separated hidden sizes (default: 64,128)")
    parser.add_argument("--batch", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default: 1)")
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds; the median is reported (default: 9)")
    args = parser.parse_args()
    if not torch.backends.mkldnn.is_available():
        raise SystemExit("error: this torch build has no oneDNN (torch.backends.mkldnn.is_available() is False)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    console.print(f"torch {torch.__version__}, {args.threads} thread(s); {load_line()}")
    console.print(machine_line())
    rows = []
    for hidden in (int(size) for size in args.hidden.split(",")):
        gates = 4 * hidden
        h, g = torch.randn(args.batch, hidden), torch.randn(args.batch, gates)
        weight = torch.randn(gates, hidden)
        hs, gs = torch.randn(CHUNK * args.batch, hidden), torch.randn(CHUNK * args.batch, gates)
        products = {
            "forward h Uᵀ": (h, weight.t()),
            "backward g U": (g, weight),
            f"weight gradient gᵀ h ({CHUNK} steps)": (gs.t(), hs),
        }
        for name, (a, b) in products.items():
            if not torch.allclose(onednn(a, b), a @ b, rtol=1e-4, atol=1e-3):
                raise SystemExit(f"error: oneDNN's {name} differs from torch.mm's")
            blas = microseconds(lambda a=a, b=b: torch.mm(a, b), args.repeats)
            dnn = microseconds(lambda a=a, b=b: onednn(a, b), args.repeats)
            shape = f"({a.size(0)}×{a.size(1)}) @ ({b.size(0)}×{b.size(1)})"
            rows.append([name, str(hidden), shape, f"{blas:.0f}", f"{dnn:.0f}", f"{blas / dnn:.2f}×"])
    columns = ["product", "hidden", "shape", "torch.mm µs", "oneDNN µs", "torch.mm / oneDNN"]
    print_table(f"The LSTM's products, batch {args.batch}, median of {args.repeats}", columns, rows)


if __name__ == "__main__":
    main()
