-- Up Migration
--
-- The first schema of the dispatch engine. Conventions:
-- * Names are unqualified: the schema is whatever search_path says (tests use one per test).
-- * Ids are text; times are timestamptz holding whole milliseconds. Create the database with
--   LC_COLLATE 'C' so that text sorts by bytes like the engine, CockroachDB and the embedded
--   database (no per-column COLLATE: CockroachDB refuses to compare collated with plain strings).
-- * Money is bigint minor units of a 3-letter currency; fixed vocabularies are CHECKed text,
--   not enum types, so adding a value is a plain constraint swap (and portable to CockroachDB).
-- * No foreign keys from orders and events to users: the engine validates ids at the edge, and
--   the persister may write events before the rows they mention.

-- Users. The phone number is personal data: `phone_enc` is AES-256-GCM under an application key
-- (key id | iv | ciphertext | tag, bound to the user id), `phone_hash` a keyed HMAC-SHA256 used
-- to find a user by phone without decrypting anything.
CREATE TABLE users (
  id text PRIMARY KEY,
  phone_hash bytea NOT NULL,
  phone_enc bytea NOT NULL,
  roles text[] NOT NULL DEFAULT ARRAY['rider']::text[],
  created_at timestamptz NOT NULL,
  CONSTRAINT users_phone_hash_key UNIQUE (phone_hash),
  CONSTRAINT users_roles_check CHECK (roles <@ ARRAY['rider', 'driver', 'admin']::text[])
);

-- A driver is a user; the engine's DriverId is the user id.
CREATE TABLE drivers (
  id text PRIMARY KEY REFERENCES users (id),
  display_name text NOT NULL,
  license_number text NOT NULL,
  approval_status text NOT NULL DEFAULT 'pending',
  status_reason text,
  reviewed_by text REFERENCES users (id),
  reviewed_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CONSTRAINT drivers_approval_status_check
    CHECK (approval_status IN ('pending', 'approved', 'rejected', 'suspended'))
);
CREATE INDEX drivers_pending_idx ON drivers (created_at) WHERE approval_status = 'pending';

CREATE TABLE vehicles (
  id text PRIMARY KEY,
  driver_id text NOT NULL REFERENCES drivers (id),
  plate text NOT NULL,
  make text NOT NULL,
  model text NOT NULL,
  color text NOT NULL,
  year smallint NOT NULL,
  vehicle_class text NOT NULL,
  seats smallint NOT NULL DEFAULT 4,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL,
  CONSTRAINT vehicles_plate_key UNIQUE (plate),
  CONSTRAINT vehicles_seats_check CHECK (seats BETWEEN 1 AND 20)
);
-- A driver drives one vehicle at a time.
CREATE UNIQUE INDEX vehicles_one_active_per_driver ON vehicles (driver_id) WHERE active;

-- Orders: the engine's Order, one row per order, replaced by compare-and-set on `version`.
-- Scalars are columns (analytics reads them); nested parts of the model are JSONB.
CREATE TABLE orders (
  id text PRIMARY KEY,
  version integer NOT NULL,
  state text NOT NULL,
  rider_id text NOT NULL,
  idempotency_key text NOT NULL,
  quote_id text NOT NULL,
  region text NOT NULL,
  vehicle_class text NOT NULL,
  pickup_lat double precision NOT NULL,
  pickup_lng double precision NOT NULL,
  dropoff_lat double precision NOT NULL,
  dropoff_lng double precision NOT NULL,
  estimate jsonb NOT NULL,
  tariff jsonb NOT NULL,
  fees jsonb NOT NULL,
  offer jsonb,
  driver_id text,
  accepted_offer_id text,
  passed_driver_ids text[] NOT NULL DEFAULT ARRAY[]::text[],
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  accepted_at timestamptz,
  arrived_at timestamptz,
  started_at timestamptz,
  completed_at timestamptz,
  cancelled_at timestamptz,
  cancel_reason text,
  trip jsonb,
  bill jsonb,
  rating_by_rider smallint,
  rating_by_driver smallint,
  CONSTRAINT orders_rider_idempotency_key UNIQUE (rider_id, idempotency_key),
  CONSTRAINT orders_quote_id_key UNIQUE (quote_id),
  CONSTRAINT orders_version_check CHECK (version >= 1),
  CONSTRAINT orders_state_check CHECK (state IN
    ('searching', 'offered', 'accepted', 'driver_arriving', 'arrived', 'in_progress', 'completed', 'cancelled')),
  CONSTRAINT orders_cancel_reason_check
    CHECK (cancel_reason IS NULL OR cancel_reason IN ('by_rider', 'by_driver', 'no_driver_found', 'no_show')),
  CONSTRAINT orders_rating_by_rider_check CHECK (rating_by_rider BETWEEN 1 AND 5),
  CONSTRAINT orders_rating_by_driver_check CHECK (rating_by_driver BETWEEN 1 AND 5)
);
CREATE INDEX orders_rider_idx ON orders (rider_id, created_at DESC, id DESC);
CREATE INDEX orders_driver_idx ON orders (driver_id, created_at DESC, id DESC) WHERE driver_id IS NOT NULL;
-- What a new region owner loads on failover: the open orders of its region, oldest first.
CREATE INDEX orders_open_idx ON orders (region, created_at, id) WHERE state NOT IN ('completed', 'cancelled');

