-- One writer at a time: a conversation's or an inbox's next number is the last one stored plus
-- one, read from the index each table already has (see store::next_conversation_seq), so the
-- counters go.
ALTER TABLE conversations DROP COLUMN next_seq;
DROP TABLE inbox_heads;
