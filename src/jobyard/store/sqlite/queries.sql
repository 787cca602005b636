-- Named statements for the SQLite store. postgres/queries.sql has the same names.
-- Lists are passed as JSON text and read with json_each.

-- name: type_current
-- every column of the type (archived_at, ...) and its integer id
SELECT t.*, i.id FROM job_type t LEFT JOIN ident i ON i.kind = 'job_type' AND i.key = t.name
 WHERE t.name = :name;

-- name: type_list
SELECT t.*, i.id FROM job_type t LEFT JOIN ident i ON i.kind = 'job_type' AND i.key = t.name
 ORDER BY t.name;

-- name: type_store
INSERT INTO job_type (name, revision, definition, created_at)
VALUES (:name, :revision, :definition, :now)
ON CONFLICT (name) DO UPDATE
   SET revision = excluded.revision, definition = excluded.definition,
       created_at = excluded.created_at;

-- name: type_rev_insert
INSERT INTO job_type_rev (name, revision, definition, created_at)
VALUES (:name, :revision, :definition, :now);

-- name: type_rev_get
SELECT name, revision, definition, created_at FROM job_type_rev
 WHERE name = :name AND revision = :revision;

-- name: queue_ensure
INSERT INTO queue (name, paused, updated_at) VALUES (:name, 0, :now)
ON CONFLICT (name) DO NOTHING;

-- name: queue_set_paused
INSERT INTO queue (name, paused, updated_at) VALUES (:name, :paused, :now)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at;

-- name: queue_list
SELECT q.name, q.paused,
       COALESCE(SUM(j.status = 'queued'), 0) AS queued,
       COALESCE(SUM(j.status = 'running'), 0) AS running,
       COALESCE(SUM(j.status IN ('scheduled', 'retrying', 'blocked')), 0) AS waiting
  FROM queue q LEFT JOIN live_job j ON j.queue = q.name
 GROUP BY q.name, q.paused
 ORDER BY q.name;

-- name: job_insert
INSERT INTO live_job (type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
VALUES (:type, :type_revision, :status, :queue, :priority, :args, :tags, :unique_key,
        :external_id, :max_tries, :timeout, :backoff, :run_at, :now, :now,
        :restart_of, :created_by, :cpus, :mem, :disk, :type_concurrency,
        :concurrency_key, :concurrency_limit)
RETURNING id;

-- name: job_insert_unique
-- a taken unique key inserts nothing (and returns no row) instead of failing the transaction
INSERT INTO live_job (type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
VALUES (:type, :type_revision, :status, :queue, :priority, :args, :tags, :unique_key,
        :external_id, :max_tries, :timeout, :backoff, :run_at, :now, :now,
        :restart_of, :created_by, :cpus, :mem, :disk, :type_concurrency,
        :concurrency_key, :concurrency_limit)
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING id;

-- name: job_id_by_unique_key
SELECT id FROM live_job WHERE unique_key = :unique_key;

-- name: job_external_id_taken
SELECT id FROM live_job WHERE external_id = :external_id
UNION ALL
SELECT id FROM job_history WHERE external_id = :external_id;

-- name: job_external_ids_taken
-- which of these external ids (a JSON array) a job, live or finished, already has
SELECT external_id FROM live_job
 WHERE external_id IN (SELECT value FROM json_each(:external_ids))
UNION ALL
SELECT external_id FROM job_history
 WHERE external_id IN (SELECT value FROM json_each(:external_ids));

-- name: job_id_last
-- the last job id given, as AUTOINCREMENT reckons it (it never gives one twice); a bulk insert,
-- holding the write lock, numbers its jobs on from here
SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'live_job'), 0),
           COALESCE((SELECT max(id) FROM live_job), 0)) AS id;

-- name: job_insert_numbered
-- job_insert with the id given (taken first by job_id_last): how a run of jobs goes in bulk,
-- by executemany (one prepared statement)
INSERT INTO live_job (id, type, type_revision, status, queue, priority, args, tags, unique_key,
                      external_id, max_tries, timeout, backoff, run_at, created_at, updated_at,
                      restart_of, created_by, cpus, mem, disk, type_concurrency,
                      concurrency_key, concurrency_limit)
VALUES (:id, :type, :type_revision, :status, :queue, :priority, :args, :tags, :unique_key,
        :external_id, :max_tries, :timeout, :backoff, :run_at, :now, :now,
        :restart_of, :created_by, :cpus, :mem, :disk, :type_concurrency,
        :concurrency_key, :concurrency_limit);

-- name: event_insert
INSERT INTO event (job_id, at, kind, data) VALUES (:job_id, :now, :kind, :data);

