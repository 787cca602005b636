-- Queue status, load history and the counters behind /metrics (store/stats.py).

-- name: live_by_type
-- the live table only (unfinished jobs): its size is the work in flight, never the history
SELECT type, queue, status, COUNT(*) AS n, MIN(run_at) AS oldest, MIN(priority) AS top
  FROM live_job
 GROUP BY type, queue, status;

-- name: queue_paused_names
SELECT name FROM queue WHERE paused;

-- name: workers_live
SELECT COUNT(*) AS n FROM worker WHERE stopped_at IS NULL AND heartbeat_at >= :since;

-- name: stat_totals
SELECT metric, type, queue, label, value FROM stat_total;

-- name: stat_add
INSERT INTO stat_total (metric, type, queue, label, value)
VALUES (:metric, :type, :queue, :label, :value)
ON CONFLICT (metric, type, queue, label) DO UPDATE SET value = stat_total.value + excluded.value;

-- name: stat_pending
-- are there events past the cursor? Asked on its own, without a lock, before a fold
SELECT 1 AS pending FROM stat_cursor
 WHERE name = 'events' AND position < (SELECT COALESCE(MAX(id), 0) FROM event);

-- name: stat_cursor_lock
-- one roll-up at a time: a second waits here, then reads the cursor the first one left
SELECT position FROM stat_cursor WHERE name = 'events' FOR UPDATE;

-- name: stat_cursor_set
UPDATE stat_cursor SET position = :position, folded_at = :now WHERE name = 'events';

-- name: stat_fence
-- The last event id the roll-up may read now. Ids are drawn when a row is written, not when its
-- transaction commits, so a transaction still committing may hold an id below ones already
-- visible: stop just before the first event written less than `settle` seconds ago.
-- The recent events are found by time first (a few seconds' worth, on event_at): asked as one
-- MIN over both conditions, the planner may walk the id index from the cursor and pass over
-- every event of a backlog (the roll-up behind by millions after an outage or an import).
WITH recent AS MATERIALIZED (SELECT id FROM event WHERE at > :settled)
SELECT COALESCE((SELECT MIN(id) - 1 FROM recent WHERE id > :after),
                (SELECT MAX(id) FROM event), 0) AS fence;

-- name: stat_events
-- State events after the cursor, with what the roll-up needs to count them: the status before
-- (the job's previous state event; asked only where it decides something) and the execution's
-- times. Log lines in the range are passed over by the kind filter.
SELECT e.id, e.at, e.job_id,
       e.data->>'status' AS status,
       e.data->>'kill_requested' AS kill_requested,
       CASE WHEN e.data->>'status' IN
                 ('queued', 'scheduled', 'blocked', 'completed', 'failed', 'canceled')
            THEN (SELECT p.data->>'status' FROM event p
                   WHERE p.job_id = e.job_id AND p.id < e.id AND p.kind = 'state'
                   ORDER BY p.id DESC LIMIT 1)
       END AS previous,
       x.id AS execution_id, x.queued_at, x.started_at, x.ended_at
  FROM event e
  LEFT JOIN execution x ON x.id = CAST(e.data->>'execution_id' AS bigint)
 WHERE e.id > :after AND e.id <= :fence AND e.kind = 'state'
 ORDER BY e.id
 LIMIT :limit;

-- name: stat_jobs
SELECT id, type, queue, created_at FROM live_job WHERE id = ANY(CAST(:ids AS bigint[]))
UNION ALL
SELECT id, type, queue, created_at FROM job_history WHERE id = ANY(CAST(:ids AS bigint[]));

-- name: load_insert
INSERT INTO load_sample (measured, type, type_id, category, priority, pending, queued, running,
                         blocked, started, latency_sum)
VALUES (:measured, :type, :type_id, :category, :priority, :pending, :queued, :running,
        :blocked, :started, :latency_sum)
ON CONFLICT (measured, type) DO NOTHING;

-- name: load_before
-- the newest sample at or before :at, per type: where a latency window starts
SELECT type, started, latency_sum FROM load_sample
 WHERE measured = (SELECT MAX(measured) FROM load_sample WHERE measured <= :at);

-- name: load_prune
DELETE FROM load_sample WHERE measured < :before;
