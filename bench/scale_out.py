"""Scale-out paths, each next to its desktop baseline in the same run.

    uv run python bench/scale_out.py [--docs 600] [--queries 300] [--busy] [--out FILE]

1. Ingest throughput: the local engine, then `--engine ray` (Ray started on this machine),
   each into a fresh library from the same folder of SciFact abstracts. Ray's start-up is
   timed apart from the sync, so the ratio is of the work itself.
2. Search latency: the same library built locally and in S3 (moto's server, in a process of
   its own on 127.0.0.1), queried with the SciFact test queries in each mode.

``--busy`` keeps one core busy throughout (a desktop doing something else).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SCIFACT, free_port, fresh_workbench, report, scifact_docs, summary

from workbench.core.evaluation.retrieval import load_beir


def folder_of_abstracts(root: Path, docs: int) -> Path:
    folder = root / "library"
    folder.mkdir(parents=True)
    for doc in scifact_docs(docs):
        (folder / f"{doc['_id']}.md").write_text(f"# {doc['title']}\n\n{doc['text']}\n")
    return folder


def ingest(home: Path, folder: Path, engine: str, **settings: Any) -> dict[str, Any]:
    workbench = fresh_workbench(home, **settings)
    workbench.add_folder(folder)
    _ = workbench.embedder  # loaded before the clock starts, as for a running app
    started_ray = 0.0
    if engine == "ray":  # start Ray first, so the sync is timed alone
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # as engines.RayEngine
        import ray

        began = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        started_ray = time.perf_counter() - began
    began = time.perf_counter()
    result = workbench.ingest(engine=engine)
    seconds = time.perf_counter() - began
    if engine == "ray":
        import ray

        ray.shutdown()
    chunks = workbench.library.store.chunk_count()
    return {
        "engine": engine,
        "files": result.new,
        "chunks": chunks,
        "sync_s": round(seconds, 2),
        "ray_start_s": round(started_ray, 2),
        "files_per_s": round(result.new / seconds, 2),
        "chunks_per_s": round(chunks / seconds, 2),
    }


def search_latency(workbench: Any, queries: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in ("hybrid", "vector", "text"):
        workbench.search(queries[0], k=10, mode=mode)  # warm
        timings = []
        for query in queries:
            began = time.perf_counter()
            workbench.search(query, k=10, mode=mode)
            timings.append(1000 * (time.perf_counter() - began))
        out[mode] = summary(timings)
    return out


def s3_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    for _ in range(100):
        try:
            client.create_bucket(Bucket="bench")
            return server, endpoint
        except Exception:  # noqa: BLE001 - the server is still starting
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--busy", action="store_true", help="one core busy throughout")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    _, queries_by_id, _ = load_beir(SCIFACT, "test")
    queries = list(queries_by_id.values())[: args.queries]
    results: dict[str, Any] = {"docs": args.docs, "cores": os.cpu_count(), "busy": args.busy}
    server = None
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            folder = folder_of_abstracts(root, args.docs)
            local = ingest(root / "local", folder, "local")
            ray = ingest(root / "ray", folder, "ray")
            results["ingest"] = {
                "local": local,
                "ray": ray,
                "ray_over_local_sync_s": round(ray["sync_s"] / local["sync_s"], 3),
                "ray_over_local_with_start": round(
                    (ray["sync_s"] + ray["ray_start_s"]) / local["sync_s"], 3
                ),
            }
            server, endpoint = s3_server()
            os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                              AWS_REGION="us-east-1", AWS_ENDPOINT_URL=endpoint,
                              AWS_ALLOW_HTTP="true")  # fmt: skip
            s3 = ingest(root / "s3", folder, "local", library_uri="s3://bench/library")
            results["ingest"]["local_into_s3"] = s3
            on_disk = fresh_workbench(root / "local")
            in_s3 = fresh_workbench(root / "s3", library_uri="s3://bench/library")
            searched = {"local": search_latency(on_disk, queries),
                        "s3": search_latency(in_s3, queries)}  # fmt: skip
            searched["s3_over_local_p50"] = {
                mode: round(searched["s3"][mode]["p50"] / searched["local"][mode]["p50"], 2)
                for mode in ("hybrid", "vector", "text")
            }
            results["search"] = searched
    finally:
        if server is not None:
            server.terminate()
        if spinner is not None:
            spinner.kill()
    report(results, args.out)


if __name__ == "__main__":
    main()
