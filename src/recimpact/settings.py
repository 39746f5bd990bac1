"""Server settings: every ``recimpact serve`` flag, also read from ``RECIMPACT_<FLAG>`` environment variables."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from recimpact.domain.arns import DEFAULT_REGION

ENGINES = ("duckdb", "spark")


def env_flag(name: str) -> str | None:
    return os.environ.get(f"RECIMPACT_{name}") or None


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/recimpact`` (``~/.local/share/recimpact``): state outlives the working directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "recimpact"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8787
    data_dir: Path = Path(".")
    engine: str = "duckdb"
    spark_master: str = "local[*]"
    s3_endpoint_url: str | None = None
    cloudwatch_endpoint_url: str | None = None
    # Publish to AWS's own CloudWatch endpoint (RECIMPACT_CLOUDWATCH=aws) when no endpoint URL is given.
    cloudwatch_aws: bool = False
    cloudwatch_interval: float = 2.0  # seconds between publishing rounds
    # CSV of access keys (access_key_id,secret_access_key,account_id): every request must then be SigV4-signed.
    credentials: Path | None = None
    # Refuse recimpact's extensions to the AWS API (IMPRESSIONCOUNT(), RATIO() metric expressions).
    strict_aws: bool = False
    access_log: bool = False  # one JSON line per request on stderr
    # The account resources belong to while no credentials file maps access keys to accounts.
    account_id: str = "000000000000"
    # The region used when a request carries no SigV4 credential scope.
    region: str = DEFAULT_REGION
    # Server processes sharing the port and the data directory (the first also runs jobs and publishing).
    workers: int = 1
    # Signs dashboard session cookies; shared by the server's processes so that any of them accepts a cookie.
    # Generated at start (sessions end with the server) unless given.
    session_secret: bytes | None = field(default=None, repr=False)

    @property
    def publishes_to_cloudwatch(self) -> bool:
        return bool(self.cloudwatch_endpoint_url) or self.cloudwatch_aws

    def to_json(self) -> str:
        """For the server's other processes (``from_json``)."""
        values = dataclasses.asdict(self)
        values["session_secret"] = self.session_secret.hex() if self.session_secret is not None else None
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in values.items()})

    @classmethod
    def from_json(cls, text: str) -> Settings:
        values = json.loads(text)
        values["data_dir"] = Path(values["data_dir"])
        if values["credentials"] is not None:
            values["credentials"] = Path(values["credentials"])
        if values["session_secret"] is not None:
            values["session_secret"] = bytes.fromhex(values["session_secret"])
        return cls(**values)
