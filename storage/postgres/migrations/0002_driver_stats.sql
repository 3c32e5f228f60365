-- Up Migration
--
-- Each driver's offer outcomes, counted from the order events (engine/driver-stats.ts).
-- `driver_stat_events` remembers every counted event id, so a redelivered event counts once;
-- `driver_stats` holds one counter per driver and kind. Both change in one statement (a data-
-- modifying CTE), so a count and its event id are recorded together or not at all.

CREATE TABLE driver_stat_events (
  event_id text PRIMARY KEY,
  driver_id text NOT NULL,
  kind text NOT NULL,
  at timestamptz NOT NULL,
  CONSTRAINT driver_stat_events_kind_check CHECK (
    kind IN ('offered', 'accepted', 'declined', 'timed_out', 'cancelled_by_driver', 'completed')
  )
);

CREATE TABLE driver_stats (
  driver_id text NOT NULL,
  kind text NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (driver_id, kind),
  CONSTRAINT driver_stats_kind_check CHECK (
    kind IN ('offered', 'accepted', 'declined', 'timed_out', 'cancelled_by_driver', 'completed')
  ),
  CONSTRAINT driver_stats_count_check CHECK (count >= 0)
);

-- Down Migration

DROP TABLE driver_stats;
DROP TABLE driver_stat_events;
