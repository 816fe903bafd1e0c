"""`mailer dkim keygen`: a key pair for DKIM signing and the DNS record to publish."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mailer.cli.base import pass_settings
from mailer.config import Settings
from mailer.errors import InvalidInput


@click.group()
def dkim() -> None:
    """DKIM signing keys."""


@dkim.command("keygen", short_help='Write an RSA key and print its DNS TXT record.')
@click.option("--selector", default=None, help="Default: MAILER_DKIM_SELECTOR (mail).")
@click.option("--domain", default=None, help="Default: the From domain.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the private key (default: var/dkim).")
@click.option("--bits", type=click.Choice(["1024", "2048", "3072"]), default="2048",
              show_default=True, help="RSA key size (2048 fits one DNS TXT record).")
@pass_settings
def keygen(settings: Settings, selector: str | None, domain: str | None, out_dir: Path | None,
           bits: str) -> int:
    """Write a new RSA private key (mode 0600) and print the TXT record to publish."""
    from mailer.sending.dkim import generate_key, txt_record

    selector = selector or settings.dkim_selector
    domain = domain or settings.signing_domain
    out = out_dir or settings.var_dir / "dkim"
    path = out / f"{selector}.{domain}.pem"
    if path.exists():
        raise InvalidInput({"--selector": f"{path} exists: choose a new selector to rotate "
                                          "keys"})
    pem, record = generate_key(int(bits))
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    click.echo(f"private key: {path}")
    click.echo("publish this DNS record, then set:")
    click.echo(f"  MAILER_DKIM_KEY_FILE={path} MAILER_DKIM_SELECTOR={selector} "
               f"MAILER_DKIM_DOMAIN={domain}")
    click.echo(txt_record(selector, domain, record))
    return 0
