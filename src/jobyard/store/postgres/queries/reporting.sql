-- name: tx_commit_async
-- this transaction's COMMIT does not wait for its WAL to reach disk (store/reporting.py says
-- which writes may); the next synchronous commit flushes it
SELECT set_config('synchronous_commit', 'off', true);

-- name: execution_started_many
UPDATE execution e
   SET pid = s.pid, ppid = s.ppid, hostname = s.hostname, run_as = s.run_as
  FROM unnest(CAST(:execution_id AS bigint[]), CAST(:pid AS integer[]),
              CAST(:ppid AS integer[]), CAST(:hostname AS text[]), CAST(:run_as AS text[]))
       AS s(id, pid, ppid, hostname, run_as)
 WHERE e.id = s.id;
