-- Named statements for the PostgreSQL store: the same names as sqlite/queries.sql, plus a few
-- PostgreSQL-only ones at the end. Parameters are written :name here and turned into psycopg's
-- %(name)s when the file is loaded. Lists arrive as arrays (= ANY(CAST(:p AS text[]))), JSON as
-- text (CAST(:p AS jsonb)); values that stand alone in a select list are cast explicitly, as
-- PostgreSQL cannot infer their type from the target column there.
--
-- Writes run in READ COMMITTED. Where the shared code reads rows and then decides what to write,
-- the read locks them (FOR UPDATE), always executions before jobs and each in id order, so two
-- transactions never wait on each other in a cycle.

-- name: type_current
-- every column of the type (archived_at, ...) and its integer id
SELECT t.*, i.id FROM job_type t LEFT JOIN ident i ON i.kind = 'job_type' AND i.key = t.name
 WHERE t.name = :name;

-- name: type_list
SELECT t.*, i.id FROM job_type t LEFT JOIN ident i ON i.kind = 'job_type' AND i.key = t.name
 ORDER BY t.name;

-- name: type_store
INSERT INTO job_type (name, revision, definition, created_at)
VALUES (:name, :revision, CAST(:definition AS jsonb), :now)
ON CONFLICT (name) DO UPDATE
   SET revision = excluded.revision, definition = excluded.definition,
       created_at = excluded.created_at;

-- name: type_rev_insert
-- two processes registering the same new revision at once: the loser's primary key violation
-- makes the store retry the whole operation, which then sees the winner's row
INSERT INTO job_type_rev (name, revision, definition, created_at)
VALUES (:name, :revision, CAST(:definition AS jsonb), :now);

-- name: type_rev_get
SELECT name, revision, definition, created_at FROM job_type_rev
 WHERE name = :name AND revision = :revision;

-- name: queue_ensure
INSERT INTO queue (name, paused, updated_at) VALUES (:name, false, :now)
ON CONFLICT (name) DO NOTHING;

-- name: queue_set_paused
INSERT INTO queue (name, paused, updated_at) VALUES (:name, :paused, :now)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at;

-- name: queue_list
SELECT q.name, q.paused,
       COUNT(*) FILTER (WHERE j.status = 'queued') AS queued,
       COUNT(*) FILTER (WHERE j.status = 'running') AS running,
       COUNT(*) FILTER (WHERE j.status IN ('scheduled', 'retrying', 'blocked')) AS waiting
  FROM queue q LEFT JOIN live_job j ON j.queue = q.name
 GROUP BY q.name, q.paused
 ORDER BY q.name;

