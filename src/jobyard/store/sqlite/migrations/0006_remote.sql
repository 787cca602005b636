-- Remote jobs and workers: jobs pushed and run by clients of a wire protocol (Faktory), and the
-- workers of such clients beside jobyard's own.

-- what a protocol's client sent that jobyard's own columns do not hold (Faktory: custom, retry,
-- reserve_for, at, backtrace); NULL for jobs enqueued through jobyard
ALTER TABLE live_job ADD COLUMN remote TEXT;
ALTER TABLE job_history ADD COLUMN remote TEXT;

-- 'jobyard' for jobyard's own workers, 'faktory' for a Faktory client's (its wid is the id)
ALTER TABLE worker ADD COLUMN kind TEXT NOT NULL DEFAULT 'jobyard';
ALTER TABLE worker ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';
-- running, quiet (claims nothing more) or stopping (asked to finish and exit); only forward
ALTER TABLE worker ADD COLUMN state TEXT NOT NULL DEFAULT 'running';
ALTER TABLE worker ADD COLUMN rss_kb INTEGER;

-- Faktory's dead set: failed and canceled jobs of the remote types, read by INFO and MUTATE
-- without a scan of the whole history
CREATE INDEX job_history_dead ON job_history (type, id)
    WHERE status IN ('failed', 'canceled') AND removed_at IS NULL;
