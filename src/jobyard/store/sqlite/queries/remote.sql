-- Remote jobs and workers (store/remote.py): jobs of remote types, run by the clients of a wire
-- protocol (Faktory), and the workers of both kinds. postgres/queries/remote.sql has the same
-- names. Lists are JSON text read with json_each.

-- name: remote_type_names
SELECT name FROM job_type WHERE json_extract(definition, '$.kind') = 'remote' ORDER BY name;

-- name: remote_ready
-- is there anything to claim? (a read: an idle FETCH does not take the write lock)
SELECT 1 AS ready FROM live_job
 WHERE status = 'queued' AND queue IN (SELECT value FROM json_each(:queues))
   AND type IN (SELECT value FROM json_each(:types))
   AND queue NOT IN (SELECT name FROM queue WHERE paused)
 LIMIT 1;

-- name: remote_set_meta
UPDATE live_job SET remote = :remote WHERE id = :id;

-- name: remote_job_by_external_id
SELECT * FROM live_job WHERE external_id = :external_id
UNION ALL
SELECT * FROM job_history WHERE external_id = :external_id;

-- name: remote_reserve
-- a remote claim: the execution is reserved for the job's own time, and records who runs it
UPDATE execution SET lease_expires_at = :until, hostname = :hostname, pid = :pid
 WHERE id = :execution_id AND status = 'running';

-- name: remote_release
-- scheduled / retrying -> queued now (Faktory's MUTATE requeue on the scheduled or retry set)
UPDATE live_job SET status = 'queued', run_at = :now, updated_at = :now
 WHERE id IN (SELECT value FROM json_each(:ids)) AND status IN ('scheduled', 'retrying')
RETURNING id, queue;

-- name: remote_live_set
SELECT * FROM live_job
 WHERE status = :status AND type IN (SELECT value FROM json_each(:types))
   AND (:every OR external_id IN (SELECT value FROM json_each(:external_ids)))
 ORDER BY run_at, id
 LIMIT :limit;

-- name: remote_dead_set
-- reads job_history_dead: failed and canceled jobs not removed, by type
SELECT * FROM job_history
 WHERE status IN ('failed', 'canceled') AND removed_at IS NULL
   AND type IN (SELECT value FROM json_each(:types))
   AND (:every OR external_id IN (SELECT value FROM json_each(:external_ids)))
 ORDER BY type, id
 LIMIT :limit;

-- name: remote_live_counts
SELECT status, COUNT(*) AS n FROM live_job
 WHERE type IN (SELECT value FROM json_each(:types))
 GROUP BY status;

-- name: remote_dead_count
SELECT COUNT(*) AS n FROM job_history
 WHERE status IN ('failed', 'canceled') AND removed_at IS NULL
   AND type IN (SELECT value FROM json_each(:types));

-- name: remote_waiting
-- jobs of remote types that are not running, in some queues or all, for QUEUE REMOVE and FLUSH
SELECT id, status, queue FROM live_job
 WHERE type IN (SELECT value FROM json_each(:types))
   AND status IN (SELECT value FROM json_each(:statuses))
   AND (:every OR queue IN (SELECT value FROM json_each(:queues)))
 ORDER BY id
 LIMIT :limit;

-- name: remote_queue_latency
-- seconds since the oldest queued job of each queue became ready (Faktory's QUEUE LATENCY)
SELECT queue, MIN(run_at) AS oldest FROM live_job
 WHERE status = 'queued' AND queue IN (SELECT value FROM json_each(:queues))
 GROUP BY queue;

-- name: remote_hide_history
-- FLUSH: every finished job of the remote types leaves the lists (still readable by id)
UPDATE job_history SET removed_at = :now, removed_by = :by, updated_at = :now
 WHERE type IN (SELECT value FROM json_each(:types)) AND removed_at IS NULL;

-- name: remote_worker_hello
-- a client's connection with a wid; several connections may share one, and a reconnect keeps
-- the state an operator set
INSERT INTO worker (id, hostname, pid, queues, concurrency, started_at, heartbeat_at, kind,
                    labels, state)
VALUES (:id, :hostname, :pid, '[]', 0, :now, :now, :kind, :labels, 'running')
ON CONFLICT (id) DO UPDATE
   SET hostname = excluded.hostname, pid = excluded.pid, labels = excluded.labels,
       kind = excluded.kind, heartbeat_at = excluded.heartbeat_at, stopped_at = NULL;

-- name: worker_get
SELECT * FROM worker WHERE id = :id;

-- name: remote_worker_beat
UPDATE worker SET heartbeat_at = :now, stopped_at = NULL, rss_kb = COALESCE(:rss_kb, rss_kb),
       state = :state
 WHERE id = :id;

-- name: worker_set_state
UPDATE worker SET state = :state WHERE id = :id;

-- name: remote_worker_queues
UPDATE worker SET queues = :queues WHERE id = :id;

-- name: worker_list
SELECT * FROM worker WHERE :every OR heartbeat_at >= :since OR stopped_at >= :since
 ORDER BY started_at DESC, id
 LIMIT :limit;

-- name: worker_running_counts
SELECT worker_id, COUNT(*) AS n FROM execution WHERE status = 'running' GROUP BY worker_id;

-- name: remote_worker_reap
-- Faktory's rule: a client worker silent for a minute is gone; its jobs come back when their
-- reservations expire
UPDATE worker SET stopped_at = :now
 WHERE kind = 'faktory' AND stopped_at IS NULL AND heartbeat_at < :before
RETURNING id;
