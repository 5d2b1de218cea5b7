"""The `momentum-search` command line: one module per area, each command parses its options, calls the
library and hands the result to `_render`; bad input ends in one line on stderr (`_common.reported`).

Modules import only Typer, rich and YAML at the top; each command imports the library it calls, so that
`--help` and the commands that read the store never load torch, Ray or the trainer.
"""

from __future__ import annotations

import typer

from momentum_search.cli._ablate import ablate
from momentum_search.cli._export import export
from momentum_search.cli._launch import confirm, launch, worker
from momentum_search.cli._plot import plot
from momentum_search.cli._presets import presets
from momentum_search.cli._serve import dashboard, storage_proxy
from momentum_search.cli._studies import studies_app
from momentum_search.cli._train import train

__all__ = ["app"]

app = typer.Typer(
    name="momentum-search",
    help="Measured hyperparameter search for the momentum coefficients of MomentumRNNs.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a storage URL may hold a password
    add_completion=False,
)
# In this order in --help.
for command in (train, launch, worker, confirm, presets, export, plot, ablate, dashboard):
    app.command()(command)
app.command("storage-proxy")(storage_proxy)
app.add_typer(studies_app, name="studies")