-- name: job_insert
INSERT INTO live_job (type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
VALUES (:type, :type_revision, :status, :queue, :priority, CAST(:args AS jsonb),
        CAST(:tags AS jsonb), :unique_key, :external_id, :max_tries, :timeout,
        CAST(:backoff AS jsonb), :run_at, :now, :now, :restart_of, :created_by,
        :cpus, :mem, :disk, :type_concurrency, :concurrency_key, :concurrency_limit)
RETURNING id;

-- name: job_insert_numbered
-- job_insert with the id given (taken first by job_ids_next): how a run of jobs goes in bulk
INSERT INTO live_job (id, type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
VALUES (:id, :type, :type_revision, :status, :queue, :priority, CAST(:args AS jsonb),
        CAST(:tags AS jsonb), :unique_key, :external_id, :max_tries, :timeout,
        CAST(:backoff AS jsonb), :run_at, :now, :now, :restart_of, :created_by,
        :cpus, :mem, :disk, :type_concurrency, :concurrency_key, :concurrency_limit);

-- name: job_insert_unique
-- a taken unique key inserts nothing (and returns no row) instead of failing the transaction;
-- when the taker is not committed yet, this waits for it and then decides
INSERT INTO live_job (type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
VALUES (:type, :type_revision, :status, :queue, :priority, CAST(:args AS jsonb),
        CAST(:tags AS jsonb), :unique_key, :external_id, :max_tries, :timeout,
        CAST(:backoff AS jsonb), :run_at, :now, :now, :restart_of, :created_by,
        :cpus, :mem, :disk, :type_concurrency, :concurrency_key, :concurrency_limit)
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING id;

-- name: job_id_by_unique_key
SELECT id FROM live_job WHERE unique_key = :unique_key;

-- name: job_external_id_taken
SELECT id FROM live_job WHERE external_id = :external_id
UNION ALL
SELECT id FROM job_history WHERE external_id = :external_id;

-- name: event_insert
INSERT INTO event (job_id, at, kind, data) VALUES (:job_id, :now, :kind, CAST(:data AS json));

-- name: job_claim
-- queued -> running for the best `limit` jobs under no concurrency limit (store/limits.py claims
-- the others) whose running totals fit the worker's free resources, with their execution rows
-- (an execution's id is its lease's fencing token) and their state events, in ONE statement:
-- one round trip, and the claim is atomic even without an explicit transaction.
--
-- `picked` is MATERIALIZED on purpose, as an optimization fence: without it the planner may run
-- the LIMIT subquery as the inner side of a nested loop and lock or update more rows than LIMIT
-- (oban lib/oban/engines/basic.ex; pg-boss writes `id = ANY(ARRAY(...))` for the same reason).
-- FOR UPDATE SKIP LOCKED: concurrent claimers take different rows instead of queueing behind
-- each other on the same ones.
--
-- One LATERAL per queue: each walks live_job_ready in (priority, id) order and stops after
-- `limit` rows. With `queue = ANY(...)` PostgreSQL before 17 cannot read that index in order and
-- would sort every ready job of the queues on each claim, so claims would slow down with the
-- backlog. The outer ORDER BY ... LIMIT keeps the best `limit` over all queues; rows a queue
-- locked beyond those are unlocked when this statement (the transaction) ends. live_job_ready
-- holds only jobs under no limit, so a backlog of limited jobs is never walked here.
--
-- `fitting` keeps the longest run of them, best first, whose sums of cpus, mem and disk fit
-- what the worker has free (all of them when jobs need nothing, the usual case).
--
-- Execution ids are drawn after sorting (`numbered`), so they increase with job ids, and the
-- event rows are inserted in job id order, as the SQLite store writes them.
--
-- The last column says whether ready jobs under a limit with room wait in these queues (read
-- through live_job_ready_limited): the store then claims those in a transaction that counts
-- what runs. A row comes back even when nothing was claimed, to carry it.
--
-- `relaxed`: a claim is no promise to anyone, so it commits without waiting for its WAL to
-- reach disk (store/reporting.py). A claim lost with a crash of the database leaves the job
-- queued, to run again (at least once); the job's finish, a synchronous commit, flushes it.
WITH relaxed AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true) AS relaxed
), picked AS MATERIALIZED (
    SELECT j.id, j.priority, j.cpus, j.mem, j.disk
      FROM relaxed, (SELECT DISTINCT name FROM unnest(CAST(:queues AS text[])) AS q(name)) AS q
     CROSS JOIN LATERAL (
            SELECT id, priority, cpus, mem, disk FROM live_job
             WHERE status = 'queued' AND type_concurrency IS NULL AND concurrency_key IS NULL
               AND queue = q.name
               AND type = ANY(CAST(:types AS text[]))
               AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
               AND type NOT IN (SELECT name FROM job_type WHERE paused)
             ORDER BY priority, id
             LIMIT :limit
               FOR UPDATE SKIP LOCKED) AS j
     WHERE q.name NOT IN (SELECT name FROM queue WHERE paused)
     ORDER BY j.priority, j.id
     LIMIT :limit
), fitting AS MATERIALIZED (
    SELECT id
      FROM (SELECT id, SUM(cpus) OVER w AS cpus, SUM(mem) OVER w AS mem,
                   SUM(disk) OVER w AS disk
              FROM picked WINDOW w AS (ORDER BY priority, id)) AS totals
     WHERE cpus <= :cpus AND mem <= :mem AND disk <= :disk
), numbered AS MATERIALIZED (
    SELECT id, nextval('execution_id_seq') AS execution_id
      FROM (SELECT id FROM fitting ORDER BY id) AS p
), claimed AS (
    UPDATE live_job j
       SET status = 'running', tries = j.tries + 1, started_at = :now, updated_at = :now,
           progress = NULL, progress_desc = NULL, execution_id = n.execution_id
      FROM numbered n
     WHERE j.id = n.id
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
), limited AS (
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
    ) AS limited_waiting
)
SELECT c.id, c.type, c.type_revision, c.args, c.tries, c.max_tries, c.timeout, c.run_at,
       c.execution_id, c.cpus, c.mem, c.disk, l.limited_waiting
  FROM limited l LEFT JOIN claimed c ON true
 ORDER BY c.id;