-- name: job_claim
-- queued -> running for the best `limit` jobs under no concurrency limit (store/limits.py claims
-- the others) whose running totals fit the worker's free resources; BEGIN IMMEDIATE already
-- holds the write lock, so no other claimer can pick the same rows. Paused queues and paused
-- types are passed over.
UPDATE live_job
   SET status = 'running', tries = tries + 1, started_at = :now, updated_at = :now,
       progress = NULL, progress_desc = NULL
 WHERE id IN (SELECT id
                FROM (SELECT id, SUM(cpus) OVER w AS cpus, SUM(mem) OVER w AS mem,
                             SUM(disk) OVER w AS disk
                        FROM (SELECT id, priority, cpus, mem, disk FROM live_job
                               WHERE status = 'queued' AND type_concurrency IS NULL
                                 AND concurrency_key IS NULL
                                 AND queue IN (SELECT value FROM json_each(:queues))
                                 AND type IN (SELECT value FROM json_each(:types))
                                 AND cpus <= :cpus AND mem <= :mem AND disk <= :disk
                                 AND queue NOT IN (SELECT name FROM queue WHERE paused)
                                 AND type NOT IN (SELECT name FROM job_type WHERE paused)
                               ORDER BY priority, id
                               LIMIT :limit)
                      WINDOW w AS (ORDER BY priority, id))
               WHERE cpus <= :cpus AND mem <= :mem AND disk <= :disk)
RETURNING id, type, type_revision, args, tries, max_tries, timeout, run_at, cpus, mem, disk;

-- name: execution_insert
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
-- never shortens a lease: reserve_for may have pushed it further
UPDATE execution
   SET heartbeat_at = :now, lease_expires_at = MAX(lease_expires_at, :until)
 WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'running';

-- name: execution_current
SELECT execution_id, kill_requested_at FROM live_job
 WHERE execution_id IN (SELECT value FROM json_each(:ids)) AND status = 'running';

-- name: execution_reserve
UPDATE execution SET lease_expires_at = MAX(lease_expires_at, :until)
 WHERE id = :execution_id AND status = 'running'
RETURNING lease_expires_at;

-- name: job_progress
UPDATE live_job SET progress = :percent, progress_desc = :desc, updated_at = :now
 WHERE execution_id = :execution_id AND status = 'running'
RETURNING id;

-- name: jobs_for_executions
-- has_children: one probe of job_dependency's key; only a job with children makes its finish
-- look for recipe jobs to release
SELECT id, execution_id, status, tries, max_tries, backoff, kill_requested_at, kill_requested_by,
       EXISTS (SELECT 1 FROM job_dependency d WHERE d.parent_id = live_job.id) AS has_children,
       queue, (type_concurrency IS NOT NULL OR concurrency_key IS NOT NULL) AS limited
  FROM live_job
 WHERE execution_id IN (SELECT value FROM json_each(:ids))
 ORDER BY id;

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
SELECT id, type, type_revision, :status, queue, priority, args, tags, unique_key, external_id,
       tries, max_tries, timeout, backoff, run_at, created_at, started_at, :now, :now,
       COALESCE(:result, result), COALESCE(:error, error), progress, progress_desc, execution_id,
       kill_requested_at, kill_requested_by, :canceled_by, :canceled_at,
       COALESCE(:removed_at, removed_at), COALESCE(:removed_by, removed_by),
       restart_of, restarted_as, created_by, remote, cpus, mem, disk, type_concurrency,
       concurrency_key, concurrency_limit, type_slot, key_slot
  FROM live_job WHERE id = :id;

-- name: job_delete_live
DELETE FROM live_job WHERE id = :id;

-- name: job_retry
UPDATE live_job
   SET status = 'retrying', run_at = :run_at, error = :error, updated_at = :now
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
SELECT id, type, type_revision, 'queued', queue, COALESCE(:priority, priority), args, tags,
       unique_key, external_id, tries, tries + :extra_tries, timeout, backoff, :now, created_at,
       started_at, NULL, :now, NULL, error, NULL, NULL, execution_id, NULL, NULL, NULL, NULL,
       NULL, NULL, restart_of, restarted_as, created_by, remote, cpus, mem, disk,
       type_concurrency, concurrency_key, concurrency_limit, NULL, NULL
  FROM job_history WHERE id = :id;

-- name: job_delete_history
DELETE FROM job_history WHERE id = :id;

-- name: job_live_lock
SELECT id, status, queue FROM live_job WHERE id = :id;

-- name: job_history_status
SELECT id, status, removed_at FROM job_history WHERE id = :id;

-- name: job_get
SELECT * FROM live_job WHERE id = :id
UNION ALL
SELECT * FROM job_history WHERE id = :id;

-- name: executions_of_job
SELECT * FROM execution WHERE job_id = :job_id ORDER BY id;

-- name: job_request_kill
-- a second kill keeps the first request's who and when
UPDATE live_job SET kill_requested_at = COALESCE(kill_requested_at, :now),
       kill_requested_by = CASE WHEN kill_requested_at IS NULL THEN :by
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
UPDATE live_job SET status = 'queued', updated_at = :now
 WHERE id IN (SELECT id FROM live_job
               WHERE status IN ('scheduled', 'retrying') AND run_at <= :now
               ORDER BY run_at LIMIT :limit)
RETURNING id, queue;

-- name: execution_next_expiry
-- when the reaper next has work: the first lease of a running execution to run out
SELECT MIN(lease_expires_at) AS at FROM execution WHERE status = 'running';

-- name: execution_expired
SELECT id FROM execution
 WHERE status = 'running' AND lease_expires_at < :now
 ORDER BY id LIMIT :limit;

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
VALUES (:id, :hostname, :pid, :queues, :concurrency, :now, :now)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL;

-- name: worker_beat
UPDATE worker SET heartbeat_at = :now WHERE id = :id;

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