-- What holds each driver (DriverAssignments): at most one offer or active order, by CAS on version.
CREATE TABLE driver_assignments (
  driver_id text PRIMARY KEY,
  version integer NOT NULL,
  hold_kind text,
  order_id text,
  offer_id text,
  expires_at timestamptz,
  CONSTRAINT driver_assignments_hold_check CHECK (
    (hold_kind IS NULL AND order_id IS NULL AND offer_id IS NULL AND expires_at IS NULL)
    OR (hold_kind IN ('offer', 'active') AND order_id IS NOT NULL AND offer_id IS NOT NULL))
);
CREATE INDEX driver_assignments_order_idx ON driver_assignments (order_id) WHERE order_id IS NOT NULL;

-- The domain event log, idempotent by event id.
CREATE TABLE order_events (
  id text PRIMARY KEY,
  order_id text NOT NULL,
  version integer NOT NULL,
  type text NOT NULL,
  state text NOT NULL,
  payload jsonb NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX order_events_order_idx ON order_events (order_id, version);
CREATE INDEX order_events_at_idx ON order_events (at);

-- Refresh tokens: only the SHA-256 of the secret, hex. A family is one login's chain of tokens.
CREATE TABLE refresh_tokens (
  hash text PRIMARY KEY,
  family_id text NOT NULL,
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Money moved for an order: fares and fees owed by the rider, the platform's cut, the driver's
-- payout. Signed minor units; the id is derived from the source event so replays are idempotent.
CREATE TABLE transactions (
  id text PRIMARY KEY,
  order_id text NOT NULL,
  kind text NOT NULL,
  party text NOT NULL,
  party_id text,
  amount bigint NOT NULL,
  currency text NOT NULL,
  at timestamptz NOT NULL,
  CONSTRAINT transactions_kind_check CHECK (kind IN
    ('trip_fare', 'waiting_fee', 'cancellation_fee', 'no_show_fee', 'platform_fee', 'driver_payout', 'refund',
     'adjustment')),
  CONSTRAINT transactions_party_check CHECK (party IN ('rider', 'driver', 'platform')),
  CONSTRAINT transactions_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);
CREATE INDEX transactions_order_idx ON transactions (order_id);
CREATE INDEX transactions_at_idx ON transactions (at);

-- One rating per order and direction.
CREATE TABLE ratings (
  order_id text NOT NULL,
  by_role text NOT NULL,
  rater_id text NOT NULL,
  ratee_id text NOT NULL,
  stars smallint NOT NULL,
  comment text,
  at timestamptz NOT NULL,
  PRIMARY KEY (order_id, by_role),
  CONSTRAINT ratings_by_role_check CHECK (by_role IN ('rider', 'driver')),
  CONSTRAINT ratings_stars_check CHECK (stars BETWEEN 1 AND 5)
);
CREATE INDEX ratings_ratee_idx ON ratings (ratee_id, at);

-- The surge multiplier shown per area cell (H3 resolution 7, lower-case hex) from `at` on; one
-- row per change (PriceHistory port; 1 when a surge ended). For analytics and forecast training.
CREATE TABLE price_history (
  cell text NOT NULL,
  at timestamptz NOT NULL,
  multiplier double precision NOT NULL,
  PRIMARY KEY (cell, at),
  CONSTRAINT price_history_multiplier_check CHECK (multiplier >= 1)
);
CREATE INDEX price_history_at_idx ON price_history (at);

-- GPS fixes, partitioned by day (UTC). Daily partitions driver_locations_pYYYYMMDD are created
-- ahead and dropped past the retention by storage/postgres/partitions.ts; the default partition
-- only catches fixes that fall outside every daily partition, so none is ever refused.
CREATE TABLE driver_locations (
  driver_id text NOT NULL,
  at timestamptz NOT NULL,
  lat double precision NOT NULL,
  lng double precision NOT NULL,
  heading real,
  speed_mps real,
  accuracy_m real,
  PRIMARY KEY (driver_id, at)
) PARTITION BY RANGE (at);
CREATE TABLE driver_locations_default PARTITION OF driver_locations DEFAULT;

-- Pre-aggregated figures for the admin panel and reports: one row per metric, region and bucket.
CREATE TABLE metric_rollups (
  metric text NOT NULL,
  region text NOT NULL DEFAULT '',
  bucket_seconds integer NOT NULL,
  bucket_start timestamptz NOT NULL,
  count bigint NOT NULL DEFAULT 0,
  sum double precision NOT NULL DEFAULT 0,
  min double precision,
  max double precision,
  PRIMARY KEY (metric, region, bucket_seconds, bucket_start),
  CONSTRAINT metric_rollups_bucket_check CHECK (bucket_seconds > 0)
);

-- Down Migration

DROP TABLE metric_rollups;
DROP TABLE driver_locations;
DROP TABLE price_history;
DROP TABLE ratings;
DROP TABLE transactions;
DROP TABLE refresh_tokens;
DROP TABLE order_events;
DROP TABLE driver_assignments;
DROP TABLE orders;
DROP TABLE vehicles;
DROP TABLE drivers;
DROP TABLE users;