-- name: execution_insert
-- (job_claim writes executions itself; kept for parity with the SQLite store)
INSERT INTO execution (job_id, attempt, status, worker_id, queued_at, started_at,
                       heartbeat_at, lease_expires_at)
VALUES (:job_id, :attempt, 'running', :worker_id, :queued_at, :now, :now, :lease_expires_at)
RETURNING id;

-- name: job_set_execution
UPDATE live_job SET execution_id = :execution_id WHERE id = :job_id;

-- name: execution_started
UPDATE execution SET pid = :pid, ppid = :ppid, hostname = :hostname, run_as = :run_as
 WHERE id = :execution_id;

-- name: execution_heartbeat
-- never shortens a lease: reserve_for may have pushed it further. The rows are locked in id
-- order first, the order in which every other statement locks executions.
WITH beating AS MATERIALIZED (
    SELECT id FROM execution
     WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'running'
     ORDER BY id
       FOR UPDATE
)
UPDATE execution e
   SET heartbeat_at = :now, lease_expires_at = GREATEST(e.lease_expires_at, :until)
  FROM beating b
 WHERE e.id = b.id;

-- name: execution_current
SELECT execution_id, kill_requested_at FROM live_job
 WHERE execution_id = ANY(CAST(:ids AS bigint[])) AND status = 'running';

-- name: execution_reserve
UPDATE execution SET lease_expires_at = GREATEST(lease_expires_at, :until)
 WHERE id = :execution_id AND status = 'running'
RETURNING lease_expires_at;

-- name: job_progress
UPDATE live_job SET progress = :percent, progress_desc = :desc, updated_at = :now
 WHERE execution_id = :execution_id AND status = 'running'
RETURNING id;

-- name: jobs_for_executions
-- Locks what the shared code is about to end: the executions, then their jobs, each in id
-- order, so a worker's finish and the reaper never deadlock on the same attempts. The count
-- over `ending` is a one-time filter: it runs (locking the executions) before live_job is read,
-- and live_job is read through its execution_id index, not joined to the CTE (a join the
-- planner may turn into a scan of every live job while the table has no statistics yet).
WITH ending AS MATERIALIZED (
    SELECT id FROM execution
     WHERE id = ANY(CAST(:ids AS bigint[]))
     ORDER BY id
       FOR UPDATE
)
SELECT id, execution_id, status, tries, max_tries, backoff, kill_requested_at, kill_requested_by,
       EXISTS (SELECT 1 FROM job_dependency d WHERE d.parent_id = live_job.id) AS has_children,
       queue, (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL) AS limited
  FROM live_job
 WHERE execution_id = ANY(CAST(:ids AS bigint[])) AND (SELECT count(*) FROM ending) >= 0
 ORDER BY id
   FOR UPDATE;

