-- migrate:up
-- `entries` exists and is busy: this needs its ACCESS EXCLUSIVE lock, which the profile's
-- lock_timeout bounds (it gives up rather than queue every reader behind it).
ALTER TABLE entries ADD COLUMN amount numeric NOT NULL DEFAULT 0;

-- migrate:down
ALTER TABLE entries DROP COLUMN amount;
