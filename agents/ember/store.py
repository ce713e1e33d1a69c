"""The agent's memory stores in one SQLite file.

- ``episodic``: time, role, text, embedding blob, labels, conversation id (replayed during sleep);
- ``facts``: perfect recall, exact facts that never decay (explicit add and remove);
- ``journal``: entries with the evidence that triggered them;
- ``action_log``: every autonomous action or refusal (time, trigger evidence, option order,
  prompt, raw and parsed output, backend, status and reason, the soul's hash).

SQLite runs in WAL mode with ``synchronous=FULL`` by default (a committed record survives
a killed process and a power cut); every statement is parameterised; the schema version
lives in ``PRAGMA user_version`` and older files are migrated forward step by step, each
step in one transaction. Full-text search uses FTS5 external-content tables kept in step
by triggers. ``export_jsonl`` writes everything as JSON Lines.

Text is stored verbatim. ``add_message`` also accepts ``bytes`` and ``str`` with lone
surrogates (e.g. from ``os.fsdecode``), which SQLite's UTF-8 TEXT cannot hold: the exact
bytes then go to the ``raw`` column and ``text`` holds a readable (replacement-character)
copy for search; ``EpisodicRecord.original`` gives back exactly what was stored.
"""
from __future__ import annotations

import base64
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

SCHEMA_VERSION = 2

