"""The on-disk profile cache: (machine, routine, routine version, layer
signature) -> median microseconds, in SQLite (stdlib). "machine" includes the
engine build, so a rebuilt engine profiles afresh.

Shared by every model, session and process on the machine. Writes are short
transactions in WAL mode, so two processes profiling at once lose nothing. A
file that is not a readable cache (corrupt, foreign, wrong schema) is moved
aside with a warning and rebuilt; a version 1 cache is upgraded in place.

A timing is settled by a second opinion. On a shared VM a slow spell of minutes
inflates every timing taken in it (one cache here had ResNet50's layers 1.46x
slow at the median, up to 1.9x, its 3x3 direct convs but not their Winograd
rivals: DPRS put a stage in Winograd, 12% slower in the model), and noise only
ever slows a run. So a row keeps the fastest and the second fastest of its
samples; it is settled once those two agree within AGREE (or after MAX_SAMPLES
samples), and until then a session that finds it at least RECHECK_AFTER_S old
times its layer again (`unsettled`). Reads give the fastest sample.

Default location: $XDG_CACHE_HOME/softneuro_ep/profile.sqlite (~/.cache/...);
override with the provider option `profile_cache` or SOFTNEURO_EP_CACHE.
"""
import functools
import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings

from . import _engine

SCHEMA_VERSION = 2  # 2: second_us and samples (a timing settled by a second opinion)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS profile (
    machine TEXT NOT NULL, routine TEXT NOT NULL, version INTEGER NOT NULL,
    signature TEXT NOT NULL, median_us REAL NOT NULL, measured_at REAL NOT NULL,
    second_us REAL, samples INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (machine, routine, version, signature));
"""
_UPGRADE_1 = (("second_us", "REAL"), ("samples", "INTEGER NOT NULL DEFAULT 1"))  # columns added to version 1
AGREE = 1.15            # the two fastest samples this close: the timing is settled
MAX_SAMPLES = 4         # settled anyway (a host that is never quiet)
RECHECK_AFTER_S = 300.0  # a second opinion from a later minute than the first's slow spell


def default_path():
    env = os.environ.get("SOFTNEURO_EP_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "softneuro_ep", "profile.sqlite")


@functools.lru_cache(maxsize=None)
def engine_build_id():
    """Digest of the loaded engine binary. Profiles measured with another build are stale: kernels change
    speed between builds without their routine's version() being bumped (as TensorRT's timing caches
    are valid for one TensorRT build)."""
    h = hashlib.sha1()
    with open(_engine.__file__, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def machine_fingerprint(threads):
    """CPU model, the ISA features the kernels dispatch on (and the engine build that measured), the
    thread count, and which layers were timed cold."""
    info = _engine.cpu_info()
    feats = ",".join(k for k in ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8") if info.get(k))
    from .graph_passes.tune import COLD, COLD_MIN_BYTES  # how layers were timed
    raw = f"{info['model']}|{feats}|engine={engine_build_id()}|threads={threads}" + (
        {0: "|warm", 1: f"|cold>={COLD_MIN_BYTES}"}.get(COLD, f"|cold>={COLD_MIN_BYTES}|memory"))
    return hashlib.sha1(raw.encode()).hexdigest()[:16] + f"|t{threads}"


def signature(op, attrs, inputs, outputs):
    """Layer signature: op, attributes, and each input's dtype/shape/constness."""
    key = {"op": op, "attrs": {k: v for k, v in sorted(attrs.items())},
           "in": [None if i is None else [str(i[0]), list(i[1]), bool(i[2])] for i in inputs],
           "out": [[str(o[0]), list(o[1])] for o in outputs]}
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)