-- name: execution_end
UPDATE execution
   SET status = :status, ended_at = :now, exit_code = :exit_code, signal = :signal,
       peak_rss = COALESCE(:peak_rss, peak_rss), error_type = :error_type,
       error_message = :error_message, traceback = :traceback, stopped_by = :stopped_by
 WHERE id = :execution_id AND status = 'running';

-- name: job_to_history
-- a job reaches a terminal state: copied to history with its final fields, then deleted from live
-- columns named, so a later migration's new column cannot shift the others
INSERT INTO job_history (
    id, type, type_revision, status, queue, priority, args, tags, unique_key, external_id,
    tries, max_tries, timeout, backoff, run_at, created_at, started_at, finished_at, updated_at,
    result, error, progress, progress_desc, execution_id, kill_requested_at, kill_requested_by,
    canceled_by, canceled_at, removed_at, removed_by, restart_of, restarted_as, created_by,
    remote, cpus, mem, disk, type_concurrency, concurrency_key, concurrency_limit, type_slot,
    key_slot)
SELECT id, type, type_revision, CAST(:status AS text), queue, priority, args, tags, unique_key,
       external_id, tries, max_tries, timeout, backoff, run_at, created_at, started_at,
       CAST(:now AS double precision), CAST(:now AS double precision),
       COALESCE(CAST(:result AS jsonb), result), COALESCE(CAST(:error AS jsonb), error),
       progress, progress_desc, execution_id, kill_requested_at, kill_requested_by,
       CAST(:canceled_by AS text), CAST(:canceled_at AS double precision),
       COALESCE(CAST(:removed_at AS double precision), removed_at),
       COALESCE(CAST(:removed_by AS text), removed_by),
       restart_of, restarted_as, created_by, remote, cpus, mem, disk, type_concurrency,
       concurrency_key, concurrency_limit, type_slot, key_slot
  FROM live_job WHERE id = :id;

-- name: job_delete_live
DELETE FROM live_job WHERE id = :id;

-- name: job_retry
UPDATE live_job
   SET status = 'retrying', run_at = :run_at, error = CAST(:error AS jsonb), updated_at = :now
 WHERE id = :id AND execution_id = :execution_id AND status = 'running';

-- name: job_give_back
-- the worker stopped before the attempt finished: back to the queue, the try not counted
UPDATE live_job
   SET status = 'queued', tries = tries - 1, updated_at = :now
 WHERE id = :id AND execution_id = :execution_id AND status = 'running';

-- name: job_to_live
-- requeue: a finished job comes back from history
INSERT INTO live_job (
    id, type, type_revision, status, queue, priority, args, tags, unique_key, external_id,
    tries, max_tries, timeout, backoff, run_at, created_at, started_at, finished_at, updated_at,
    result, error, progress, progress_desc, execution_id, kill_requested_at, kill_requested_by,
    canceled_by, canceled_at, removed_at, removed_by, restart_of, restarted_as, created_by,
    remote, cpus, mem, disk, type_concurrency, concurrency_key, concurrency_limit, type_slot,
    key_slot)
SELECT id, type, type_revision, 'queued', queue,
       COALESCE(CAST(:priority AS integer), priority), args, tags, unique_key, external_id,
       tries, tries + CAST(:extra_tries AS integer), timeout, backoff,
       CAST(:now AS double precision), created_at, started_at, NULL,
       CAST(:now AS double precision), NULL, error, NULL, NULL, execution_id, NULL, NULL, NULL,
       NULL, NULL, NULL, restart_of, restarted_as, created_by, remote, cpus, mem, disk,
       type_concurrency, concurrency_key, concurrency_limit, NULL, NULL
  FROM job_history WHERE id = :id;

-- name: job_delete_history
DELETE FROM job_history WHERE id = :id;

-- name: job_live_lock
SELECT id, status, queue FROM live_job WHERE id = :id FOR UPDATE;

