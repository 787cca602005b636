-- jobyard schema v1 (PostgreSQL). The same tables and columns as the SQLite schema.
-- Times are double precision epoch seconds (the shared code passes floats); JSON is jsonb
-- (event data: json, see there).
-- Names that lists sort by are COLLATE "C", so they sort byte-wise as in SQLite.

CREATE TABLE job_type (
    name        text COLLATE "C" PRIMARY KEY,
    revision    integer NOT NULL,
    definition  jsonb NOT NULL,
    created_at  double precision NOT NULL
);

-- every revision ever stored; jobs keep the revision they were made with
CREATE TABLE job_type_rev (
    name        text COLLATE "C" NOT NULL,
    revision    integer NOT NULL,
    definition  jsonb NOT NULL,
    created_at  double precision NOT NULL,
    PRIMARY KEY (name, revision)
);

CREATE TABLE queue (
    name        text COLLATE "C" PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    updated_at  double precision NOT NULL
);

-- Job ids come from one sequence for live and finished jobs, so an id is never reused after its
-- job moves to history (SQLite: AUTOINCREMENT). No table owns it: both use it.
CREATE SEQUENCE job_id_seq AS bigint;

-- Unfinished jobs only (scheduled, blocked, queued, running, retrying): claims walk this table,
-- so its size does not grow with history. Every row is inserted, updated a few times and deleted:
-- free space on each page (fillfactor) lets progress updates stay HOT, and autovacuum runs early
-- and fast so dead rows never pile up in front of the claim (oban-py and PgQueuer install the
-- same kind of settings; pg-anchors.md §1.3).
CREATE TABLE live_job (
    id                 bigint PRIMARY KEY DEFAULT nextval('job_id_seq'),
    type               text COLLATE "C" NOT NULL,
    type_revision      integer NOT NULL,
    status             text COLLATE "C" NOT NULL,
    queue              text COLLATE "C" NOT NULL,
    priority           integer NOT NULL,
    args               jsonb NOT NULL,
    tags               jsonb NOT NULL,
    unique_key         text,
    external_id        text,
    tries              integer NOT NULL DEFAULT 0,
    max_tries          integer NOT NULL,
    timeout            double precision,
    backoff            jsonb NOT NULL,
    run_at             double precision NOT NULL,
    created_at         double precision NOT NULL,
    started_at         double precision,
    finished_at        double precision,
    updated_at         double precision NOT NULL,
    result             jsonb,
    error              jsonb,
    progress           double precision,
    progress_desc      text,
    execution_id       bigint,
    kill_requested_at  double precision,
    kill_requested_by  text,
    canceled_by        text,
    canceled_at        double precision,
    removed_at         double precision,
    removed_by         text,
    restart_of         bigint,
    restarted_as       bigint,
    created_by         text
) WITH (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 50,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1,
    autovacuum_vacuum_cost_limit = 2000
);
CREATE INDEX live_job_ready ON live_job (queue, priority, id) WHERE status = 'queued';
CREATE INDEX live_job_due ON live_job (run_at) WHERE status IN ('scheduled', 'retrying');
CREATE INDEX live_job_execution ON live_job (execution_id) WHERE execution_id IS NOT NULL;
-- at most one unfinished job per unique key: the live table holds only unfinished jobs
CREATE UNIQUE INDEX live_job_unique_key ON live_job (unique_key) WHERE unique_key IS NOT NULL;
CREATE UNIQUE INDEX live_job_external_id ON live_job (external_id) WHERE external_id IS NOT NULL;

-- Finished jobs (completed, failed, canceled), moved here in the transaction that finishes them.
CREATE TABLE job_history (
    id                 bigint PRIMARY KEY,
    type               text COLLATE "C" NOT NULL,
    type_revision      integer NOT NULL,
    status             text COLLATE "C" NOT NULL,
    queue              text COLLATE "C" NOT NULL,
    priority           integer NOT NULL,
    args               jsonb NOT NULL,
    tags               jsonb NOT NULL,
    unique_key         text,
    external_id        text,
    tries              integer NOT NULL DEFAULT 0,
    max_tries          integer NOT NULL,
    timeout            double precision,
    backoff            jsonb NOT NULL,
    run_at             double precision NOT NULL,
    created_at         double precision NOT NULL,
    started_at         double precision,
    finished_at        double precision,
    updated_at         double precision NOT NULL,
    result             jsonb,
    error              jsonb,
    progress           double precision,
    progress_desc      text,
    execution_id       bigint,
    kill_requested_at  double precision,
    kill_requested_by  text,
    canceled_by        text,
    canceled_at        double precision,
    removed_at         double precision,
    removed_by         text,
    restart_of         bigint,
    restarted_as       bigint,
    created_by         text
);
CREATE UNIQUE INDEX job_history_external_id ON job_history (external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX job_history_finished ON job_history (finished_at);
CREATE INDEX job_history_created ON job_history (created_at);

-- One row per attempt, never deleted with its job: the process table. Heartbeats rewrite
-- heartbeat_at and lease_expires_at every few seconds; neither is indexed and pages keep free
-- space, so those updates are HOT (no index writes, pruned in place).
CREATE SEQUENCE execution_id_seq AS bigint;
CREATE TABLE execution (
    id                bigint PRIMARY KEY DEFAULT nextval('execution_id_seq'),
    job_id            bigint NOT NULL,
    attempt           integer NOT NULL,
    status            text COLLATE "C" NOT NULL,
    worker_id         text,
    hostname          text,
    pid               integer,
    ppid              integer,
    run_as            text,
    queued_at         double precision,
    started_at        double precision NOT NULL,
    ended_at          double precision,
    heartbeat_at      double precision,
    lease_expires_at  double precision NOT NULL,
    exit_code         integer,
    signal            integer,
    peak_rss          bigint,
    error_type        text,
    error_message     text,
    traceback         text,
    stopped_by        text
) WITH (
    fillfactor = 85,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 50,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1,
    autovacuum_vacuum_cost_limit = 2000
);
ALTER SEQUENCE execution_id_seq OWNED BY execution.id;
CREATE INDEX execution_job ON execution (job_id, id);
-- the reaper's scan; the lease column is left out so heartbeats do not touch an index
CREATE INDEX execution_running ON execution (id) WHERE status = 'running';
CREATE INDEX execution_started ON execution (started_at);

-- Append-only: every state change, progress update and log line. `data` is json, not jsonb:
-- it is written once and read back whole, never searched; json keeps the text exactly as
-- written (as SQLite does) and, unlike jsonb, accepts "\u0000", which a log line of a process
-- that prints a NUL byte contains.
CREATE TABLE event (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id  bigint,
    at      double precision NOT NULL,
    kind    text COLLATE "C" NOT NULL,
    data    json NOT NULL
);
CREATE INDEX event_job ON event (job_id, id);
CREATE INDEX event_at ON event (at);

CREATE TABLE worker (
    id            text PRIMARY KEY,
    hostname      text NOT NULL,
    pid           integer NOT NULL,
    queues        jsonb NOT NULL,
    concurrency   integer NOT NULL,
    started_at    double precision NOT NULL,
    heartbeat_at  double precision NOT NULL,
    stopped_at    double precision
);

-- Engine leadership: one row per duty, held until expires_at. UNLOGGED: a crash empties it, and
-- that only means the next acquire elects a leader at once (oban_leaders, river_leader).
CREATE UNLOGGED TABLE leader (
    duty        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  double precision NOT NULL
);
