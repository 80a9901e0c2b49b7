"""`gasguard protocol`: look at the wire contract from a shell.

`vectors` prints every golden message (kind, bytes, diagnostic notation, decoded dict) and, with
`--write`, regenerates protocol/vectors/ after a deliberate change to a sample; `decode` turns a
hex payload captured off the wire into the dict both sides see, or says exactly what is wrong.
Host-only (CPython): the firmware never imports this module.
"""

from __future__ import annotations

import pprint
from pathlib import Path

import typer

from protocol import messages, vectors
from protocol.cbor import CBORError, loads
from protocol.diag import diag

app = typer.Typer(
    help="The wire contract: golden vectors, decode a captured payload.",
    no_args_is_help=True,
    add_completion=False,
)


def _hex_of(text: str) -> bytes:
    """Bytes from hex typed by a person: spaces, colons and a 0x prefix are allowed."""
    clean = text.strip().lower().removeprefix("0x")
    for sep in (" ", ":", "\n", "\t"):
        clean = clean.replace(sep, "")
    try:
        return bytes.fromhex(clean)
    except ValueError:
        raise typer.BadParameter(f"not hex: {text[:40]!r} (expected pairs of 0-9a-f)") from None


def _write(folder: Path) -> list[str]:
    """Regenerate <name>.hex and <name>.diag from the samples, cross-checked by other tools."""
    import cbor2

    try:
        import cbor_diag
    except ImportError:  # dev dependency; the check below is skipped without it
        cbor_diag = None
    written = []
    for name, kind, obj in vectors.VECTORS:
        data = messages.encode(kind, obj)
        text = diag(loads(data), indent=2)
        if kind != "heartbeat" and cbor2.loads(data) != obj:
            raise typer.BadParameter(f"{name}: cbor2 reads the encoding differently")
        if cbor_diag is not None and cbor_diag.diag2cbor(text) != data:
            raise typer.BadParameter(f"{name}: cbor-diag encodes the diagnostic notation differently")
        (folder / f"{name}.hex").write_text(data.hex() + "\n")
        (folder / f"{name}.diag").write_text(text + "\n")
        written.append(name)
    return written


@app.command("vectors")
def vectors_cmd(
    write: bool = typer.Option(False, "--write", help="regenerate protocol/vectors/*.hex and *.diag"),
) -> None:
    """Print each golden message: kind, size, hex, diagnostic notation and the decoded dict."""
    folder = Path(vectors.folder())
    if write:
        names = _write(folder)
        typer.echo(f"wrote {len(names)} vectors to {folder}")
        return
    for name, kind, _obj in vectors.VECTORS:
        data = vectors.golden_bytes(name)
        typer.secho(f"== {name} ({kind}, {len(data)} bytes)", bold=True)
        typer.echo(f"hex:     {data.hex()}")
        typer.echo("diag:    " + vectors.read(name, "diag").replace("\n", "\n         "))
        decoded = messages.decode(kind, data)
        typer.echo("decoded: " + pprint.pformat(decoded, width=90).replace("\n", "\n         "))
        typer.echo("")


@app.command("decode")
def decode_cmd(
    kind: str = typer.Argument(..., help="one of: " + ", ".join(messages.KINDS)),
    hex_payload: str = typer.Argument(..., metavar="HEX", help="the payload, in hex"),
) -> None:
    """Decode and validate one payload; exit 1 with the reason when it is not a valid message."""
    data = _hex_of(hex_payload)
    try:
        value = loads(data)
        typer.echo("diag:    " + diag(value, indent=2).replace("\n", "\n         "))
        decoded = messages.decode(kind, data)
    except (CBORError, messages.MessageError) as e:
        typer.secho(f"error: {e}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo("decoded: " + pprint.pformat(decoded, width=90).replace("\n", "\n         "))
