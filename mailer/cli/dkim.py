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


@dkim.command("keygen", short_help='Write a key and print its DNS TXT record.')
@click.option("--algorithm", type=click.Choice(["rsa", "ed25519"]), default="rsa",
              show_default=True,
              help="ed25519: a second key, signing beside the RSA one (RFC 8463).")
@click.option("--selector", default=None,
              help="Default: MAILER_DKIM_SELECTOR (mail), or for ed25519 "
                   "MAILER_DKIM_ED25519_SELECTOR (ed25519).")
@click.option("--domain", default=None, help="Default: the From domain.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the private key (default: var/dkim).")
@click.option("--bits", type=click.Choice(["1024", "2048", "3072"]), default=None,
              help="RSA key size (2048 fits one DNS TXT record).  [default: 2048]")
@pass_settings
def keygen(settings: Settings, algorithm: str, selector: str | None, domain: str | None,
           out_dir: Path | None, bits: str | None) -> int:
    """Write a new private key (mode 0600) and print the TXT record to publish."""
    from mailer.sending.dkim import generate_key, txt_record

    ed25519 = algorithm == "ed25519"
    if ed25519 and bits is not None:
        raise InvalidInput({"--bits": "is for RSA keys; an Ed25519 key has one size"})
    selector = selector or (settings.dkim_ed25519_selector if ed25519
                            else settings.dkim_selector)
    domain = domain or settings.signing_domain
    out = out_dir or settings.var_dir / "dkim"
    path = out / f"{selector}.{domain}.pem"
    if path.exists():
        raise InvalidInput({"--selector": f"{path} exists: choose a new selector to rotate "
                                          "keys"})
    pem, record = generate_key(int(bits or 2048), algorithm)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    setting = "MAILER_DKIM_ED25519" if ed25519 else "MAILER_DKIM"
    click.echo(f"private key: {path}")
    click.echo("publish this DNS record, then set:")
    click.echo(f"  {setting}_KEY_FILE={path} {setting}_SELECTOR={selector} "
               f"MAILER_DKIM_DOMAIN={domain}")
    if ed25519:
        click.echo("  (beside MAILER_DKIM_KEY_FILE: receivers that do not know Ed25519 "
                   "check the RSA signature)")
    click.echo(txt_record(selector, domain, record))
    return 0