-- name: job_history_status
SELECT id, status, removed_at FROM job_history WHERE id = :id FOR UPDATE;

-- name: job_get
SELECT * FROM live_job WHERE id = :id
UNION ALL
SELECT * FROM job_history WHERE id = :id;

-- name: executions_of_job
SELECT * FROM execution WHERE job_id = :job_id ORDER BY id;

-- name: job_request_kill
-- a second kill keeps the first request's who and when
UPDATE live_job SET kill_requested_at = COALESCE(kill_requested_at, :now),
       kill_requested_by = CASE WHEN kill_requested_at IS NULL THEN CAST(:by AS text)
                                ELSE kill_requested_by END,
       updated_at = :now
 WHERE id = :id AND status = 'running';

-- name: job_set_restarted_as
UPDATE job_history SET restarted_as = :new_id, updated_at = :now WHERE id = :id;

-- name: job_remove_history
UPDATE job_history SET removed_at = :now, removed_by = :by, updated_at = :now
 WHERE id = :id AND removed_at IS NULL;

-- name: job_next_due
-- when the releaser next has work (live_job_due): it sleeps until then, not a fixed interval
SELECT MIN(run_at) AS at FROM live_job WHERE status IN ('scheduled', 'retrying');

-- name: job_release_due
-- scheduled / retrying -> queued; SKIP LOCKED passes over a job someone is canceling right now
WITH due AS MATERIALIZED (
    SELECT id FROM live_job
     WHERE status IN ('scheduled', 'retrying') AND run_at <= :now
     ORDER BY run_at
     LIMIT :limit
       FOR UPDATE SKIP LOCKED
)
UPDATE live_job j SET status = 'queued', updated_at = :now
  FROM due
 WHERE j.id = due.id
RETURNING j.id, j.queue;

-- name: execution_next_expiry
-- when the reaper next has work: the first lease of a running execution to run out
SELECT MIN(lease_expires_at) AS at FROM execution WHERE status = 'running';

-- name: execution_expired
-- locked, so a heartbeat that comes in now waits and then finds the execution ended, instead of
-- renewing a lease the reaper is about to declare lost
SELECT id FROM execution
 WHERE status = 'running' AND lease_expires_at < :now
 ORDER BY id
 LIMIT :limit
   FOR UPDATE SKIP LOCKED;

-- name: event_list
SELECT id, job_id, at, kind, data FROM event WHERE id > :after ORDER BY id LIMIT :limit;

-- name: event_list_job
SELECT id, job_id, at, kind, data FROM event
 WHERE job_id = :job_id AND id > :after ORDER BY id LIMIT :limit;

-- name: job_log
SELECT id, job_id, at, kind, data FROM event
 WHERE job_id = :job_id AND kind = 'log' AND id > :after ORDER BY id LIMIT :limit;

-- name: event_prune
DELETE FROM event WHERE at < :before;

-- name: worker_register
INSERT INTO worker (id, hostname, pid, queues, concurrency, started_at, heartbeat_at)
VALUES (:id, :hostname, :pid, CAST(:queues AS jsonb), :concurrency, :now, :now)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL;

-- name: worker_beat
-- runs on its own (no BEGIN/COMMIT) and, like a claim, does not wait for its WAL
WITH relaxed AS MATERIALIZED (
    SELECT set_config('synchronous_commit', 'off', true) AS relaxed
)
UPDATE worker SET heartbeat_at = :now FROM relaxed WHERE id = :id;

-- name: worker_stop
UPDATE worker SET stopped_at = :now WHERE id = :id;

-- name: leader_acquire
-- take a free or expired duty, or extend our own; anyone else's live row stays untouched
INSERT INTO leader (duty, holder, expires_at) VALUES (:duty, :holder, :expires_at)
ON CONFLICT (duty) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
 WHERE leader.holder = excluded.holder OR leader.expires_at < :now
RETURNING holder;

