"""Forgetting: a file's content gone from the index, from every kept version and tag, from the
vector cache, thumbnails and logs, and a scan afterwards that proves none of it is left.

What goes, for each forgotten path:
- its rows in ``chunks`` and ``files``: each tagged version is written anew without them (so
  other files' tags still check out), then the current rows; every other version and every
  file no version uses is deleted (LanceDB's delete only masks rows, and older versions
  still read them);
- vectors in the cache that no remaining chunk uses, and thumbnails of its contents;
- its text in the answer log and agent runs (an answer that used it keeps its question and
  says a source was forgotten), and its path in the version list and the receipts journal.

A path still on disk is remembered by its sha256 so syncs skip it (``unforget`` undoes that).
The deletion receipt records digests and counts, never the paths, and ``forget`` reports
failure unless the verification scan found nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from workbench.core.answering.answers import rows_naming
from workbench.core.index import rewriting
from workbench.core.index.history import synced_versions, tags
from workbench.core.index.schema import (
    CHUNKS,
    EMBEDDINGS,
    FILES,
    FOLDERS,
    VERSIONS,
    VERSIONS_SCHEMA,
    table_names,
)
from workbench.core.index.scope import under
from workbench.core.index.store import Store, create_indexes, path_digest
from workbench.errors import WorkbenchError

REDACTED = "[forgotten]"
GONE_PATH = "(forgotten)"
RAW_SCAN_PATHS = 16  # paths also looked for byte by byte in every file of the library


@dataclass
class Forgotten:
    """What one `workbench forget` removed; ``receipt`` is what is kept (no paths)."""

    paths: list[str]
    receipt: dict[str, Any]

    @property
    def verified(self) -> bool:
        return bool(self.receipt["verification"]["passed"])

    def as_json(self) -> dict[str, Any]:
        return self.receipt | {"paths": self.paths}


@dataclass
class Needles:
    """What is looked for: the paths, the text hashes only they had, the --match text."""

    paths: set[str]
    hashes: set[str]  # text hashes of chunks, content hashes of files
    match: str | None
    retained_paths: set[str] = field(default_factory=set)
    file_hashes: set[str] = field(default_factory=set)  # every content the paths had

    def texts(self) -> list[str]:
        """Paths as text (quoted when a kept path contains one: no false alarms), hashes."""
        texts = []
        for path in sorted(self.paths):
            inside_kept = any(path in kept and path != kept for kept in self.retained_paths)
            texts.append(json.dumps(path, ensure_ascii=False) if inside_kept else path)
        return texts + sorted(self.hashes)

    @functools.cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """One compiled pattern for every text needle (made once: it is used per record,
        per journal line and per file scanned)."""
        parts = [re.escape(t) for t in self.texts()]
        if self.match:
            parts.append(f"(?i:{re.escape(self.match)})")
        return re.compile("|".join(parts)) if parts else None

    def for_tables(self) -> rewriting.Needles:
        return rewriting.Needles(
            frozenset(self.paths), tuple(self.texts()), (self.match,) if self.match else ()
        )


@dataclass
class Logs:
    """Where the logs and caches a forget must also clean live."""

    journals: list[Path]  # receipts.jsonl and its rotated copy
    thumbnails: Path
    receipts_dir: Path  # deletion receipts (digests only; not scanned)
    log_tables: list[str]  # answers, agent_runs: JSON records to redact


def forget(
    store: Store, scope: str, match: str | None, logs: Logs, folders: list[str]
) -> Forgotten:
    """Forget every file at or under ``scope`` (only those whose text holds ``match``, when
    given); raises WorkbenchError when nothing matches or verification finds anything."""
    started = time.perf_counter()
    at = datetime.now().astimezone()
    with store.writing(timeout=30):
        states = Snapshots(rewriting.snapshots(store.chunks), rewriting.snapshots(store.files))
        targets = _targets(store, states, scope, match, logs.log_tables)
        if not targets and not (match and _logs_mention(store, logs, match)):
            if path_digest(scope) in store.forgotten():
                raise WorkbenchError(
                    f"{scope} was already forgotten: nothing of it is left, and syncs skip it "
                    f"(`workbench unforget {scope}` would index it again).",
                    "Already forgotten",
                )
            what = f"containing '{match}' " if match else ""
            raise WorkbenchError(
                f"Nothing {what}at {scope} is in the library, its kept versions or its logs. "
                "Check the path (see `workbench folders` and `workbench versions`).",
                "Nothing to forget",
            )
        removed: dict[str, Any] = {}
        needles = _rewrite_index(store, states, targets, match, removed)
        removed["thumbnails"] = _remove_thumbnails(store, needles.file_hashes, logs.thumbnails)
        removed["version_log"] = _rewrite_version_log(store, targets)
        for name in logs.log_tables:
            removed[name] = _redact_log_table(store, name, needles, at)
        removed["receipts_journal"] = sum(_redact_journal(path, needles) for path in logs.journals)
        removed["folders"] = match is None and _remove_folder(store, scope, folders)
        before = len(store.db.open_table(CHUNKS).list_versions()) + removed.pop("versions")
        for name in table_names(store.db):
            rewriting.purge(store.db.open_table(name))
        removed["versions_dropped"] = before - len(store.db.open_table(CHUNKS).list_versions())
        on_disk = {p for p in targets if os.path.lexists(p) and under(p, folders)}
        store.set_forgotten(store.forgotten() | {path_digest(p) for p in on_disk})
        store.reload()  # the tables were written anew
        verification = verify(store, needles, logs, targets)
    receipt = {
        "id": f"{int(time.time()):08x}{secrets.token_hex(2)}",
        "at": at.isoformat(timespec="seconds"),
        "scope_sha256": path_digest(scope),
        "match_sha256": hashlib.sha256(match.encode()).hexdigest() if match else None,
        "files": [{"path_sha256": path_digest(p)} for p in sorted(targets)],
        "removed": removed,
        "skipped_by_sync": len(on_disk),
        "verification": verification,
        "seconds": round(time.perf_counter() - started, 3),
    }
    logs.receipts_dir.mkdir(parents=True, exist_ok=True)
    (logs.receipts_dir / f"{receipt['id']}.json").write_text(
        json.dumps(receipt, indent=2), encoding="utf-8"
    )
    result = Forgotten(sorted(targets), receipt)
    if not result.verified:
        raise WorkbenchError(
            "Forgetting did not finish: the verification scan still found "
            f"{'; '.join(verification['matches'][:5])}. Stop `workbench watch` and any other "
            f"Workbench, then run the same forget again (receipt {receipt['id']}).",
            "Not verified",
        )
    return result


def unforget(store: Store, path: str) -> bool:
    """Let syncs index a forgotten path again; False when it was not forgotten."""
    digest = path_digest(path)
    with store.writing(timeout=30):
        known = store.forgotten()
        if digest not in known:
            return False
        store.set_forgotten(known - {digest})
    return True


# -- what to forget ------------------------------------------------------------------------
@dataclass
class Snapshots:
    """The rows of each tagged version and the current rows, of chunks and of files."""

    chunks: list[rewriting.Snapshot]
    files: list[rewriting.Snapshot]


def _targets(
    store: Store, states: Snapshots, scope: str, match: str | None, log_tables: list[str]
) -> set[str]:
    """Paths at or under ``scope`` in the current index, a tagged version, the version log or
    the answer log (and, with ``match``, only those whose text in the index or a tag holds
    it). The logs count so that a forget cut short can be run again to finish."""

    def inside(path: str) -> bool:
        return path == scope or under(path, [scope])

    found: set[str] = set()
    for _name, rows in states.chunks:
        paths = rows.column("path")
        if match:
            holds = pc.match_substring(rows.column("text"), match, ignore_case=True)
            paths = paths.filter(pc.fill_null(holds, False))
        found.update(p for p in paths.to_pylist() if inside(p))
    if match:
        return found
    for _name, rows in states.files:
        found.update(p for p in rows.column("path").to_pylist() if inside(p))
    for row in synced_versions(store):
        for change in row["changes"]:
            found.update(p for p in (change.get("path"), change.get("from")) if p and inside(p))
    for record in _records_naming(store, log_tables, scope):
        sources = record.get("sources", []) + record.get("citations", [])
        found.update(s["path"] for s in sources if s.get("path") and inside(s["path"]))
    return found


def _records_naming(store: Store, log_tables: list[str], text: str) -> Iterable[dict[str, Any]]:
    """The JSON records of the log tables whose text holds ``text``."""
    existing = table_names(store.db)
    for name in log_tables:
        if name in existing:
            for row in rows_naming(store.db.open_table(name), text, ["record"]):
                yield json.loads(row["record"])


def _logs_mention(store: Store, logs: Logs, match: str) -> bool:
    pattern = re.compile(re.escape(match), re.IGNORECASE)
    for name in logs.log_tables:
        if name in table_names(store.db):
            rows = store.db.open_table(name).to_arrow().column("record").to_pylist()
            if any(pattern.search(record or "") for record in rows):
                return True
    return False


# -- the index -----------------------------------------------------------------------------
def _rewrite_index(
    store: Store, states: Snapshots, targets: set[str], match: str | None, removed: dict[str, Any]
) -> Needles:
    """chunks and files written anew without ``targets`` (tags rebuilt), and the vector cache
    cut to what the remaining chunks use. Returns what verification must not find."""

    def in_targets(rows: pa.Table) -> pa.Array:
        listed = pa.array(sorted(targets), pa.string())
        return pc.fill_null(pc.is_in(rows.column("path"), value_set=listed), False)

    chunk_states = rewriting.without(states.chunks, in_targets)
    file_states = rewriting.without(states.files, in_targets)
    before_chunks = states.chunks[-1][1].num_rows
    before_files = states.files[-1][1].num_rows
    target_hashes = {
        h for rows in rewriting.only(states.chunks, in_targets)
        for h in rows.column("text_hash").to_pylist()
    }  # fmt: skip
    file_hashes = {c.get("hash", "") for row in synced_versions(store) for c in row["changes"]
                   if c.get("path") in targets}  # fmt: skip
    for rows in rewriting.only(states.files, in_targets):
        file_hashes.update(rows.column("hash").to_pylist())
    file_hashes -= {"", None}
    kept_hashes = {h for _n, rows in chunk_states for h in rows.column("text_hash").to_pylist()}
    kept_hashes |= {h for _n, rows in file_states for h in rows.column("hash").to_pylist()}
    kept_paths = {p for _n, rows in file_states for p in rows.column("path").to_pylist()}
    kept_paths |= {p for _n, rows in chunk_states for p in rows.column("path").to_pylist()}
    tag_names = sorted(tags(store.chunks))
    versions_before = len(store.chunks.list_versions())  # the rewrite adds versions
    for table in (store.chunks, store.files):
        rewriting.drop_tags(table)
    rewriting.rewrite(store.db, CHUNKS, chunk_states, "id", indexes=create_indexes)
    rewriting.rewrite(store.db, FILES, file_states, "path")
    removed["chunks"] = before_chunks - chunk_states[-1][1].num_rows
    removed["files"] = before_files - file_states[-1][1].num_rows
    removed["tags_rewritten"] = tag_names
    removed["versions"] = versions_before - len(store.chunks.list_versions())
    removed["vector_cache"] = _cut_vector_cache(store, chunk_states)
    if match and any(_holds(rows, match) for _n, rows in chunk_states):
        # Kept files (outside the scope) hold it too: it is theirs, not a leftover.
        removed["match_kept_elsewhere"] = True
        match = None
    return Needles(
        set(targets), (target_hashes | file_hashes) - kept_hashes, match, kept_paths,
        file_hashes=file_hashes - kept_hashes,
    )  # fmt: skip


def _holds(rows: pa.Table, text: str) -> bool:
    if rows.num_rows == 0:
        return False
    found = pc.match_substring(rows.column("text"), text, ignore_case=True)
    return bool(pc.any(pc.fill_null(found, False)).as_py())


def _cut_vector_cache(store: Store, chunk_states: list[rewriting.Snapshot]) -> int:
    """Keep only the cached vectors a remaining chunk (current or tagged) uses."""
    used = {
        f"{embedder}:{text_hash}"
        for _name, rows in chunk_states
        for embedder, text_hash in zip(
            rows.column("embedder").to_pylist(), rows.column("text_hash").to_pylist(), strict=True
        )
    }
    cache = store.embeddings.to_arrow()
    keep = pc.is_in(cache.column("key"), value_set=pa.array(sorted(used), pa.string()))
    kept = cache.filter(pc.fill_null(keep, False))
    store.db.create_table(EMBEDDINGS, kept, mode="overwrite")
    return int(cache.num_rows - kept.num_rows)


def _remove_thumbnails(store: Store, hashes: set[str], folder: Path) -> int:
    """Thumbnails are named by the image's content hash: those of every content a forgotten
    path had (in the index, a tag or the version log) that no remaining file has."""
    removed = 0
    for content_hash in hashes:
        thumbnail = folder / f"{content_hash[:32]}.jpg"
        if thumbnail.exists():
            thumbnail.unlink()
            removed += 1
    return removed


def _rewrite_version_log(store: Store, targets: set[str]) -> int:
    """The version log without the forgotten paths (each sync's counts lowered to match),
    and a row for now that counts what was forgotten; returns the entries removed."""
    rows, removed = [], 0
    for row in synced_versions(store):
        kept = []
        for change in row["changes"]:
            if {change.get("path"), change.get("from")} & targets:
                removed += 1
                action = change.get("action", "")
                if row.get(action):
                    row[action] -= 1
            else:
                kept.append(change)
        row["changes"] = json.dumps(kept, ensure_ascii=False)
        rows.append(row)
    rows.append(
        {
            "version": store.version(),
            "files_version": int(store.files.version),
            "created": time.time(),
            "new": 0,
            "changed": 0,
            "deleted": len(targets),
            "renamed": 0,
            "changes": json.dumps([{"path": GONE_PATH, "action": "forgotten"}]),
        }
    )
    store.db.create_table(VERSIONS, pa.Table.from_pylist(rows, VERSIONS_SCHEMA), mode="overwrite")
    return removed


def _remove_folder(store: Store, scope: str, folders: list[str]) -> bool:
    """Forgetting a whole library folder also takes it out of the library."""
    if scope not in folders:
        return False
    store.remove_folder(scope)
    table = store.table(FOLDERS)
    store.db.create_table(FOLDERS, table.to_arrow(), mode="overwrite")
    return True


# -- the logs ------------------------------------------------------------------------------
def _redact_log_table(store: Store, name: str, needles: Needles, at: datetime) -> int:
    """Rewrite log table ``name`` (answers, agent_runs) with every record that used a
    forgotten path redacted; returns how many were."""
    if name not in table_names(store.db):
        return 0
    table = store.db.open_table(name)
    rows = table.to_arrow().to_pylist()
    pattern = needles.pattern
    redacted = 0
    for row in rows:
        record = json.loads(row["record"])
        if not _uses(record, needles, pattern, row["record"]):
            continue
        redacted += 1
        row["record"] = json.dumps(_redact_record(record, needles, pattern, at), ensure_ascii=False)
        for column in ("question", "task"):
            if column in row and row[column] and needles.match:
                row[column] = _scrub(row[column], needles.match)
    store.db.create_table(name, pa.Table.from_pylist(rows, table.schema), mode="overwrite")
    return redacted


def _uses(record: dict[str, Any], needles: Needles, pattern: Any, text: str) -> bool:
    paths = {s.get("path") for s in record.get("sources", []) + record.get("citations", [])}
    return bool(paths & needles.paths) or bool(pattern and pattern.search(text))


def _redact_record(
    record: dict[str, Any], needles: Needles, pattern: Any, at: datetime
) -> dict[str, Any]:
    """An answer or agent run that used forgotten text: its own words go (they were made
    from it), its question stays, and it says which sources were forgotten."""
    gone = sorted(
        {s["n"] for s in record.get("sources", []) + record.get("citations", [])
         if s.get("path") in needles.paths}
    )  # fmt: skip
    record["answer"] = ""
    for key in ("sentences", "unsupported", "messages"):
        if key in record:
            record[key] = []
    for key in ("sources", "citations"):
        for source in record.get(key, []):
            if source.get("path") in needles.paths:
                source["path"], source["locator"] = GONE_PATH, {}
            if "text" in source:
                source["text"] = ""
    for step in record.get("steps", []):
        step["result"] = REDACTED
    record["forgotten"] = {"at": at.isoformat(timespec="seconds"), "sources": gone}
    for key in ("question", "task"):
        if needles.match and record.get(key):
            record[key] = _scrub(record[key], needles.match)
    redacted: dict[str, Any] = _walk(record, pattern)
    return redacted


def _walk(value: Any, pattern: Any) -> Any:
    """``value`` with every string that holds a needle replaced."""
    if isinstance(value, str):
        return REDACTED if pattern and pattern.search(value) else value
    if isinstance(value, list):
        return [_walk(item, pattern) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, pattern) for key, item in value.items()}
    return value


def _scrub(text: str, match: str) -> str:
    return re.sub(re.escape(match), REDACTED, text, flags=re.IGNORECASE)


def _redact_journal(path: Path, needles: Needles) -> int:
    """Receipts naming a forgotten path lose those chunks' entries (and any needle)."""
    if not path.exists():
        return 0
    pattern = needles.pattern
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    out, redacted = [], 0
    for line in lines:
        if not (pattern and pattern.search(line)) and not any(p in line for p in needles.paths):
            out.append(line)
            continue
        redacted += 1
        receipt = json.loads(line)
        sent = receipt.get("sent", {})
        if isinstance(sent.get("chunks"), list):
            sent["chunks"] = [c for c in sent["chunks"] if c.get("path") not in needles.paths]
        out.append(json.dumps(_walk(receipt, pattern), ensure_ascii=False))
    partial = path.with_suffix(".part")
    partial.write_text("".join(line + "\n" for line in out), encoding="utf-8")
    partial.replace(path)
    return redacted


# -- verification --------------------------------------------------------------------------
def verify(store: Store, needles: Needles, logs: Logs, targets: set[str]) -> dict[str, Any]:
    """Scan every kept version of every table, the caches and the logs for the forgotten
    paths, the text hashes only they had and the --match text; zero matches to pass."""
    matches: list[str] = []
    versions = 0
    table_needles = needles.for_tables()
    for name in sorted(table_names(store.db)):
        table = store.db.open_table(name)
        versions += len(table.list_versions())
        matches.extend(rewriting.scan_versions(table, table_needles))
    raw = [p.encode("utf-8", "surrogateescape") for p in sorted(targets)[:RAW_SCAN_PATHS]]
    raw += [needles.match.encode()] if needles.match else []
    files_scanned = bytes_scanned = 0
    for name, data in _stored_bytes(store, [*logs.journals, logs.thumbnails]):
        files_scanned += 1
        bytes_scanned += len(data)
        if name.endswith((".jsonl", ".jsonl.1")):
            pattern = needles.pattern
            text = data.decode("utf-8", "replace")
            if pattern and pattern.search(text):
                matches.append(f"{Path(name).name}: a forgotten path, hash or text")
                continue
        found = rewriting.scan_bytes(data, raw)
        if needles.match and needles.match.lower().encode() in data.lower():
            found.append(b"match")
        if found:
            matches.append(f"{name}: {len(found)} needles")
    return {
        "passed": not matches,
        "tables": len(list(table_names(store.db))),
        "versions_scanned": versions,
        "files_scanned": files_scanned,
        "bytes_scanned": bytes_scanned,
        "needles": {
            "paths": len(needles.paths),
            "text_hashes": len(needles.hashes),
            "match": bool(needles.match),
            "paths_byte_scanned": len(raw) - bool(needles.match),
        },
        "matches": matches,
    }


def _stored_bytes(store: Store, local: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every object of the library (on disk or in its bucket), then of
    the local logs and caches; what vanished meanwhile is passed over."""
    for relative, _size in store.location.objects():
        try:
            yield store.location.child(relative), store.location.read_bytes(relative)
        except FileNotFoundError:
            continue
    for path in _files_under(local):
        try:
            yield str(path.relative_to(path.anchor)), path.read_bytes()
        except OSError:
            continue


def _files_under(roots: Iterable[Path]) -> Iterable[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            for folder, _dirs, names in os.walk(root):
                for name in names:
                    yield Path(folder) / name
