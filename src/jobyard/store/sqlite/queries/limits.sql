-- Limits (store/limits.py): the claim of jobs under a concurrency limit, unique windows,
-- paused types, and what "why is it waiting?" reads. BEGIN IMMEDIATE serialises every writer,
-- so a claim's count of what runs is exact; limits_lock has nothing to do here.

-- name: claim_limited_waiting
-- after job_claim: are there ready jobs under a limit with room, which it does not take?
SELECT EXISTS (
    SELECT 1 FROM live_job l
     WHERE status = 'queued'
       AND (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL)
       AND queue IN (SELECT value FROM json_each(:queues))
       AND type IN (SELECT value FROM json_each(:types))
       AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
       AND queue NOT IN (SELECT name FROM queue WHERE paused)
       AND type NOT IN (SELECT name FROM job_type WHERE paused)
       AND (type_concurrency IS NULL OR type_concurrency > (
            SELECT COUNT(*) FROM live_job r
             WHERE r.status = 'running' AND r.type_slot IS NOT NULL AND r.type = l.type))
       AND (concurrency_key IS NULL OR concurrency_limit > (
            SELECT COUNT(*) FROM live_job r
             WHERE r.status = 'running' AND r.key_slot IS NOT NULL
               AND r.concurrency_key = l.concurrency_key))
) AS waiting;

-- name: claim_candidates
-- the best ready jobs of a claim that counts: up to :limit under no limit (when asked), and up
-- to :limit under a limit that has room, leaving out the types and keys found full and the jobs
-- already looked at. The store decides which to take.
SELECT * FROM (
    SELECT id, type, priority, cpus, mem, disk, type_concurrency, concurrency_key,
           concurrency_limit
      FROM live_job
     WHERE status = 'queued' AND type_concurrency IS NULL AND concurrency_key IS NULL
       AND :with_unlimited
       AND queue IN (SELECT value FROM json_each(:queues))
       AND type IN (SELECT value FROM json_each(:types))
       AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
       AND queue NOT IN (SELECT name FROM queue WHERE paused)
       AND type NOT IN (SELECT name FROM job_type WHERE paused)
     ORDER BY priority, id
     LIMIT :limit)
UNION ALL
SELECT * FROM (
    SELECT id, type, priority, cpus, mem, disk, type_concurrency, concurrency_key,
           concurrency_limit
      FROM live_job l
     WHERE status = 'queued'
       AND (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL)
       AND queue IN (SELECT value FROM json_each(:queues))
       AND type IN (SELECT value FROM json_each(:types))
       AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
       AND queue NOT IN (SELECT name FROM queue WHERE paused)
       AND type NOT IN (SELECT name FROM job_type WHERE paused)
       AND id NOT IN (SELECT value FROM json_each(:skip_ids))
       AND (type_concurrency IS NULL OR (
            type NOT IN (SELECT value FROM json_each(:skip_types))
            AND type_concurrency > (
                SELECT COUNT(*) FROM live_job r
                 WHERE r.status = 'running' AND r.type_slot IS NOT NULL AND r.type = l.type)))
       AND (concurrency_key IS NULL OR (
            concurrency_key NOT IN (SELECT value FROM json_each(:skip_keys))
            AND concurrency_limit > (
                SELECT COUNT(*) FROM live_job r
                 WHERE r.status = 'running' AND r.key_slot IS NOT NULL
                   AND r.concurrency_key = l.concurrency_key)))
     ORDER BY priority, id
     LIMIT :limit)
ORDER BY priority, id;

-- name: limits_lock
-- which of these (scope, name) limits this claim may count and fill: all of them, as BEGIN
-- IMMEDIATE already keeps every other claim out
SELECT s.value AS scope, n.value AS name, 1 AS locked
  FROM json_each(:scopes) AS s JOIN json_each(:names) AS n ON n.key = s.key;

-- name: claim_slots_in_use
-- the slots held now under these types' and keys' limits
SELECT 'type' AS scope, type AS name, type_slot AS slot FROM live_job
 WHERE status = 'running' AND type_slot IS NOT NULL
   AND type IN (SELECT value FROM json_each(:types))
UNION ALL
SELECT 'key', concurrency_key, key_slot FROM live_job
 WHERE status = 'running' AND key_slot IS NOT NULL
   AND concurrency_key IN (SELECT value FROM json_each(:keys));

-- name: claim_apply
-- queued -> running for one job the store picked, with its slots
UPDATE live_job
   SET status = 'running', tries = tries + 1, started_at = :now, updated_at = :now,
       progress = NULL, progress_desc = NULL, type_slot = :type_slot, key_slot = :key_slot
 WHERE id = :id AND status = 'queued'
RETURNING id, type, type_revision, args, tries, max_tries, timeout, run_at, cpus, mem, disk;

-- name: unique_window_take
-- take a unique key for a while: a new key, or one whose window has passed; NULL when another
-- job holds it
INSERT INTO unique_window (unique_key, job_id, expires_at)
VALUES (:unique_key, :job_id, :expires_at)
ON CONFLICT (unique_key) DO UPDATE
   SET job_id = excluded.job_id, expires_at = excluded.expires_at
 WHERE unique_window.expires_at <= :now
RETURNING job_id;

-- name: unique_window_holder
SELECT job_id, expires_at FROM unique_window
 WHERE unique_key = :unique_key AND expires_at > :now;

-- name: unique_window_prune
DELETE FROM unique_window
 WHERE unique_key IN (SELECT unique_key FROM unique_window
                       WHERE expires_at <= :now ORDER BY expires_at LIMIT :limit);

-- name: type_set_paused
UPDATE job_type SET paused = :paused WHERE name = :name;

-- name: type_ready_queues
-- the queues a type has ready jobs in (to wake their workers when it is resumed)
SELECT DISTINCT queue FROM live_job WHERE type = :type AND status = 'queued';

-- name: wait_queue_paused
SELECT paused FROM queue WHERE name = :name;

-- name: limit_running_type
SELECT COUNT(*) AS n FROM live_job
 WHERE status = 'running' AND type_slot IS NOT NULL AND type = :type;

-- name: limit_running_key
SELECT COUNT(*) AS n FROM live_job
 WHERE status = 'running' AND key_slot IS NOT NULL AND concurrency_key = :key;

-- name: worker_capacity
-- what a worker runs and has (a worker registering again under its id says it anew)
UPDATE worker SET queues = :queues, concurrency = :concurrency, types = :types,
       cpus = :cpus, mem = :mem, disk = :disk, heartbeat_interval = :heartbeat_interval
 WHERE id = :id;

-- name: wait_workers_live
-- workers that have not stopped and beat within :horizon seconds (the store tells live from
-- late by each one's own beat interval); a quiet or stopping worker claims nothing
SELECT id, kind, queues, types, concurrency, cpus, mem, disk, heartbeat_at, heartbeat_interval
  FROM worker
 WHERE stopped_at IS NULL AND state = 'running' AND heartbeat_at >= :now - :horizon
 ORDER BY id;

-- name: wait_workers_reserved
-- what each worker's running jobs hold, read through the running executions
SELECT e.worker_id, COUNT(*) AS running, SUM(j.cpus) AS cpus, SUM(j.mem) AS mem,
       SUM(j.disk) AS disk
  FROM execution e JOIN live_job j ON j.execution_id = e.id AND j.status = 'running'
 WHERE e.status = 'running'
 GROUP BY e.worker_id;