-- name: user_add
INSERT INTO app_user (name, role, password_hash, created_at)
VALUES (:name, :role, :password_hash, :now);

-- name: user_get
SELECT name, role, password_hash, created_at FROM app_user WHERE name = :name;

-- name: user_list
SELECT name, role, password_hash, created_at FROM app_user ORDER BY name;

-- name: user_update
UPDATE app_user SET role = COALESCE(:role, role),
       password_hash = COALESCE(:password_hash, password_hash)
 WHERE name = :name;

-- name: user_remove_tokens
DELETE FROM api_token WHERE user_name = :name;

-- name: user_remove
DELETE FROM app_user WHERE name = :name;

-- name: token_create
INSERT INTO api_token (token_hash, user_name, name, created_at)
VALUES (:token_hash, :user_name, :name, :now)
RETURNING id;

-- name: token_lookup
SELECT t.id, t.user_name, t.name, t.created_at, t.revoked_at,
       u.role, u.password_hash, u.created_at AS user_created_at
  FROM api_token t JOIN app_user u ON u.name = t.user_name
 WHERE t.token_hash = :token_hash AND t.revoked_at IS NULL;

-- name: token_list
SELECT id, user_name, name, created_at, revoked_at FROM api_token ORDER BY id;

-- name: token_revoke
UPDATE api_token SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL;

-- PostgreSQL only ---------------------------------------------------------------------------
-- A statement named <name>_many does what <name> does for many rows at once: each parameter of
-- <name> is passed as an array (one element per row) and read with unnest, so thousands of rows
-- cost one round trip. unnest yields the rows in array order.