# version -> script that brings version-1 to version. Never edit a released step; add one.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE episodic (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB,
    labels TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE facts (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    text TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE action_log (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    trigger TEXT NOT NULL DEFAULT '{}',
    option_order TEXT NOT NULL DEFAULT '[]',
    prompt TEXT NOT NULL DEFAULT '',
    raw TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
""",
    2: """
ALTER TABLE episodic ADD COLUMN conversation_id TEXT NOT NULL DEFAULT '';
ALTER TABLE episodic ADD COLUMN raw BLOB;
ALTER TABLE action_log ADD COLUMN backend TEXT NOT NULL DEFAULT '';
ALTER TABLE action_log ADD COLUMN rationale TEXT NOT NULL DEFAULT '';
ALTER TABLE action_log ADD COLUMN soul_sha256 TEXT NOT NULL DEFAULT '';
CREATE INDEX episodic_time ON episodic(time);
CREATE INDEX episodic_conv ON episodic(conversation_id, time);
CREATE INDEX action_log_time ON action_log(time);
CREATE VIRTUAL TABLE episodic_fts USING fts5(text, content='episodic', content_rowid='id');
CREATE VIRTUAL TABLE facts_fts USING fts5(text, content='facts', content_rowid='id');
CREATE VIRTUAL TABLE journal_fts USING fts5(text, content='journal', content_rowid='id');
CREATE TRIGGER episodic_ai AFTER INSERT ON episodic BEGIN
  INSERT INTO episodic_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER episodic_ad AFTER DELETE ON episodic BEGIN
  INSERT INTO episodic_fts(episodic_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
CREATE TRIGGER facts_ai AFTER INSERT ON facts BEGIN
  INSERT INTO facts_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER facts_ad AFTER DELETE ON facts BEGIN
  INSERT INTO facts_fts(facts_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
CREATE TRIGGER journal_ai AFTER INSERT ON journal BEGIN
  INSERT INTO journal_fts(rowid, text) VALUES (new.id, new.text); END;
CREATE TRIGGER journal_ad AFTER DELETE ON journal BEGIN
  INSERT INTO journal_fts(journal_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
INSERT INTO episodic_fts(episodic_fts) VALUES ('rebuild');
INSERT INTO facts_fts(facts_fts) VALUES ('rebuild');
INSERT INTO journal_fts(journal_fts) VALUES ('rebuild');
""",
}

ACTION_STATUSES = ("executed", "refused", "deferred", "dry_run", "pending_approval", "failed")


class SchemaError(RuntimeError):
    pass


@dataclass(frozen=True)
class EpisodicRecord:
    id: int
    time: float
    role: str
    text: str
    raw: bytes | None
    embedding: object  # numpy float32 array or None
    labels: tuple[str, ...]
    conversation_id: str

    @property
    def original(self) -> str | bytes:
        """Exactly what was stored: ``raw`` bytes when the input was not valid UTF-8 text."""
        return self.raw if self.raw is not None else self.text


@dataclass(frozen=True)
class Fact:
    id: int
    time: float
    text: str


@dataclass(frozen=True)
class JournalEntry:
    id: int
    time: float
    text: str
    evidence: dict = field(compare=False)


def _check_text(name: str, text: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} contains characters that are not valid UTF-8 (lone surrogates)") from None
    return text


def fts_query(text: str, mode: str = "OR") -> str:
    """Turn free text into a safe FTS5 query: each word quoted, joined by OR / AND.

    Quoting makes FTS5 operators and punctuation in the user's text plain words.
    """
    words = []
    for w in "".join(ch if (ch.isalnum() or ch == "_") else " " for ch in text).split():
        words.append('"' + w.replace('"', '""') + '"')
    return f" {mode} ".join(dict.fromkeys(words))


class MemoryStore:
    """Episodic, perfect-recall, journal and action-log stores in one SQLite file."""

    def __init__(self, path: str | os.PathLike, *, synchronous: str = "FULL", busy_timeout_s: float = 30.0):
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, got {synchronous!r}")
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        raw = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        self.conn = _LockedConnection(raw, self._lock)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- schema ------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._lock:
            v = self.schema_version
            if v > SCHEMA_VERSION:
                raise SchemaError(f"{self.path} has schema version {v}, newer than this code's {SCHEMA_VERSION}")
            for step in range(v + 1, SCHEMA_VERSION + 1):
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    for stmt in _split_sql(MIGRATIONS[step]):
                        self.conn.execute(stmt)
                    self.conn.execute(f"PRAGMA user_version={int(step)}")
                    self.conn.execute("COMMIT")
                except Exception as e:
                    self.conn.execute("ROLLBACK")
                    raise SchemaError(f"migration of {self.path} to schema version {step} failed: {e}") from e

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def integrity_check(self) -> str:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0]

    def _tx(self, fn):
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                out = fn()
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
            return out

    # -- episodic ----------------------------------------------------------------------
    @staticmethod
    def _message_row(time_s, role, text, embedding, labels, conversation_id):
        if role not in ("user", "assistant", "system"):
            raise ValueError(f"role must be user, assistant or system, got {role!r}")
        raw = None
        if isinstance(text, (bytes, bytearray, memoryview)):
            raw = bytes(text)
            shown = raw.decode("utf-8", "replace")
        elif isinstance(text, str):
            try:
                text.encode("utf-8")
                shown = text
            except UnicodeEncodeError:
                raw = text.encode("utf-8", "surrogateescape") if _only_escapes(text) else text.encode("utf-8", "surrogatepass")
                shown = raw.decode("utf-8", "replace")
        else:
            raise TypeError(f"message text must be str or bytes, got {type(text).__name__}")
        emb = None
        if embedding is not None:
            import numpy as np

            arr = np.asarray(embedding, dtype="<f4")
            if arr.ndim != 1 or not np.all(np.isfinite(arr)):
                raise ValueError("embedding must be a 1-d array of finite numbers")
            emb = arr.tobytes()
        labs = tuple(labels)
        if not all(isinstance(x, str) for x in labs):
            raise TypeError("labels must be strings")
        if not isinstance(conversation_id, str):
            raise TypeError("conversation_id must be str")
        t = time.time() if time_s is None else float(time_s)
        return (t, role, shown, raw, emb, json.dumps(list(labs), ensure_ascii=False), conversation_id)

    def add_message(self, role: str, text: str | bytes, *, embedding=None, labels: Sequence[str] = (),
                    conversation_id: str = "", time_s: float | None = None) -> int:
        row = self._message_row(time_s, role, text, embedding, labels, conversation_id)
        return self._tx(lambda: self.conn.execute(
            "INSERT INTO episodic(time, role, text, raw, embedding, labels, conversation_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", row).lastrowid)

    def add_messages(self, items: Iterable[dict]) -> list[int]:
        """Insert many messages in one transaction (all or nothing)."""
        rows = [self._message_row(it.get("time_s"), it["role"], it["text"], it.get("embedding"),
                                  it.get("labels", ()), it.get("conversation_id", "")) for it in items]

        def go():
            return [self.conn.execute(
                "INSERT INTO episodic(time, role, text, raw, embedding, labels, conversation_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", r).lastrowid for r in rows]
        return self._tx(go)

    def set_labels(self, message_id: int, labels: Sequence[str]) -> None:
        self._tx(lambda: self.conn.execute("UPDATE episodic SET labels = ? WHERE id = ?",
                                           (json.dumps(list(labels), ensure_ascii=False), int(message_id))))

    def set_embedding(self, message_id: int, embedding) -> None:
        """Attach the embedding computed after the message was stored (it is stored first)."""
        import numpy as np

        e = np.ascontiguousarray(embedding, dtype="<f4")
        if e.ndim != 1 or not np.all(np.isfinite(e)):
            raise ValueError("an embedding must be one finite vector")
        self._tx(lambda: self.conn.execute("UPDATE episodic SET embedding = ? WHERE id = ?",
                                           (e.tobytes(), int(message_id))))

    def messages_after(self, message_id: int | None, limit: int = 1_000_000) -> list[EpisodicRecord]:
        """The messages stored after ``message_id`` (all of them for None), in the order stored."""
        rows = self.conn.execute(f"SELECT {self._EP_COLS} FROM episodic WHERE id > ? ORDER BY id LIMIT ?",
                                 (-1 if message_id is None else int(message_id), int(limit))).fetchall()
        return [self._episodic(r) for r in rows]

    def last_message_id(self) -> int | None:
        row = self.conn.execute("SELECT MAX(id) FROM episodic").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    @staticmethod
    def _episodic(row) -> EpisodicRecord:
        emb = None
        if row[5] is not None:
            import numpy as np

            emb = np.frombuffer(row[5], dtype="<f4").copy()
        return EpisodicRecord(id=row[0], time=row[1], role=row[2], text=row[3], raw=row[4], embedding=emb,
                              labels=tuple(json.loads(row[6])), conversation_id=row[7])

    _EP_COLS = "id, time, role, text, raw, embedding, labels, conversation_id"

    def get_message(self, message_id: int) -> EpisodicRecord | None:
        row = self.conn.execute(f"SELECT {self._EP_COLS} FROM episodic WHERE id = ?", (int(message_id),)).fetchone()
        return self._episodic(row) if row else None

    def recent_messages(self, n: int = 20, conversation_id: str | None = None) -> list[EpisodicRecord]:
        if conversation_id is None:
            rows = self.conn.execute(f"SELECT {self._EP_COLS} FROM episodic ORDER BY time DESC, id DESC LIMIT ?",
                                     (int(n),)).fetchall()
        else:
            rows = self.conn.execute(f"SELECT {self._EP_COLS} FROM episodic WHERE conversation_id = ? "
                                     "ORDER BY time DESC, id DESC LIMIT ?", (conversation_id, int(n))).fetchall()
        return [self._episodic(r) for r in reversed(rows)]

    def messages_between(self, t0: float, t1: float) -> list[EpisodicRecord]:
        """Messages with t0 <= time < t1, oldest first (for replay)."""
        rows = self.conn.execute(f"SELECT {self._EP_COLS} FROM episodic WHERE time >= ? AND time < ? "
                                 "ORDER BY time, id", (float(t0), float(t1))).fetchall()
        return [self._episodic(r) for r in rows]

    def count(self, table: str) -> int:
        if table not in ("episodic", "facts", "journal", "action_log"):
            raise ValueError(f"unknown table {table!r}")
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def search_messages(self, query: str, limit: int = 10, mode: str = "OR") -> list[EpisodicRecord]:
        q = fts_query(query, mode)
        if not q:
            return []
        rows = self.conn.execute(
            f"SELECT {', '.join('e.' + c.strip() for c in self._EP_COLS.split(','))} FROM episodic_fts f "
            "JOIN episodic e ON e.id = f.rowid WHERE episodic_fts MATCH ? ORDER BY bm25(episodic_fts), e.id LIMIT ?",
            (q, int(limit))).fetchall()
        return [self._episodic(r) for r in rows]

    # -- perfect recall ----------------------------------------------------------------------
    def add_fact(self, text: str, *, time_s: float | None = None) -> int:
        text = _check_text("fact", text)
        if not text.strip():
            raise ValueError("fact must not be empty")
        t = time.time() if time_s is None else float(time_s)
        return self._tx(lambda: self.conn.execute("INSERT INTO facts(time, text) VALUES (?, ?)", (t, text)).lastrowid)

    def remove_fact(self, fact_id: int) -> bool:
        return self._tx(lambda: self.conn.execute("DELETE FROM facts WHERE id = ?", (int(fact_id),)).rowcount) == 1

    def facts(self) -> list[Fact]:
        return [Fact(*r) for r in self.conn.execute("SELECT id, time, text FROM facts ORDER BY id")]

    def search_facts(self, query: str, limit: int = 10) -> list[Fact]:
        q = fts_query(query)
        if not q:
            return []
        rows = self.conn.execute(
            "SELECT t.id, t.time, t.text FROM facts_fts f JOIN facts t ON t.id = f.rowid "
            "WHERE facts_fts MATCH ? ORDER BY bm25(facts_fts), t.id LIMIT ?", (q, int(limit))).fetchall()
        return [Fact(*r) for r in rows]

    # -- journal ------------------------------------------------------------------------------
    def add_journal(self, text: str, evidence: dict | None = None, *, time_s: float | None = None) -> int:
        text = _check_text("journal text", text)
        ev = json.dumps(evidence or {}, ensure_ascii=False, sort_keys=True)
        t = time.time() if time_s is None else float(time_s)
        return self._tx(lambda: self.conn.execute("INSERT INTO journal(time, text, evidence) VALUES (?, ?, ?)",
                                                  (t, text, ev)).lastrowid)

    def journal(self, limit: int = 100) -> list[JournalEntry]:
        rows = self.conn.execute("SELECT id, time, text, evidence FROM journal ORDER BY id DESC LIMIT ?",
                                 (int(limit),)).fetchall()
        return [JournalEntry(r[0], r[1], r[2], json.loads(r[3])) for r in reversed(rows)]

    def search_journal(self, query: str, limit: int = 10) -> list[JournalEntry]:
        q = fts_query(query)
        if not q:
            return []
        rows = self.conn.execute(
            "SELECT j.id, j.time, j.text, j.evidence FROM journal_fts f JOIN journal j ON j.id = f.rowid "
            "WHERE journal_fts MATCH ? ORDER BY bm25(journal_fts), j.id LIMIT ?", (q, int(limit))).fetchall()
        return [JournalEntry(r[0], r[1], r[2], json.loads(r[3])) for r in rows]

    # -- action log -------------------------------------------------------------------------------
    def log_action(self, *, action: str, status: str, trigger: dict | None = None, option_order=(),
                   prompt: str = "", raw: str = "", content: str = "", rationale: str = "", reason: str = "",
                   backend: str = "", soul_sha256: str = "", time_s: float | None = None) -> int:
        if status not in ACTION_STATUSES:
            raise ValueError(f"status must be one of {ACTION_STATUSES}, got {status!r}")
        t = time.time() if time_s is None else float(time_s)
        row = (t, json.dumps(trigger or {}, ensure_ascii=False, sort_keys=True),
               json.dumps(list(option_order)), _check_text("prompt", prompt), _check_text("raw", raw),
               action, _check_text("content", content), status, reason, backend,
               _check_text("rationale", rationale), soul_sha256)
        return self._tx(lambda: self.conn.execute(
            "INSERT INTO action_log(time, trigger, option_order, prompt, raw, action, content, status, reason, "
            "backend, rationale, soul_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid)

    def action_log(self, limit: int = 1000) -> list[dict]:
        cur = self.conn.execute("SELECT * FROM action_log ORDER BY id DESC LIMIT ?", (int(limit),))
        names = [d[0] for d in cur.description]
        out = []
        for r in reversed(cur.fetchall()):
            d = dict(zip(names, r))
            d["trigger"] = json.loads(d["trigger"])
            d["option_order"] = json.loads(d["option_order"])
            out.append(d)
        return out

    # -- export --------------------------------------------------------------------------------
    def export_jsonl(self, path: str | os.PathLike) -> int:
        """Write every record of every table as one JSON object per line; return the count.

        Blobs (embeddings, raw bytes) are base64; embeddings are little-endian float32.
        The file is written to a temporary name and renamed into place.
        """
        path = Path(path)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        n = 0
        with self._lock, open(tmp, "w", encoding="utf-8") as f:
            for table in ("episodic", "facts", "journal", "action_log"):
                cur = self.conn.execute(f"SELECT * FROM {table} ORDER BY id")
                names = [d[0] for d in cur.description]
                for r in cur:
                    rec = {"table": table}
                    for k, v in zip(names, r):
                        if isinstance(v, bytes):
                            rec[k] = {"base64": base64.b64encode(v).decode("ascii")}
                        elif k in ("labels", "evidence", "trigger", "option_order") and isinstance(v, str):
                            rec[k] = json.loads(v)
                        else:
                            rec[k] = v
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                    n += 1
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return n


class _Result:
    """A fully fetched cursor result, so no cursor outlives the lock."""

    def __init__(self, cur):
        self.description = cur.description
        self.lastrowid = cur.lastrowid
        self.rowcount = cur.rowcount
        self._rows = cur.fetchall() if cur.description is not None else []

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)

    def __iter__(self):
        return iter(self._rows)


class _LockedConnection:
    """The store's connection: every statement runs and is fetched under the store's lock,
    so one ``MemoryStore`` may be shared by threads (e.g. the chat and the idle loop)."""

    def __init__(self, conn: sqlite3.Connection, lock):
        self._conn = conn
        self._lock = lock

    def execute(self, sql: str, params=()):
        with self._lock:
            return _Result(self._conn.execute(sql, params))

    def close(self):
        with self._lock:
            self._conn.close()


def _only_escapes(text: str) -> bool:
    """True when every lone surrogate is a surrogateescape byte (U+DC80..U+DCFF)."""
    return all(0xDC80 <= ord(c) <= 0xDCFF for c in text if 0xD800 <= ord(c) <= 0xDFFF)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (triggers hold ';' inside BEGIN..END)."""
    out, buf = [], []
    for line in script.strip().splitlines():
        buf.append(line)
        joined = "\n".join(buf).strip()
        if joined.endswith(";") and sqlite3.complete_statement(joined):
            out.append(joined)
            buf = []
    if "\n".join(buf).strip():
        out.append("\n".join(buf).strip())
    return out
