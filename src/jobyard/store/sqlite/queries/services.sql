-- Services (store/services.py). postgres/queries/services.sql has the same names.

-- name: service_any
SELECT 1 AS present FROM service LIMIT 1;

-- name: service_all
SELECT * FROM service ORDER BY name;

-- name: service_get
SELECT * FROM service WHERE name = :name;

-- name: service_upsert
-- a new service takes its autostart state; a known one keeps its state, with the new definition
INSERT INTO service (name, app, definition, desired, desired_at, created_at, updated_at)
VALUES (:name, :app, :definition, :desired, :now, :now, :now)
ON CONFLICT (name) DO UPDATE SET app = excluded.app, definition = excluded.definition,
       updated_at = CASE WHEN service.definition = excluded.definition THEN service.updated_at
                         ELSE excluded.updated_at END;

-- name: service_instances
-- every slot with its job (live or finished), that job's latest execution and readiness
SELECT s.service, s.slot, s.job_id, s.handled,
       COALESCE(l.status, h.status) AS job_status,
       COALESCE(l.execution_id, h.execution_id) AS execution_id,
       COALESCE(l.canceled_by, h.canceled_by) AS canceled_by,
       COALESCE(l.kill_requested_by, h.kill_requested_by) AS kill_requested_by,
       e.status AS execution_status, e.pid, e.hostname, e.worker_id, e.started_at, e.ended_at,
       e.exit_code, e.signal, r.at AS ready_at
  FROM service_slot s
  LEFT JOIN live_job l ON l.id = s.job_id
  LEFT JOIN job_history h ON h.id = s.job_id
  LEFT JOIN execution e ON e.id = COALESCE(l.execution_id, h.execution_id)
  LEFT JOIN service_ready r ON r.execution_id = e.id
 ORDER BY s.service, s.slot;

-- name: service_instances_of
SELECT s.service, s.slot, s.job_id, s.handled,
       COALESCE(l.status, h.status) AS job_status,
       COALESCE(l.execution_id, h.execution_id) AS execution_id,
       COALESCE(l.canceled_by, h.canceled_by) AS canceled_by,
       COALESCE(l.kill_requested_by, h.kill_requested_by) AS kill_requested_by,
       e.status AS execution_status, e.pid, e.hostname, e.worker_id, e.started_at, e.ended_at,
       e.exit_code, e.signal, r.at AS ready_at
  FROM service_slot s
  LEFT JOIN live_job l ON l.id = s.job_id
  LEFT JOIN job_history h ON h.id = s.job_id
  LEFT JOIN execution e ON e.id = COALESCE(l.execution_id, h.execution_id)
  LEFT JOIN service_ready r ON r.execution_id = e.id
 WHERE s.service = :service
 ORDER BY s.slot;

-- name: service_desire
-- reset: a person asked to start, so a backoff in progress is waived
UPDATE service SET desired = :desired, desired_at = :now, desired_by = :by, updated_at = :now,
       failures = CASE WHEN :reset = 1 THEN 0 ELSE failures END,
       next_start_at = CASE WHEN :reset = 1 THEN NULL ELSE next_start_at END
 WHERE name = :name;

-- name: service_request
UPDATE service SET action = :action, action_seq = action_seq + 1, updated_at = :now
 WHERE name = :name;

-- name: service_report
-- written only while desired is what the duty read: a wish made meanwhile is decided next round
UPDATE service SET status = :status, sub = :sub, schedule = :schedule,
       running_action = :running_action, t0 = :t0, t1 = :t1, failures = :failures,
       restarts = :restarts, next_start_at = :next_start_at, waiting_for = :waiting_for,
       done_seq = MAX(done_seq, :done_seq), updated_at = :now
 WHERE name = :name AND desired_at = :seen;

-- name: service_give_up
UPDATE service SET desired = 'stop', desired_at = :now, desired_by = 'service:policy'
 WHERE name = :name AND desired_at = :seen;

-- name: service_slot_set
INSERT INTO service_slot (service, slot, job_id, handled) VALUES (:service, :slot, :job_id, :handled)
ON CONFLICT (service, slot) DO UPDATE SET job_id = excluded.job_id, handled = excluded.handled;

-- name: service_ready_mark
-- only while the execution runs: a late report of a replaced instance changes nothing
INSERT INTO service_ready (execution_id, at)
SELECT id, :now FROM execution WHERE id = :execution_id AND status = 'running'
ON CONFLICT (execution_id) DO NOTHING;

-- name: service_signal_add
INSERT INTO service_signal (execution_id, signal, requested_at) VALUES (:execution_id, :signal, :now);

-- name: service_signals_take
UPDATE service_signal SET delivered_at = :now
 WHERE delivered_at IS NULL AND execution_id IN (SELECT value FROM json_each(:ids))
RETURNING execution_id, signal;

-- name: service_ready_prune
-- readiness of executions that ended long ago; a running instance keeps its own
DELETE FROM service_ready
 WHERE at < :before
   AND NOT EXISTS (SELECT 1 FROM execution e
                    WHERE e.id = service_ready.execution_id AND e.status = 'running');

-- name: service_signal_prune
DELETE FROM service_signal WHERE requested_at < :before;

-- name: service_message_last
SELECT ok_counter, err_counter, forked_counter FROM service_message ORDER BY id DESC LIMIT 1;

-- name: service_message_add
INSERT INTO service_message (at, kind, service, action, sub, msg, ok_counter, err_counter,
                             forked_counter, startup_percentage)
VALUES (:now, :kind, :service, :action, :sub, :msg, :ok_counter, :err_counter, :forked_counter,
        :startup_percentage);

-- name: service_messages
SELECT * FROM service_message WHERE kind = :kind AND at >= :since ORDER BY id DESC LIMIT :limit;

-- name: service_message_prune
DELETE FROM service_message WHERE at < :before;
