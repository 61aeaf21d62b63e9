"""A library in S3-compatible object storage: every command against a real S3 API on 127.0.0.1
(moto's server), configured only through the standard AWS_* variables and library_uri."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from workbench.config import Settings
from workbench.core.index.location import Location
from workbench.errors import WorkbenchError
from workbench.paths import resolve_paths
from workbench.workbench import Workbench

MARKER = "Zanzibar-Quokka-4417"
EXE = Path(sys.executable).parent / "workbench"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The AWS variables any S3 tool would use, and a fresh bucket; set in this process too."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing-secret",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ALLOW_HTTP": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bucket = f"team-{uuid.uuid4().hex[:12]}"
    client(env).create_bucket(Bucket=bucket)
    return env | {"BUCKET": bucket}


def client(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    )


def objects(env: dict[str, str], prefix: str) -> dict[str, bytes]:
    s3 = client(env)
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["BUCKET"], Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=env["BUCKET"], Key=item["Key"])["Body"].read()
            found[item["Key"]] = body
    return found


@pytest.mark.slow
def test_the_whole_cli_flow_against_s3(
    s3_env: dict[str, str], library: Path, workbench_home: Path
) -> None:
    uri = f"s3://{s3_env['BUCKET']}/shared/library"
    env = {k: v for k, v in os.environ.items() if k != "BUCKET"} | s3_env
    env |= {"WORKBENCH_HOME": str(workbench_home), "WORKBENCH_LIBRARY_URI": uri}
    secret = library / "notes" / "secret.md"
    secret.write_text(f"# Passwords\n\nThe vault code is {MARKER}, kept in the attic.\n")

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [str(EXE), *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        return json.loads(done.stdout) if "--json" in args else done.stdout

    assert cli("paths", "--json")["library_db"] == uri
    cli("add", str(library))
    assert cli("ingest", "--json")["files"]["new"] == 4
    hits = cli("search", "train to Lisbon", "--json")["results"]
    assert hits[0]["path"].endswith("travel.txt")
    answer = cli("ask", "When does the train to Lisbon leave?", "--json")
    assert any(c["path"].endswith("travel.txt") for c in answer["citations"])
    cli("tag", "before")
    assert "before" in cli("versions", "--json")["versions"][0]["tags"]
    status = cli("status", "--json")
    assert status["files"] == 4 and status["chunks"] >= 4
    # Everything is in the bucket; nothing of the index is on this machine.
    stored = objects(s3_env, "shared/library/")
    assert any(key.startswith("shared/library/chunks.lance/") for key in stored)
    assert not (workbench_home / "data" / "library.lancedb").exists()
    assert any(MARKER.encode() in body for body in stored.values())

    receipt = cli("forget", str(secret), "--yes", "--json")
    assert receipt["verification"]["passed"] is True
    assert receipt["verification"]["files_scanned"] > len(stored) // 2
    # Checked here independently: no byte of any object in the bucket holds the secret.
    assert [key for key, body in objects(s3_env, "").items() if MARKER.encode() in body] == []
    assert cli("search", "vault code attic", "--json", "--as-of", "before")["results"][0][
        "path"
    ] != str(secret)
    # A second sync does not index the forgotten file (still on disk) again.
    assert cli("ingest", "--json")["files"]["new"] == 0
    assert all(hit["path"] != str(secret) for hit in cli("search", "vault", "--json")["results"])


def test_repair_moves_a_remote_index_aside_and_rebuilds_it(
    s3_env: dict[str, str], library: Path, make_workbench: Any
) -> None:
    workbench = make_workbench(library_uri=f"s3://{s3_env['BUCKET']}/lib")
    workbench.add_folder(library)
    workbench.ingest()
    result = workbench.repair()
    assert result.damaged_copy.startswith(f"s3://{s3_env['BUCKET']}/lib.damaged-")
    keys = objects(s3_env, "")
    assert any(key.startswith("lib.damaged-") and "chunks.lance" in key for key in keys)
    assert result.folders == [str(library)] and result.sync is not None
    assert workbench.search("tomatoes deeply", k=1)[0].path.endswith("garden.md")


def test_an_unreachable_store_or_missing_bucket_is_a_clear_error(
    s3_env: dict[str, str], workbench_home: Path, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def attempt(uri: str, **environ: str) -> WorkbenchError:
        settings = Settings.load(Path("/nonexistent.toml"), {"WORKBENCH_LIBRARY_URI": uri})
        workbench = Workbench(resolve_paths(workbench_home), settings)
        workbench.__dict__["embedder"] = embedder
        with pytest.raises(WorkbenchError) as caught:
            workbench.folders()
        return caught.value

    missing = attempt("s3://no-such-bucket/lib")
    assert missing.title == "Library unreachable"
    assert "NoSuchBucket" in missing.message and "aws s3 mb s3://no-such-bucket" in missing.message
    monkeypatch.setenv("AWS_ALLOW_HTTP", "false")
    plain = attempt(f"s3://{s3_env['BUCKET']}/lib")
    assert "the endpoint is http:// but AWS_ALLOW_HTTP is not true" in plain.message
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    down = attempt(f"s3://{s3_env['BUCKET']}/lib")
    assert down.title == "Library unreachable" and "Connection refused" in down.message
    assert "testing-secret" not in down.message


def test_storage_settings_come_from_aws_variables_and_secrets_stay_out_of_config(
    tmp_path: Path,
) -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true",
               "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "us-east-1"}  # fmt: skip
    location = Location.parse("s3://bucket/a/prefix/", {"region": "eu-central-1"}, environ)
    assert location.uri == "s3://bucket/a/prefix" and location.local is None
    assert location.storage_options == {
        "aws_endpoint": "http://127.0.0.1:9000",
        "aws_allow_http": "true",
        "aws_region": "eu-central-1",  # the setting over the variables
    }
    assert location.on_this_machine()
    assert not Location.parse("s3://bucket/x", environ={}).on_this_machine()
    assert Location.parse(tmp_path / "lib").local == tmp_path / "lib"

    config = tmp_path / "config.toml"
    config.write_text('[library_storage_options]\naws_secret_access_key = "hunter2"\n')
    with pytest.raises(WorkbenchError, match="keep secrets in the environment"):
        Settings.load(config, {})
    with pytest.raises(WorkbenchError, match="gs:// is not supported"):
        Settings.load(tmp_path / "none.toml", {"WORKBENCH_LIBRARY_URI": "gs://b/p"})
    options = Settings.load(
        tmp_path / "none.toml", {"WORKBENCH_LIBRARY_STORAGE_OPTIONS": "endpoint=http://h:1,x=y"}
    ).library_storage_options
    assert options == {"endpoint": "http://h:1", "x": "y"}


def test_offline_refuses_a_library_off_this_machine(
    workbench_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    settings = Settings(library_uri="s3://bucket/lib", offline=True)
    workbench = Workbench(resolve_paths(workbench_home), settings)
    with pytest.raises(WorkbenchError, match="Offline mode is on"):
        _ = workbench.location
