-- Job types as managed objects, load history and the counters behind /metrics (issue 5).

-- an archived type refuses new jobs and is left out of listings unless asked for
ALTER TABLE job_type ADD COLUMN archived_at REAL;
ALTER TABLE job_type ADD COLUMN archived_by TEXT;

-- Stable integer ids for things jobyard names: job types ('job_type', name), their revisions
-- ('job_type_rev', 'name#revision') and recipe types. Scale's API and the load filters speak
-- integers; an id never changes and is never reused.
CREATE TABLE ident (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    UNIQUE (kind, key)
);
INSERT INTO ident (kind, key)
SELECT 'job_type', name FROM job_type ORDER BY created_at, name;
INSERT INTO ident (kind, key)
SELECT 'job_type_rev', name || '#' || revision FROM job_type_rev ORDER BY created_at, name, revision;

-- Load history: what the sampler counted per job type at each `measured` time. Kept when jobs
-- are pruned. category and priority are the type's at that time, so filters still work after
-- the type changes. started and latency_sum are the cumulative starts and enqueue-to-start
-- seconds then (from stat_total): two samples give the latency of the starts between them.
-- A sample that found no work writes one all-zero row with type ''.
CREATE TABLE load_sample (
    measured     REAL NOT NULL,
    type         TEXT NOT NULL,
    type_id      INTEGER,
    category     TEXT NOT NULL,
    priority     INTEGER,
    pending      INTEGER NOT NULL,
    queued       INTEGER NOT NULL,
    running      INTEGER NOT NULL,
    blocked      INTEGER NOT NULL,
    started      INTEGER NOT NULL,
    latency_sum  REAL NOT NULL,
    PRIMARY KEY (measured, type)
);
CREATE INDEX load_sample_type ON load_sample (type, measured);

-- Cumulative counters per job type and queue (enqueued, started, finished by status, failed
-- attempts, latency and duration histograms), folded from the event log by the roll-up. One row
-- per (metric, type, queue, label): /metrics and queue status read these few rows, never the
-- history.
CREATE TABLE stat_total (
    metric  TEXT NOT NULL,
    type    TEXT NOT NULL,
    queue   TEXT NOT NULL,
    label   TEXT NOT NULL,
    value   REAL NOT NULL,
    PRIMARY KEY (metric, type, queue, label)
);

-- how far the roll-up has read the event log
CREATE TABLE stat_cursor (
    name      TEXT PRIMARY KEY,
    position  INTEGER NOT NULL,
    folded_at REAL
);
INSERT INTO stat_cursor (name, position) VALUES ('events', 0);