class ProfileCache:
    def __init__(self, path=None):
        self.path = path or default_path()
        self._lock = threading.Lock()
        self._mem = {}  # machine -> {(routine, version, signature): median_us}
        self._db = self._open()

    def _connect(self):
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(_SCHEMA)
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] == "1":
            self._upgrade_from_1(db)
        elif row[0] != str(SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"profile cache schema {row[0]}, expected {SCHEMA_VERSION}")
        db.execute("SELECT machine, routine, version, signature, median_us, measured_at, second_us, samples "
                   "FROM profile LIMIT 1").fetchone()
        return db

    @staticmethod
    def _upgrade_from_1(db):
        """Version 1 rows become one-sample rows (unsettled: re-timed once old enough)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "1":  # not done by another
                cols = {r[1] for r in db.execute("PRAGMA table_info(profile)")}
                for name, decl in _UPGRADE_1:
                    if name not in cols:
                        db.execute(f"ALTER TABLE profile ADD COLUMN {name} {decl}")
                db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _open(self):
        if os.path.isdir(self.path):
            from .capi.onnxruntime_pybind11_state import InvalidArgument
            raise InvalidArgument(f"profile_cache: {self.path} is a directory, not a cache file")
        try:
            return self._connect()
        except sqlite3.DatabaseError as e:
            aside = f"{self.path}.corrupt-{int(time.time())}"
            warnings.warn(f"softneuro_ep: profile cache {self.path} is unreadable ({e}); moved to {aside} and rebuilt")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.replace(self.path + suffix, aside + suffix)
            return self._connect()

    def _machine_rows(self, machine):
        """Every row of this machine, read once (one query, not one per key)."""
        if machine not in self._mem:
            rows = self._db.execute("SELECT routine, version, signature, median_us FROM profile WHERE machine=?",
                                    (machine,)).fetchall()
            self._mem[machine] = {(r, v, sg): us for r, v, sg, us in rows}
        return self._mem[machine]

    def get_many(self, machine, keys):
        """keys: [(routine, version, signature)] -> {key: median_us} for those cached.
        Keys missing from the in-memory copy are looked up again (another process may have added them)."""
        out = {}
        with self._lock:
            mem = self._machine_rows(machine)
            for key in keys:
                if key in mem:
                    out[key] = mem[key]
                    continue
                row = self._db.execute(
                    "SELECT median_us FROM profile WHERE machine=? AND routine=? AND version=? AND signature=?",
                    (machine, *key)).fetchone()
                if row is not None:
                    out[key] = mem[key] = row[0]
        return out

    def unsettled(self, machine, keys, now=None):
        """The keys among `keys` whose timing wants another sample now: fewer than two agreeing
        samples (see the module's doc) and the last one at least RECHECK_AFTER_S old. Rows that
        are not timings (negative: unsupported) are never re-taken."""
        now = time.time() if now is None else now
        out = set()
        with self._lock:
            for key in keys:
                row = self._db.execute(
                    "SELECT median_us, second_us, samples, measured_at FROM profile "
                    "WHERE machine=? AND routine=? AND version=? AND signature=?", (machine, *key)).fetchone()
                if row is None or row[0] < 0 or now - row[3] < RECHECK_AFTER_S:
                    continue
                best, second, samples, _ = row
                settled = samples >= MAX_SAMPLES or (second is not None and second <= AGREE * best)
                if not settled:
                    out.add(key)
        return out

    def put_many(self, machine, rows):
        """rows: [(routine, version, signature, median_us)]. A timing already stored gains a sample:
        the row keeps the fastest two (noise only slows a run); a negative value (not a timing)
        replaces the row."""
        if not rows:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                merged = []
                for r, v, s, us in rows:
                    old = self._db.execute(
                        "SELECT median_us, second_us, samples FROM profile "
                        "WHERE machine=? AND routine=? AND version=? AND signature=?", (machine, r, v, s)).fetchone()
                    if old is None or old[0] < 0 or us < 0:
                        merged.append((machine, r, v, s, us, now, None, 1))
                        continue
                    two = sorted(x for x in (old[0], old[1], us) if x is not None)[:2]
                    merged.append((machine, r, v, s, two[0], now, two[1], old[2] + 1))
                self._db.executemany("INSERT OR REPLACE INTO profile VALUES (?, ?, ?, ?, ?, ?, ?, ?)", merged)
                self._db.execute("COMMIT")
                mem = self._mem.get(machine)
                if mem is not None:
                    mem.update({(r, v, s): us for _, r, v, s, us, *_ in merged})
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def count(self):
        with self._lock:
            return self._db.execute("SELECT count(*) FROM profile").fetchone()[0]

    def close(self):
        with self._lock:
            self._db.close()
