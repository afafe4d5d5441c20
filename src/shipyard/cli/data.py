"""``shipyard.cli.data`` provides ``shipyard data ...``: datasets, statistics, schema, validation, drift."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from shipyard.engine.cluster import ENV_ADDRESS

app = typer.Typer(
    help="Datasets, statistics, schemas, validation and drift. A SOURCE is a file, glob or "
    "URL, a dataset (NAME or NAME@VERSION), or a run's split (RUN:train, latest:test).",
    no_args_is_help=True,
)

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="text, json or html.", case_sensitive=False)
]
OutputOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Option("--output", "-o", help="Write the report here (html or json by --format)."),
]
AddressOption = Annotated[
    Optional[str],  # noqa: UP045 - typer needs Optional on 3.11
    typer.Option(
        "--address",
        envvar=ENV_ADDRESS,
        help="Read several files (or a partitioned dataset's parts) one task per part on a Dask "
        "cluster: tcp://HOST:PORT, or 'local' for worker processes on this machine. "
        "Default: in this process.",
    ),
]


def _emit(fmt: str, output: Path | None, *, data: object, html: Callable[[], str], text: object) -> None:
    """Print or write a result in the asked format (the HTML is built only when asked for)."""
    import json

    from shipyard.cli.render import console, print_json
    from shipyard.data.reports import write_report
    from shipyard.errors import ShipyardError

    fmt = fmt.lower()
    if fmt not in ("text", "json", "html"):
        raise ShipyardError(f"--format {fmt!r} is not one of text, json, html.")
    if fmt == "html" and output is None:
        raise ShipyardError("--format html needs --output FILE.html.")
    if output is not None:
        content = html() if fmt == "html" else json.dumps(data, indent=2, default=str)
        written = write_report(content, output)
        console.print(f"Wrote {written}")
        return
    if fmt == "json":
        print_json(data)
    else:
        console.print(text)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The dataset's name.")],
    path: Annotated[
        str,
        typer.Argument(
            help="A CSV/Parquet/JSON-lines file, a glob or a folder (several files: a partitioned "
            "version, one Parquet part per file), or a URL."
        ),
    ],
    message: Annotated[
        Optional[str], typer.Option("--message", "-m", help="What this version is.")  # noqa: UP045
    ] = None,
    address: AddressOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Snapshot data as a new version of a dataset (identical content: the existing version)."""
    from shipyard.cli.render import console, print_json
    from shipyard.cli.state import client as make_client
    from shipyard.engine.provenance import current_user

    with make_client(create=True) as client:
        version, created = client.datasets.add(
            name, path, message=message, user=current_user(), address=address or None,
            progress=None if json_out else (lambda m: console.print(f"[dim]{m}…[/dim]")),
        )
        table = client.datasets.table(version)
    parts = len(table.parts) if table is not None else None
    if json_out:
        print_json({**version.to_dict(), "created": created, "parts": parts})
    elif created:
        stored = f" in {parts} Parquet parts" if parts is not None else ""
        console.print(
            f"Added [bold]{version.ref}[/bold]: {version.rows:,} rows, {len(version.columns)} columns"
            f"{stored} (data {version.artifact_id[:12]})"
        )
    else:
        console.print(f"Unchanged: this content is already [bold]{version.ref}[/bold]")


