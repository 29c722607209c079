-- One payment per ledger transfer: ids are lowercase hex, and the database refuses two payments
-- whose ids differ only in letter case (they would name the same ledger transfer). Same as
-- sqlite/0009_canonical_ids.sql.
CREATE UNIQUE INDEX payments_one_per_transfer ON payments (lower(id));
