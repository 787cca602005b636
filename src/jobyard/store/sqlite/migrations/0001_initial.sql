-- jobyard schema v1 (SQLite). Times are float epoch seconds; JSON is text.

CREATE TABLE job_type (
    name        TEXT PRIMARY KEY,
    revision    INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  REAL NOT NULL
);

-- every revision ever stored; jobs keep the revision they were made with
CREATE TABLE job_type_rev (
    name        TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (name, revision)
);

CREATE TABLE queue (
    name        TEXT PRIMARY KEY,
    paused      INTEGER NOT NULL DEFAULT 0,
    updated_at  REAL NOT NULL
);

-- Unfinished jobs only (scheduled, blocked, queued, running, retrying): claims walk this table,
-- so its size does not grow with history. AUTOINCREMENT: ids are never reused after a job moves
-- to history.
CREATE TABLE live_job (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    type               TEXT NOT NULL,
    type_revision      INTEGER NOT NULL,
    status             TEXT NOT NULL,
    queue              TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    args               TEXT NOT NULL,
    tags               TEXT NOT NULL,
    unique_key         TEXT,
    external_id        TEXT,
    tries              INTEGER NOT NULL DEFAULT 0,
    max_tries          INTEGER NOT NULL,
    timeout            REAL,
    backoff            TEXT NOT NULL,
    run_at             REAL NOT NULL,
    created_at         REAL NOT NULL,
    started_at         REAL,
    finished_at        REAL,
    updated_at         REAL NOT NULL,
    result             TEXT,
    error              TEXT,
    progress           REAL,
    progress_desc      TEXT,
    execution_id       INTEGER,
    kill_requested_at  REAL,
    kill_requested_by  TEXT,
    canceled_by        TEXT,
    canceled_at        REAL,
    removed_at         REAL,
    removed_by         TEXT,
    restart_of         INTEGER,
    restarted_as       INTEGER,
    created_by         TEXT
);
CREATE INDEX live_job_ready ON live_job (queue, priority, id) WHERE status = 'queued';
CREATE INDEX live_job_due ON live_job (run_at) WHERE status IN ('scheduled', 'retrying');
CREATE INDEX live_job_execution ON live_job (execution_id) WHERE execution_id IS NOT NULL;
-- at most one unfinished job per unique key: the live table holds only unfinished jobs
CREATE UNIQUE INDEX live_job_unique_key ON live_job (unique_key) WHERE unique_key IS NOT NULL;
CREATE UNIQUE INDEX live_job_external_id ON live_job (external_id) WHERE external_id IS NOT NULL;

-- Finished jobs (completed, failed, canceled), moved here in the transaction that finishes them.
CREATE TABLE job_history (
    id                 INTEGER PRIMARY KEY,
    type               TEXT NOT NULL,
    type_revision      INTEGER NOT NULL,
    status             TEXT NOT NULL,
    queue              TEXT NOT NULL,
    priority           INTEGER NOT NULL,
    args               TEXT NOT NULL,
    tags               TEXT NOT NULL,
    unique_key         TEXT,
    external_id        TEXT,
    tries              INTEGER NOT NULL DEFAULT 0,
    max_tries          INTEGER NOT NULL,
    timeout            REAL,
    backoff            TEXT NOT NULL,
    run_at             REAL NOT NULL,
    created_at         REAL NOT NULL,
    started_at         REAL,
    finished_at        REAL,
    updated_at         REAL NOT NULL,
    result             TEXT,
    error              TEXT,
    progress           REAL,
    progress_desc      TEXT,
    execution_id       INTEGER,
    kill_requested_at  REAL,
    kill_requested_by  TEXT,
    canceled_by        TEXT,
    canceled_at        REAL,
    removed_at         REAL,
    removed_by         TEXT,
    restart_of         INTEGER,
    restarted_as       INTEGER,
    created_by         TEXT
);
CREATE UNIQUE INDEX job_history_external_id ON job_history (external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX job_history_finished ON job_history (finished_at);
CREATE INDEX job_history_created ON job_history (created_at);

-- One row per attempt, never deleted with its job: the process table.
CREATE TABLE execution (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id            INTEGER NOT NULL,
    attempt           INTEGER NOT NULL,
    status            TEXT NOT NULL,
    worker_id         TEXT,
    hostname          TEXT,
    pid               INTEGER,
    ppid              INTEGER,
    run_as            TEXT,
    queued_at         REAL,
    started_at        REAL NOT NULL,
    ended_at          REAL,
    heartbeat_at      REAL,
    lease_expires_at  REAL NOT NULL,
    exit_code         INTEGER,
    signal            INTEGER,
    peak_rss          INTEGER,
    error_type        TEXT,
    error_message     TEXT,
    traceback         TEXT,
    stopped_by        TEXT
);
CREATE INDEX execution_job ON execution (job_id, id);
-- the reaper's scan; the lease column is left out so heartbeats do not touch an index
CREATE INDEX execution_running ON execution (id) WHERE status = 'running';
CREATE INDEX execution_started ON execution (started_at);

-- Append-only: every state change, progress update and log line.
CREATE TABLE event (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id  INTEGER,
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL
);
CREATE INDEX event_job ON event (job_id, id);
CREATE INDEX event_at ON event (at);

CREATE TABLE worker (
    id            TEXT PRIMARY KEY,
    hostname      TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    queues        TEXT NOT NULL,
    concurrency   INTEGER NOT NULL,
    started_at    REAL NOT NULL,
    heartbeat_at  REAL NOT NULL,
    stopped_at    REAL
);

-- engine leadership: one row per duty, held until expires_at
CREATE TABLE leader (
    duty        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