@app.command("list")
def list_datasets(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List datasets with their latest version."""
    from rich.table import Table

    from shipyard.cli.render import console, print_json, when
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        latest = client.metadata_store.list_datasets()
    if json_out:
        print_json([v.to_dict() for v in latest])
        return
    if not latest:
        console.print("No datasets yet. Add one with: shipyard data add NAME PATH")
        return
    table = Table(header_style="bold")
    for column in ("dataset", "latest", "rows", "columns", "added", "message"):
        table.add_column(column)
    for v in latest:
        table.add_row(v.name, str(v.version), f"{v.rows:,}", str(len(v.columns)), when(v.created_at), v.message or "")
    console.print(table)


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(metavar="NAME[@VERSION]", help="The dataset (latest version by default).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A dataset version: rows, columns, types, statistics, other versions, runs that used it."""
    from shipyard.cli.render import console, print_json, statistics_table, when
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        version = client.datasets.resolve(ref)
        stats = client.datasets.statistics(version)
        versions = client.metadata_store.dataset_versions(version.name)
        runs = client.datasets.runs_using(version)
        table = client.datasets.table(version)
    if json_out:
        print_json({
            **version.to_dict(), "parts": len(table.parts) if table is not None else None,
            "statistics": stats.summary(), "versions": [v.version for v in versions], "runs": runs,
        })
        return
    console.print(f"[bold]Dataset {version.ref}[/bold]  {version.rows:,} rows, {len(version.columns)} columns")
    console.print(f"data          {version.artifact_id}")
    if table is not None:
        size = sum(p.size for p in table.parts) / 2**20
        console.print(f"parts         {len(table.parts)} Parquet parts, {size:,.1f} MB")
    console.print(f"added         {when(version.created_at)} by {version.user or '-'} from {version.source or '-'}")
    if version.message:
        console.print(f"message       {version.message}")
    console.print(f"versions      {', '.join(str(v.version) for v in versions)}")
    console.print(f"used by runs  {', '.join(r[:8] for r in runs) or 'none yet'}")
    console.print(statistics_table(stats))


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(metavar="NAME@A")],
    b: Annotated[str, typer.Argument(metavar="NAME@B")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What changed between two dataset versions: rows, columns, statistics, drift."""
    from shipyard.cli.render import console, diff_text, print_json
    from shipyard.cli.state import client as make_client

    with make_client() as client:
        va, vb = client.datasets.resolve(a), client.datasets.resolve(b)
        result = client.datasets.diff(va, vb)
    if json_out:
        print_json({"a": va.ref, "b": vb.ref, **result})
    else:
        console.print(diff_text(va.ref, vb.ref, result))


@app.command("export")
def export(
    ref: Annotated[str, typer.Argument(metavar="NAME@VERSION")],
    path: Annotated[
        Path,
        typer.Argument(
            help="The file to write (.parquet, .csv or .jsonl), or a new folder (a path without an "
            "extension) to get one Parquet file per part."
        ),
    ],
) -> None:
    """Write a dataset version to a file, or to a folder of Parquet parts."""
    from shipyard.cli.render import console
    from shipyard.cli.state import client as make_client
    from shipyard.data.sources import file_format

    if path.suffix and not path.is_dir():
        file_format(path)  # an unknown extension is an error before any work
    with make_client() as client:
        rows, written, files = client.datasets.export(client.datasets.resolve(ref), path)
    if written.is_dir():
        console.print(f"Wrote {rows:,} rows to {written}/ ({files} Parquet part{'s' if files != 1 else ''})")
    else:
        console.print(f"Wrote {rows:,} rows to {written}")


@app.command("stats")
def stats(
    source: Annotated[str, typer.Argument(metavar="SOURCE")],
    fmt: FormatOption = "text",
    output: OutputOption = None,
    address: AddressOption = None,
) -> None:
    """Statistics of every column: counts, nulls, distinct values, ranges, quantiles, top values."""
    from shipyard.cli.render import statistics_table
    from shipyard.cli.state import client as make_client
    from shipyard.data.reports import statistics_html

    with make_client(create=True) as client:
        label, result = client.data_statistics(source, address=address or None)
    _emit(fmt, output, data=result.summary(), html=lambda: statistics_html({label: result}, title=f"Statistics of {label}"),
          text=statistics_table(result))


@app.command("schema")
def schema(
    source: Annotated[str, typer.Argument(metavar="SOURCE")],
    label: Annotated[
        Optional[str], typer.Option("--label", help="The label column, if any.")  # noqa: UP045
    ] = None,
    address: AddressOption = None,
) -> None:
    """Print a schema inferred from SOURCE as YAML (save it: > schema.yaml, then edit)."""
    import sys

    from shipyard.cli.state import client as make_client
    from shipyard.data.schema import infer_schema, schema_yaml

    with make_client(create=True) as client:
        _, result = client.data_statistics(source, address=address or None)
    sys.stdout.write(schema_yaml(infer_schema(result, label=label)))


@app.command("validate")
def validate(
    source: Annotated[str, typer.Argument(metavar="SOURCE")],
    schema_file: Annotated[Path, typer.Option("--schema", help="The schema.yaml to check against.")],
    fmt: FormatOption = "text",
    output: OutputOption = None,
    address: AddressOption = None,
) -> None:
    """Check data against a schema; exits 2 when an anomaly of severity error is found."""
    from shipyard.cli.render import anomalies_table
    from shipyard.cli.state import client as make_client
    from shipyard.data.reports import validation_html
    from shipyard.data.schema import load_schema
    from shipyard.data.validation import schema_types, validate_statistics

    expected = load_schema(schema_file)
    with make_client(create=True) as client:
        label, result = client.data_statistics(source, types=schema_types(expected), address=address or None)
    checked = validate_statistics(result, expected)
    _emit(fmt, output, data=checked.to_json(), html=lambda: validation_html(checked.to_json(), title=f"Validation of {label}"),
          text=anomalies_table(checked.to_json()))
    checked.raise_for_errors(label)


@app.command("drift")
def drift(
    reference: Annotated[str, typer.Argument(metavar="REFERENCE", help="The baseline SOURCE (e.g. training data).")],
    current: Annotated[str, typer.Argument(metavar="CURRENT", help="The SOURCE to compare with it.")],
    fmt: FormatOption = "text",
    output: OutputOption = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit with code 2 when the dataset drifts (for CI).")
    ] = False,
    address: AddressOption = None,
) -> None:
    """Compare two sources column by column: Wasserstein, KS and PSI for numbers; Jensen-Shannon, chi-square and PSI for categories."""
    from shipyard.cli.render import drift_table
    from shipyard.cli.state import client as make_client
    from shipyard.data.drift import compare
    from shipyard.data.parallel import cluster
    from shipyard.data.reports import drift_html
    from shipyard.errors import ShipyardError

    # One cluster connection for both sides (`local` starts its worker processes once).
    with make_client(create=True) as client, cluster(address or None) as dask:
        ref_label, ref = client.data_statistics(reference, dask_client=dask)
        types = {name: column.type for name, column in ref.columns.items()}
        cur_label, cur = client.data_statistics(current, types=types, dask_client=dask)
    report = compare(ref, cur)
    data = report.to_json()
    _emit(fmt, output, data=data,
          html=lambda: drift_html(data, ref, cur, title=f"Drift: {ref_label} → {cur_label}", labels=(ref_label, cur_label)),
          text=drift_table(data))
    if fail_on_drift and report.dataset_drift:
        raise ShipyardError(
            f"The data drifts: {len(report.drifted)} of {len(report.columns)} columns ({report.share:.0%})."
        )
