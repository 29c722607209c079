-- A payment's amount as the ledger counts it: minor units, the currency's code and its decimals,
-- so reading a payment back needs no configured currency. Rows from before are filled in when
-- the node opens (they may hold any form a wallet once signed: only the node's currencies can
-- read them). `amount` stays: the text the wire shows. Version 10 (SQLite);
-- postgres/0009_amount_minor.sql.
ALTER TABLE payments ADD COLUMN amount_minor INTEGER;
ALTER TABLE payments ADD COLUMN currency TEXT;
ALTER TABLE payments ADD COLUMN decimals INTEGER;
-- What is left to fill in, so the check at every start reads only those rows.
CREATE INDEX IF NOT EXISTS payments_amount_missing ON payments (id) WHERE amount_minor IS NULL;
