"""Where a library's tables live: a folder on this machine, or a prefix in S3-compatible storage.

LanceDB reads and writes both through the same calls; this module holds what Workbench does
beside LanceDB with the library's objects (sizes for the history budget, the byte scan that
proves a deletion, the forgotten-paths file, moving a damaged index aside), through one
pyarrow filesystem, so local and remote libraries take the same code path.

Credentials and the endpoint come from the standard AWS variables, so the setup that works
for the aws CLI or boto3 works here: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) and ``AWS_ALLOW_HTTP=true`` for an endpoint without TLS. The
``library_storage_options`` setting overrides them, secrets excepted: those stay in the
environment and are never written anywhere.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workbench.errors import WorkbenchError

REMOTE_SCHEMES = ("s3",)
# Standard AWS variables -> LanceDB (object_store) storage option names.
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_REGION": "aws_region",
    "AWS_ENDPOINT_URL": "aws_endpoint",
    "AWS_ENDPOINT_URL_S3": "aws_endpoint",
    "AWS_ALLOW_HTTP": "aws_allow_http",
}  # later entries win: AWS_REGION over AWS_DEFAULT_REGION, the S3-specific endpoint last
SECRET_OPTIONS = ("secret", "token", "password")
_ALIASES = {"endpoint": "aws_endpoint", "region": "aws_region", "allow_http": "aws_allow_http",
            "access_key_id": "aws_access_key_id"}  # fmt: skip


@dataclass(frozen=True)
class Location:
    """A library's tables: ``uri`` is a local folder or ``s3://bucket/prefix``."""

    uri: str
    storage_options: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(
        cls,
        value: str | os.PathLike[str],
        options: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Location:
        """The location ``value`` names; an object-store one takes its storage options from
        the AWS variables in ``environ``, then from ``options`` (the setting)."""
        text = os.fspath(value).strip()
        scheme = urlsplit(text).scheme.lower() if "://" in text else ""
        if not scheme:
            return cls(str(Path(text).expanduser().absolute()))
        if scheme not in REMOTE_SCHEMES:
            raise WorkbenchError(
                f"library_uri {text!r} is not a folder or an s3://bucket/prefix URI: "
                f"{scheme}:// is not supported. Use a local folder, or S3-compatible storage.",
                "Bad config",
            )
        parts = urlsplit(text)
        if not parts.netloc:
            raise WorkbenchError(
                f"library_uri {text!r} names no bucket. Write it as s3://bucket/prefix.",
                "Bad config",
            )
        merged: dict[str, str] = {}
        environ = os.environ if environ is None else environ
        for variable, option in AWS_ENVIRONMENT.items():
            if environ.get(variable):
                merged[option] = environ[variable]
        for key, option_value in (options or {}).items():
            merged[_ALIASES.get(key.lower(), key.lower())] = str(option_value)
        return cls(f"{scheme}://{parts.netloc}/{parts.path.strip('/')}".rstrip("/"), merged)

    # -- what it is ---------------------------------------------------------------------------
    @property
    def local(self) -> Path | None:
        """The folder, for a library on this machine; None for object storage."""
        return None if "://" in self.uri else Path(self.uri)

    @property
    def endpoint(self) -> str:
        """Where requests for a remote library go (the AWS endpoint, else AWS itself)."""
        return self.storage_options.get("aws_endpoint", "") or "https://s3.amazonaws.com"

    def on_this_machine(self) -> bool:
        """A local folder, or object storage served from a loopback address."""
        if self.local is not None:
            return True
        host = urlsplit(self.endpoint).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return self.uri

    def child(self, name: str) -> str:
        return f"{self.uri.rstrip('/')}/{name}"

    # -- LanceDB ------------------------------------------------------------------------------
    def connect(self, **kwargs: Any) -> Any:
        import lancedb

        local = self.local
        if local is not None:
            local.mkdir(parents=True, exist_ok=True)
            return lancedb.connect(str(local), **kwargs)
        return lancedb.connect(self.uri, storage_options=dict(self.storage_options), **kwargs)

    # -- objects beside LanceDB -----------------------------------------------------------------
    def filesystem(self) -> tuple[Any, str]:
        """(a pyarrow filesystem, this location's root path in it), made once: forget's scan
        reads every object through it."""
        return self._filesystem

    @functools.cached_property
    def _filesystem(self) -> tuple[Any, str]:
        import pyarrow.fs as pafs

        local = self.local
        if local is not None:
            return pafs.LocalFileSystem(), str(local)
        options = self.storage_options
        endpoint = urlsplit(options.get("aws_endpoint", ""))
        settings: dict[str, Any] = {
            "region": options.get("aws_region") or None,
            "access_key": options.get("aws_access_key_id") or None,
            "secret_key": options.get("aws_secret_access_key") or None,
            "session_token": options.get("aws_session_token") or None,
        }
        if endpoint.netloc:
            settings["endpoint_override"] = endpoint.netloc
            settings["scheme"] = endpoint.scheme or "https"
        if not (settings["access_key"] and settings["secret_key"]):
            settings.pop("access_key"), settings.pop("secret_key")
            settings.pop("session_token")
        parts = urlsplit(self.uri)
        return pafs.S3FileSystem(**{k: v for k, v in settings.items() if v is not None}), (
            f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
        )

    def objects(self, under: str = "") -> Iterator[tuple[str, int]]:
        """(path relative to this location, size) of every file below ``under``."""
        import pyarrow.fs as pafs

        fs, root = self.filesystem()
        base = f"{root}/{under}".rstrip("/") if under else root
        try:
            infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except FileNotFoundError:
            return
        for info in infos:
            if info.type == pafs.FileType.File:
                yield info.path[len(root) + 1 :], int(info.size or 0)

    def size(self, under: str = "") -> int:
        return sum(size for _path, size in self.objects(under))

    def read_bytes(self, relative: str) -> bytes:
        fs, root = self.filesystem()
        with fs.open_input_stream(f"{root}/{relative}") as stream:
            return bytes(stream.read())

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a small object whole: a reader sees the old content or the new, never part
        (a rename on a local disk; an object PUT is atomic by itself)."""
        fs, root = self.filesystem()
        target = f"{root}/{relative}"
        if self.local is None:
            with fs.open_output_stream(target) as stream:
                stream.write(data)
            return
        partial = Path(target + ".part")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(target)

    def set_aside(self) -> str:
        """Move every table out of the way (a damaged index); returns where they went."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        local = self.local
        if local is not None:
            target = local.with_name(f"{local.name}.damaged-{stamp}")
            local.rename(target)
            return str(target)
        fs, root = self.filesystem()
        aside = f"{root}.damaged-{stamp}"
        for relative, _size in list(self.objects()):  # object stores have no rename
            fs.copy_file(f"{root}/{relative}", f"{aside}/{relative}")
        fs.delete_dir_contents(root, missing_dir_ok=True)
        return f"{urlsplit(self.uri).scheme}://{aside}"


def refused_option(name: str) -> bool:
    """Whether a storage option holds a secret (kept out of config files)."""
    return any(word in name.lower() for word in SECRET_OPTIONS)
