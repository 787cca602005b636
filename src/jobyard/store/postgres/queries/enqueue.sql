-- name: job_enqueue_one
-- job_enqueue of one job with no unique key and no external id (store/postgres/enqueue.py), in
-- ONE statement run in autocommit: one round trip and one synchronous commit for the job, its
-- state event, its queue and the wake-up of the workers (NOTIFY is sent at that commit).
--
-- The caller checked the job against the type as it last read it. The job goes in only if the
-- type is still at that revision (a revision never changes once written) and not archived; else
-- nothing is written, no row comes back, and the caller takes the general path, which reads the
-- type again and says what is wrong. Every value is cast: in INSERT ... SELECT a parameter has
-- no column to take its type from.
WITH t AS (
    SELECT name FROM job_type
     WHERE name = :type AND revision = :type_revision AND archived_at IS NULL
), j AS (
    INSERT INTO live_job (type, type_revision, status, queue, priority, args, tags, unique_key,
                          external_id, max_tries, timeout, backoff, run_at, created_at,
                          updated_at, restart_of, created_by, cpus, mem, disk, type_concurrency,
                          concurrency_key, concurrency_limit)
    SELECT t.name, CAST(:type_revision AS integer), CAST(:status AS text),
           CAST(:queue AS text), CAST(:priority AS integer), CAST(:args AS jsonb),
           CAST(:tags AS jsonb), NULL, NULL, CAST(:max_tries AS integer),
           CAST(:timeout AS double precision), CAST(:backoff AS jsonb),
           CAST(:run_at AS double precision), CAST(:now AS double precision),
           CAST(:now AS double precision), CAST(:restart_of AS bigint),
           CAST(:created_by AS text), CAST(:cpus AS double precision),
           CAST(:mem AS double precision), CAST(:disk AS double precision),
           CAST(:type_concurrency AS integer), CAST(:concurrency_key AS text),
           CAST(:concurrency_limit AS integer)
      FROM t
    RETURNING id, queue
), e AS (
    INSERT INTO event (job_id, at, kind, data)
    SELECT id, CAST(:now AS double precision), 'state', CAST(:event AS json) FROM j
), q AS (
    INSERT INTO queue (name, paused, updated_at)
    SELECT queue, false, CAST(:now AS double precision) FROM j
    ON CONFLICT (name) DO NOTHING
)
SELECT id, pg_notify('jobyard_work', queue) AS announced FROM j;