-- name: job_insert_numbered_many
INSERT INTO live_job (id, type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
SELECT id, type, type_revision, status, queue, priority, CAST(args AS jsonb), CAST(tags AS jsonb),
       unique_key, external_id, max_tries, timeout, CAST(backoff AS jsonb), run_at, now, now,
       restart_of, created_by, cpus, mem, disk, type_concurrency, concurrency_key, concurrency_limit
  FROM unnest(CAST(:id AS bigint[]), CAST(:type AS text[]), CAST(:type_revision AS integer[]),
              CAST(:status AS text[]), CAST(:queue AS text[]), CAST(:priority AS integer[]),
              CAST(:args AS text[]), CAST(:tags AS text[]), CAST(:unique_key AS text[]),
              CAST(:external_id AS text[]), CAST(:max_tries AS integer[]),
              CAST(:timeout AS double precision[]), CAST(:backoff AS text[]),
              CAST(:run_at AS double precision[]), CAST(:now AS double precision[]),
              CAST(:restart_of AS bigint[]), CAST(:created_by AS text[]),
              CAST(:cpus AS double precision[]), CAST(:mem AS double precision[]),
              CAST(:disk AS double precision[]), CAST(:type_concurrency AS integer[]),
              CAST(:concurrency_key AS text[]), CAST(:concurrency_limit AS integer[]))
       AS j(id, type, type_revision, status, queue, priority, args, tags, unique_key,
            external_id, max_tries, timeout, backoff, run_at, now, restart_of, created_by, cpus,
            mem, disk, type_concurrency, concurrency_key, concurrency_limit);

-- name: job_ids_next
-- ids for a run of new jobs (job_insert_numbered), ascending: jobs of one call run in its order
SELECT array_agg(id ORDER BY id) AS ids
  FROM (SELECT nextval('job_id_seq') AS id FROM generate_series(1, :count)) AS taken;

-- name: event_insert_many
INSERT INTO event (job_id, at, kind, data)
SELECT job_id, at, kind, CAST(data AS json)
  FROM unnest(CAST(:job_id AS bigint[]), CAST(:now AS double precision[]),
              CAST(:kind AS text[]), CAST(:data AS text[])) AS e(job_id, at, kind, data);

-- name: job_external_ids_taken
-- which of these external ids a job, live or finished, already has
SELECT external_id FROM live_job WHERE external_id = ANY(CAST(:external_ids AS text[]))
UNION ALL
SELECT external_id FROM job_history WHERE external_id = ANY(CAST(:external_ids AS text[]));

-- name: queue_announce
-- Wakes the workers listening for these queues. NOTIFY is transactional: it is delivered when
-- this transaction commits and dropped if it rolls back; PostgreSQL folds repeats of one
-- (channel, payload) within a transaction into one. Sent by the application where work becomes
-- ready, never by a per-row trigger (pg-anchors.md §2.3).
SELECT pg_notify('jobyard_work', name) FROM unnest(CAST(:queues AS text[])) AS q(name);

-- name: execution_end_many
-- the executions of a batch of outcomes end together; RETURNING says which were still running
UPDATE execution e
   SET status = x.status, ended_at = x.now, exit_code = x.exit_code, signal = x.signal,
       peak_rss = COALESCE(x.peak_rss, e.peak_rss), error_type = x.error_type,
       error_message = x.error_message, traceback = x.traceback, stopped_by = x.stopped_by
  FROM unnest(CAST(:execution_id AS bigint[]), CAST(:status AS text[]),
              CAST(:now AS double precision[]), CAST(:exit_code AS integer[]),
              CAST(:signal AS integer[]), CAST(:peak_rss AS bigint[]),
              CAST(:error_type AS text[]), CAST(:error_message AS text[]),
              CAST(:traceback AS text[]), CAST(:stopped_by AS text[]))
       AS x(execution_id, status, now, exit_code, signal, peak_rss, error_type, error_message,
            traceback, stopped_by)
 WHERE e.id = x.execution_id AND e.id = ANY(CAST(:execution_id AS bigint[]))
   AND e.status = 'running'
RETURNING e.id;

-- name: job_to_history_many
-- columns named, so a later migration's new column cannot shift the others
INSERT INTO job_history (
    id, type, type_revision, status, queue, priority, args, tags, unique_key, external_id,
    tries, max_tries, timeout, backoff, run_at, created_at, started_at, finished_at, updated_at,
    result, error, progress, progress_desc, execution_id, kill_requested_at, kill_requested_by,
    canceled_by, canceled_at, removed_at, removed_by, restart_of, restarted_as, created_by,
    remote, cpus, mem, disk, type_concurrency, concurrency_key, concurrency_limit, type_slot,
    key_slot)
SELECT l.id, l.type, l.type_revision, x.status, l.queue, l.priority, l.args, l.tags,
       l.unique_key, l.external_id, l.tries, l.max_tries, l.timeout, l.backoff, l.run_at,
       l.created_at, l.started_at, x.now, x.now,
       COALESCE(CAST(x.result AS jsonb), l.result), COALESCE(CAST(x.error AS jsonb), l.error),
       l.progress, l.progress_desc, l.execution_id, l.kill_requested_at, l.kill_requested_by,
       x.canceled_by, x.canceled_at, COALESCE(x.removed_at, l.removed_at),
       COALESCE(x.removed_by, l.removed_by), l.restart_of, l.restarted_as, l.created_by,
       l.remote, l.cpus, l.mem, l.disk, l.type_concurrency, l.concurrency_key,
       l.concurrency_limit, l.type_slot, l.key_slot
  FROM unnest(CAST(:id AS bigint[]), CAST(:status AS text[]), CAST(:now AS double precision[]),
              CAST(:result AS text[]), CAST(:error AS text[]), CAST(:canceled_by AS text[]),
              CAST(:canceled_at AS double precision[]), CAST(:removed_at AS double precision[]),
              CAST(:removed_by AS text[]))
       AS x(id, status, now, result, error, canceled_by, canceled_at, removed_at, removed_by)
  JOIN live_job l ON l.id = x.id;

-- name: job_delete_live_many
DELETE FROM live_job WHERE id = ANY(CAST(:id AS bigint[]));
