-- Limits (issue 5): what jobs need and workers have, concurrency limits per job type and per
-- key, unique keys held for a while after their job, paused job types.

-- What a job needs of its worker, resolved from its type at enqueue (mem and disk in MiB).
ALTER TABLE live_job ADD COLUMN cpus REAL NOT NULL DEFAULT 0;
ALTER TABLE live_job ADD COLUMN mem REAL NOT NULL DEFAULT 0;
ALTER TABLE live_job ADD COLUMN disk REAL NOT NULL DEFAULT 0;
-- Its type revision's limit of jobs at once, and its own concurrency key and that key's limit.
ALTER TABLE live_job ADD COLUMN type_concurrency INTEGER;
ALTER TABLE live_job ADD COLUMN concurrency_key TEXT;
ALTER TABLE live_job ADD COLUMN concurrency_limit INTEGER;
-- The slot a running job holds under each of its limits, 1 to the limit. The unique indexes
-- below over (type, type_slot) and (concurrency_key, key_slot) of running jobs are what keeps a
-- limit: N slots, so never more than N running. A job that stops running frees its slot by
-- leaving the indexes' predicate (or the table); the stale number is overwritten at its next
-- claim.
ALTER TABLE live_job ADD COLUMN type_slot INTEGER CHECK (type_slot BETWEEN 1 AND type_concurrency);
ALTER TABLE live_job ADD COLUMN key_slot INTEGER CHECK (key_slot BETWEEN 1 AND concurrency_limit);

ALTER TABLE job_history ADD COLUMN cpus REAL NOT NULL DEFAULT 0;
ALTER TABLE job_history ADD COLUMN mem REAL NOT NULL DEFAULT 0;
ALTER TABLE job_history ADD COLUMN disk REAL NOT NULL DEFAULT 0;
ALTER TABLE job_history ADD COLUMN type_concurrency INTEGER;
ALTER TABLE job_history ADD COLUMN concurrency_key TEXT;
ALTER TABLE job_history ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE job_history ADD COLUMN type_slot INTEGER;
ALTER TABLE job_history ADD COLUMN key_slot INTEGER;

-- Ready jobs, in two indexes: those under no limit (the claim's one-statement path walks only
-- these) and those under a limit (claimed in a transaction that counts what runs).
DROP INDEX live_job_ready;
CREATE INDEX live_job_ready ON live_job (queue, priority, id)
    WHERE status = 'queued' AND type_concurrency IS NULL AND concurrency_key IS NULL;
CREATE INDEX live_job_ready_limited ON live_job (queue, priority, id)
    WHERE status = 'queued' AND (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL);
CREATE UNIQUE INDEX live_job_type_slot ON live_job (type, type_slot)
    WHERE status = 'running' AND type_slot IS NOT NULL;
CREATE UNIQUE INDEX live_job_key_slot ON live_job (concurrency_key, key_slot)
    WHERE status = 'running' AND key_slot IS NOT NULL;

-- A paused type's jobs stay queued and are not claimed; pausing makes no new revision.
ALTER TABLE job_type ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;

-- A unique key taken for a while (unique_for): a second job with the key is refused until
-- expires_at, even after the first finished. The primary key and a conditional upsert decide
-- who holds a key; rows past expires_at hold nothing and are pruned as new windows are taken.
CREATE TABLE unique_window (
    unique_key  TEXT PRIMARY KEY,
    job_id      INTEGER NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX unique_window_expires ON unique_window (expires_at);

-- What a worker runs and has, for "why is it waiting?": its job types (NULL: any in its
-- queues), its capacity (NULL: not limited) and how often it beats (it is live while its last
-- beat is within three of them).
ALTER TABLE worker ADD COLUMN types TEXT;
ALTER TABLE worker ADD COLUMN cpus REAL;
ALTER TABLE worker ADD COLUMN mem REAL;
ALTER TABLE worker ADD COLUMN disk REAL;
ALTER TABLE worker ADD COLUMN heartbeat_interval REAL;
