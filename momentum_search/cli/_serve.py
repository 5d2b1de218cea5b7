"""`dashboard` and `storage-proxy`: the servers that share a storage."""

from __future__ import annotations

from typing import Annotated

import typer

from momentum_search.cli import _render as render
from momentum_search.cli._common import GradientFlowOption, HostOption, StorageOption, os_error, reported


def dashboard(
    storage: StorageOption = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    gradient_flow: GradientFlowOption = True,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Refuse every request but GET and HEAD: no study can be changed or deleted.")
    ] = False,
) -> None:
    """Serve optuna-dashboard on the storage, with each study's figures and summary saved next to Optuna's views."""
    from momentum_search import dashboards

    with reported():
        published = dashboards.publish_all(storage, gradient_flow=gradient_flow)
    for item in published:
        render.note(f"study {item.study}: {item.figures} figures saved, {item.missing} not drawn (see its note)")
    _warn_if_exposed(host, "optuna-dashboard", "read the studies" if read_only else "edit and delete studies")
    mode = " read-only" if read_only else ""
    render.note(f"optuna-dashboard{mode} on http://{host}:{port}/dashboard/ (Ctrl-C stops it)")
    with os_error(f"cannot listen on {host}:{port}"):
        dashboards.serve(storage, host=host, port=port, read_only=read_only)


def storage_proxy(
    storage: StorageOption = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 13000,
    threads: Annotated[int, typer.Option(min=1, help="Requests served at once, each with at most one database connection.")] = 10,
) -> None:
    """Serve the storage to workers through Optuna's gRPC proxy (they use --storage grpc://HOST:PORT);
    it also fails and re-queues the trials of workers that died."""
    from momentum_search import studies

    def ready(database: str) -> None:
        _warn_if_exposed(host, "the storage proxy", "read, change and delete studies")
        render.note(f"storage proxy for {database} on grpc://{host}:{port} (Ctrl-C stops it)")

    try:
        with reported(), os_error(f"cannot listen on {host}:{port}"):
            studies.serve_proxy(storage, host=host, port=port, threads=threads, on_ready=ready)
    except KeyboardInterrupt:
        raise typer.Exit(code=130) from None


def _warn_if_exposed(host: str, service: str, can: str) -> None:
    if host not in ("127.0.0.1", "localhost", "::1"):
        render.note(f"warning: listening on {host}: {service} has no login, anyone who reaches it can {can}")
