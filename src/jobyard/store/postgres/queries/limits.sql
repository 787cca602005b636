-- Limits (store/limits.py): the claim of jobs under a concurrency limit, unique windows,
-- paused types, and what "why is it waiting?" reads.
--
-- How a limit holds on PostgreSQL, with any number of workers and hosts. A running job under a
-- limit holds a slot (1 to the limit) in type_slot / key_slot, and the partial unique indexes
-- live_job_type_slot and live_job_key_slot over the running jobs' slots are the constraint: a
-- limit of N has N slots, so never more than N running, whatever the claimers do. Claimers of
-- one limit are serialised so that they do not trip over that constraint: each takes a
-- transaction-scoped lock per limit it fills (limits_lock), then reads the slots in use in a
-- NEXT statement. Under READ COMMITTED each statement sees every commit made before it began,
-- and a lock is released only after its holder's commit is visible, so that read sees every
-- slot taken by the claimers before. (Reading in the statement that takes the lock would not:
-- its snapshot is older than the wait.)
--
-- Why an advisory lock on a hash of the limit's name, and not a row locked FOR UPDATE: keys
-- are open-ended (one per customer, say), and a row per key would need creating, racing and
-- pruning; a transaction-scoped advisory lock needs none of that and is released at COMMIT or
-- ROLLBACK, even by a claimer that dies. Two names that hash alike only share a lock. It is
-- never what keeps the limit (the unique indexes are); it only keeps claimers from colliding.
-- The lock is TRIED, not waited for: a limit another claimer is filling right now is passed
-- over for this claim (as SKIP LOCKED passes over its rows), so claims never queue up or
-- deadlock. Jobs under no limit never take it: job_claim walks live_job_ready, which holds
-- only those.

-- name: claim_limited_waiting
-- are there ready jobs under a limit with room in these queues? (job_claim says it itself on
-- PostgreSQL; kept for parity with the SQLite store, which asks it after its claim)
SELECT EXISTS (
    SELECT 1 FROM live_job l
     WHERE status = 'queued'
       AND (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL)
       AND queue = ANY(CAST(:queues AS text[]))
       AND type = ANY(CAST(:types AS text[]))
       AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
       AND queue NOT IN (SELECT name FROM queue WHERE paused)
       AND type NOT IN (SELECT name FROM job_type WHERE paused)
       AND (type_concurrency IS NULL OR type_concurrency > (
            SELECT count(*) FROM live_job r
             WHERE r.status = 'running' AND r.type_slot IS NOT NULL AND r.type = l.type))
       AND (concurrency_key IS NULL OR concurrency_limit > (
            SELECT count(*) FROM live_job r
             WHERE r.status = 'running' AND r.key_slot IS NOT NULL
               AND r.concurrency_key = l.concurrency_key))
) AS waiting;

-- name: claim_candidates
-- the best ready jobs of a claim that counts: up to :limit per queue under no limit (when
-- asked), and up to :limit per queue under a limit that has room by this snapshot, leaving out
-- the types and keys found full and the jobs already looked at. Locked (SKIP LOCKED) so that
-- no other claimer takes them while the store decides which to take; the rest are unlocked at
-- COMMIT.
WITH q AS MATERIALIZED (
    SELECT DISTINCT name FROM unnest(CAST(:queues AS text[])) AS q(name)
     WHERE name NOT IN (SELECT name FROM queue WHERE paused)
), unlimited AS MATERIALIZED (
    SELECT j.* FROM q CROSS JOIN LATERAL (
        SELECT id, type, priority, cpus, mem, disk, type_concurrency, concurrency_key,
               concurrency_limit
          FROM live_job
         WHERE status = 'queued' AND type_concurrency IS NULL AND concurrency_key IS NULL
           AND CAST(:with_unlimited AS boolean)
           AND queue = q.name
           AND type = ANY(CAST(:types AS text[]))
           AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
           AND type NOT IN (SELECT name FROM job_type WHERE paused)
         ORDER BY priority, id
         LIMIT :limit
           FOR UPDATE SKIP LOCKED) AS j
), limited AS MATERIALIZED (
    SELECT j.* FROM q CROSS JOIN LATERAL (
        SELECT id, type, priority, cpus, mem, disk, type_concurrency, concurrency_key,
               concurrency_limit
          FROM live_job l
         WHERE status = 'queued'
           AND (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL)
           AND queue = q.name
           AND type = ANY(CAST(:types AS text[]))
           AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
           AND type NOT IN (SELECT name FROM job_type WHERE paused)
           AND id <> ALL(CAST(:skip_ids AS bigint[]))
           AND (type_concurrency IS NULL OR (
                type <> ALL(CAST(:skip_types AS text[]))
                AND type_concurrency > (
                    SELECT count(*) FROM live_job r
                     WHERE r.status = 'running' AND r.type_slot IS NOT NULL
                       AND r.type = l.type)))
           AND (concurrency_key IS NULL OR (
                concurrency_key <> ALL(CAST(:skip_keys AS text[]))
                AND concurrency_limit > (
                    SELECT count(*) FROM live_job r
                     WHERE r.status = 'running' AND r.key_slot IS NOT NULL
                       AND r.concurrency_key = l.concurrency_key)))
         ORDER BY priority, id
         LIMIT :limit
           FOR UPDATE SKIP LOCKED) AS j
)
SELECT * FROM unlimited
UNION ALL
SELECT * FROM limited
ORDER BY priority, id;

