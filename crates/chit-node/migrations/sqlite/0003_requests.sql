-- Requests (invoices), version 3 (SQLite). Same as postgres/0003_requests.sql but for types.

-- When a scheduled payment runs, and the payer's signed command that authorises it.
ALTER TABLE payments ADD COLUMN pay_at_ms INTEGER;
ALTER TABLE payments ADD COLUMN pay_command TEXT;
-- Set while a payment is being made: a pay interrupted by a crash is finished or undone later.
ALTER TABLE payments ADD COLUMN paying_since_ms INTEGER;
CREATE INDEX payments_scheduled ON payments (pay_at_ms) WHERE state = 'scheduled';
