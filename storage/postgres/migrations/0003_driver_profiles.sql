-- Up Migration
--
-- Driver profiles get their repository (storage/postgres/driver-profiles.ts). The licence number
-- is personal data like the phone: `license_enc` holds it AES-256-GCM-encrypted (the phone key
-- and layout, bound to 'license:' || driver id so it cannot be swapped with another row's or
-- with a phone), `license_hash` a keyed HMAC of its normalised form (upper case, no spaces or
-- hyphens), unique, so one licence backs at most one profile. The plaintext `license_number`
-- column is retired: nullable and never written by the repository (rows from before keep it).

ALTER TABLE drivers ALTER COLUMN license_number DROP NOT NULL;
ALTER TABLE drivers ADD COLUMN license_enc bytea;
ALTER TABLE drivers ADD COLUMN license_hash bytea;
ALTER TABLE drivers ADD CONSTRAINT drivers_license_check
  CHECK (license_number IS NOT NULL OR (license_enc IS NOT NULL AND license_hash IS NOT NULL));
CREATE UNIQUE INDEX drivers_license_hash_key ON drivers (license_hash);
-- The operators' review lists: by status, oldest first, paged by (created_at, id).
CREATE INDEX drivers_status_idx ON drivers (approval_status, created_at, id);
-- The operators' user list, paged by (created_at, id).
CREATE INDEX users_created_idx ON users (created_at, id);

-- Down Migration

DROP INDEX users_created_idx;
DROP INDEX drivers_status_idx;
DROP INDEX drivers_license_hash_key;
ALTER TABLE drivers DROP CONSTRAINT drivers_license_check;
-- SQL cannot decrypt: encrypted licences go back as a marker, not in clear.
UPDATE drivers SET license_number = 'encrypted' WHERE license_number IS NULL;
ALTER TABLE drivers DROP COLUMN license_hash;
ALTER TABLE drivers DROP COLUMN license_enc;
ALTER TABLE drivers ALTER COLUMN license_number SET NOT NULL;