-- name: limits_lock
-- try the lock of each (scope, name) limit for this transaction; see the top of this file
SELECT s.scope, s.name,
       pg_try_advisory_xact_lock(
           hashtextextended('jobyard.limit/' || s.scope || '/' || s.name, 0)) AS locked
  FROM unnest(CAST(:scopes AS text[]), CAST(:names AS text[])) AS s(scope, name);

-- name: claim_slots_in_use
-- the slots held now under these types' and keys' limits (a statement after limits_lock)
SELECT 'type' AS scope, type AS name, type_slot AS slot FROM live_job
 WHERE status = 'running' AND type_slot IS NOT NULL AND type = ANY(CAST(:types AS text[]))
UNION ALL
SELECT 'key', concurrency_key, key_slot FROM live_job
 WHERE status = 'running' AND key_slot IS NOT NULL
   AND concurrency_key = ANY(CAST(:keys AS text[]));

-- name: claim_apply
-- queued -> running for the jobs the store picked, with their slots, executions and state
-- events, in one statement (as job_claim). The parameters of SQLite's statement of one job,
-- each an array here: one element per job.
WITH chosen AS MATERIALIZED (
    SELECT x.id, x.type_slot, x.key_slot, nextval('execution_id_seq') AS execution_id
      FROM (SELECT * FROM unnest(CAST(:id AS bigint[]), CAST(:type_slot AS integer[]),
                                 CAST(:key_slot AS integer[])) AS u(id, type_slot, key_slot)
             ORDER BY id) AS x
), claimed AS (
    UPDATE live_job j
       SET status = 'running', tries = j.tries + 1, started_at = :now, updated_at = :now,
           progress = NULL, progress_desc = NULL, execution_id = c.execution_id,
           type_slot = c.type_slot, key_slot = c.key_slot
      FROM chosen c
     WHERE j.id = c.id AND j.status = 'queued'
    RETURNING j.id, j.type, j.type_revision, j.args, j.tries, j.max_tries, j.timeout, j.run_at,
              j.execution_id, j.cpus, j.mem, j.disk
), executions AS (
    INSERT INTO execution (id, job_id, attempt, status, worker_id, queued_at, started_at,
                           heartbeat_at, lease_expires_at)
    SELECT execution_id, id, tries, 'running', CAST(:worker_id AS text), run_at,
           CAST(:now AS double precision), CAST(:now AS double precision),
           CAST(:lease_expires_at AS double precision)
      FROM claimed
), events AS (
    INSERT INTO event (job_id, at, kind, data)
    SELECT id, CAST(:now AS double precision), 'state',
           json_build_object('status', 'running', 'execution_id', execution_id,
                             'worker_id', CAST(:worker_id AS text))
      FROM claimed
     ORDER BY id
)
SELECT id, type, type_revision, args, tries, max_tries, timeout, run_at, execution_id, cpus,
       mem, disk
  FROM claimed
 ORDER BY id;

-- name: unique_window_take
-- take a unique key for a while: a new key, or one whose window has passed; no row when
-- another job holds it. A concurrent taker of the same key waits for this transaction, then
-- finds the key held.
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
                       WHERE expires_at <= :now
                       ORDER BY expires_at
                       LIMIT :limit
                         FOR UPDATE SKIP LOCKED);

-- name: type_set_paused
UPDATE job_type SET paused = :paused WHERE name = :name;

-- name: type_ready_queues
-- the queues a type has ready jobs in (to wake their workers when it is resumed)
SELECT DISTINCT queue FROM live_job WHERE type = :type AND status = 'queued';

-- name: wait_queue_paused
SELECT paused FROM queue WHERE name = :name;

-- name: limit_running_type
SELECT count(*) AS n FROM live_job
 WHERE status = 'running' AND type_slot IS NOT NULL AND type = :type;

-- name: limit_running_key
SELECT count(*) AS n FROM live_job
 WHERE status = 'running' AND key_slot IS NOT NULL AND concurrency_key = :key;

-- name: worker_capacity
-- what a worker runs and has (a worker registering again under its id says it anew)
UPDATE worker SET queues = CAST(:queues AS jsonb), concurrency = :concurrency, types = CAST(:types AS jsonb),
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
SELECT e.worker_id, count(*) AS running, SUM(j.cpus) AS cpus, SUM(j.mem) AS mem,
       SUM(j.disk) AS disk
  FROM execution e JOIN live_job j ON j.execution_id = e.id AND j.status = 'running'
 WHERE e.status = 'running'
 GROUP BY e.worker_id;
