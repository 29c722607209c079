//! Messages in conversations, and each member's mailbox: numbered in one transaction per
//! post, so a mailbox reads back in the order it was written.

use chit_ledger::StoreError;
use chit_proto::api::{Delivery, Envelope, PaymentPart};
use chit_proto::{Command, Handle, IdentityKey, MessageId, Receipt, SealedBody, Signature};

use super::{corrupt, from_json, json, key32, ms, word};
use crate::db::{Conn, Row, Value, WriteLock};

/// A message to post, before the node assigns its sequence number.
pub struct NewMessage<'a> {
    pub id: &'a MessageId,
    pub conversation: &'a str,
    /// The conversation's kind (`direct` today), written when its first message creates it.
    pub conversation_kind: &'a str,
    pub members: &'a [Handle],
    pub sender: &'a Handle,
    pub kind: &'a str,
    pub time_ms: u64,
    pub body: &'a SealedBody,
    pub command: Option<&'a Command>,
    pub signature: Option<&'a Signature>,
    /// The API key that signed `command`, when not the sender's identity key.
    pub signer: Option<&'a IdentityKey>,
    pub payment: Option<&'a PaymentPart>,
    pub receipt: Option<&'a Receipt>,
}

/// Where a posted message landed: its sequence number and each member's mailbox cursor.
pub struct Posted {
    pub envelope: Envelope,
    pub deliveries: Vec<(Handle, u64)>,
    /// False when the id was already posted (a retry): nothing new was written.
    pub created: bool,
}

/// The locks a batch takes before [`post_message`] of `id` to a conversation of `members`: one
/// per member (their mailboxes and the conversation are numbered in it) and one on the id.
pub fn posting_locks(members: &[Handle], id: &MessageId) -> Vec<WriteLock> {
    let users = members.iter().map(|m| WriteLock::user(m.as_str()));
    users.chain([WriteLock::message(id.as_str())]).collect()
}

/// Posts a message into its conversation (created on first use) and every member's mailbox.
/// Posting an id that exists returns the stored message unchanged. On SQLite, statement by
/// statement (each a call into the library, no round trip); on PostgreSQL in one statement.
pub fn post_message(c: &mut dyn Conn, m: &NewMessage<'_>) -> Result<Posted, StoreError> {
    if !c.one_writer_at_a_time() {
        return post_message_in_one_statement(c, m);
    }
    if let Some(existing) = message(c, m.id)? {
        return Ok(Posted {
            envelope: existing,
            deliveries: Vec::new(),
            created: false,
        });
    }
    let seq = next_conversation_seq(c, m)?;
    if seq == 1 {
        for member in m.members {
            c.execute(
                "INSERT INTO members (conversation_id, handle) VALUES ($1, $2)",
                &[m.conversation.into(), member.as_str().into()],
            )?;
        }
    }
    let mut values = message_values(m);
    values.push(Value::Int(seq));
    c.execute(
        "INSERT INTO messages (id, conversation_id, sender, kind, time_ms, body, command, \
         signature, payment, receipt, signer, seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        &values,
    )?;
    let mut deliveries = Vec::with_capacity(m.members.len());
    for member in m.members {
        let cursor = next_inbox_seq(c, member)?;
        c.execute(
            "INSERT INTO inbox (handle, seq, message_id) VALUES ($1, $2, $3)",
            &[
                member.as_str().into(),
                Value::Int(cursor),
                m.id.as_str().into(),
            ],
        )?;
        deliveries.push((member.clone(), cursor as u64));
    }
    Ok(Posted {
        envelope: envelope(m, seq as u64),
        deliveries,
        created: true,
    })
}

/// The columns of a message's row but its number, in the order both engines' statements take.
fn message_values(m: &NewMessage<'_>) -> Vec<Value> {
    vec![
        m.id.as_str().into(),
        m.conversation.into(),
        m.sender.as_str().into(),
        m.kind.into(),
        ms(m.time_ms),
        json(m.body).into(),
        m.command.map(json).into(),
        m.signature.map(|s| s.0.to_vec()).into(),
        m.payment.map(json).into(),
        m.receipt.map(json).into(),
        m.signer.map(|k| k.as_bytes().to_vec()).into(),
    ]
}

/// The envelope of a message just posted as number `seq`.
fn envelope(m: &NewMessage<'_>, seq: u64) -> Envelope {
    Envelope {
        id: *m.id,
        conversation: m.conversation.to_owned(),
        seq,
        sender: m.sender.clone(),
        kind: m.kind.to_owned(),
        time_ms: m.time_ms,
        body: m.body.clone(),
        command: m.command.cloned(),
        signature: m.signature.copied(),
        signer: m.signer.copied(),
        payment: m.payment.cloned(),
        receipt: m.receipt.cloned(),
    }
}

/// [`post_message`] on PostgreSQL: the same writes in one statement, so one round trip to the
/// server instead of seven (the round trips, not the server's work, bounded a node writing to
/// PostgreSQL). The conversation's and each member's counter rows are upserted and stay locked
/// to the end of the transaction, so concurrent writers (other nodes) queue there; nothing is
/// written when the id was posted before.
fn post_message_in_one_statement(
    c: &mut dyn Conn,
    m: &NewMessage<'_>,
) -> Result<Posted, StoreError> {
    const FIXED: usize = 12;
    let members: Vec<String> = (0..m.members.len())
        .map(|i| format!("(${}::text)", FIXED + 1 + i))
        .collect();
    let members = members.join(", ");
    let sql = format!(
        "WITH conv AS (            INSERT INTO conversations (id, kind, next_seq, created_at_ms)            SELECT $2::text, $12::text, 2, $5::bigint            WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = $1::text)            ON CONFLICT (id) DO UPDATE SET next_seq = conversations.next_seq + 1            RETURNING next_seq - 1 AS seq),          message AS (            INSERT INTO messages (id, conversation_id, seq, sender, kind, time_ms, body,              command, signature, payment, receipt, signer)            SELECT $1::text, $2::text, conv.seq, $3::text, $4::text, $5::bigint, $6::text,              $7::text, $8::bytea, $9::text, $10::text, $11::bytea FROM conv),          new_members AS (            INSERT INTO members (conversation_id, handle)            SELECT $2::text, v.handle FROM conv, (VALUES {members}) AS v(handle)            WHERE conv.seq = 1),          heads AS (            INSERT INTO inbox_heads (handle, next_seq)            SELECT v.handle, 2 FROM conv, (VALUES {members}) AS v(handle)            ON CONFLICT (handle) DO UPDATE SET next_seq = inbox_heads.next_seq + 1            RETURNING handle, next_seq - 1 AS cursor),          delivered AS (            INSERT INTO inbox (handle, seq, message_id)            SELECT heads.handle, heads.cursor, $1::text FROM heads)          SELECT conv.seq, heads.handle, heads.cursor FROM conv, heads"
    );
    let mut params = message_values(m);
    params.push(m.conversation_kind.into());
    debug_assert_eq!(params.len(), FIXED);
    params.extend(m.members.iter().map(|h| h.as_str().into()));
    let rows = c.query(&sql, &params)?;
    let Some(first) = rows.first() else {
        let existing = message(c, m.id)?.ok_or_else(|| corrupt("posting wrote nothing"))?;
        return Ok(Posted {
            envelope: existing,
            deliveries: Vec::new(),
            created: false,
        });
    };
    let seq = first.int(0)?;
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in &rows {
        let handle = row.text(1)?;
        let member = m
            .members
            .iter()
            .find(|h| h.as_str() == handle)
            .ok_or_else(|| corrupt("delivered to someone not a member"))?;
        deliveries.push((member.clone(), row.int(2)? as u64));
    }
    if deliveries.len() != m.members.len() {
        return Err(corrupt("a member's inbox was not written"));
    }
    Ok(Posted {
        envelope: envelope(m, seq as u64),
        deliveries,
        created: true,
    })
}

/// The next number in `m`'s conversation on SQLite, creating the conversation at its first
/// message. Numbers are strictly increasing without gaps. SQLite has one writer at a time, so
/// the number is the last one stored plus one, read from the `(conversation_id, seq)` index: no
/// counter row to rewrite and no `RETURNING` (whose temporary table cost the batch writer about
/// a fifth of its time). PostgreSQL keeps counter rows (see [`post_message_in_one_statement`]).
fn next_conversation_seq(c: &mut dyn Conn, m: &NewMessage<'_>) -> Result<i64, StoreError> {
    let seq = c
        .query_opt(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE conversation_id = $1",
            &[m.conversation.into()],
        )?
        .ok_or_else(|| corrupt("no next conversation number"))?
        .int(0)?;
    if seq == 1 {
        c.execute(
            "INSERT INTO conversations (id, kind, created_at_ms) VALUES ($1, $2, $3)",
            &[
                m.conversation.into(),
                m.conversation_kind.into(),
                ms(m.time_ms),
            ],
        )?;
    }
    Ok(seq)
}

/// The next number in `member`'s inbox (their mailbox cursor) on SQLite, as
/// [`next_conversation_seq`].
fn next_inbox_seq(c: &mut dyn Conn, member: &Handle) -> Result<i64, StoreError> {
    c.query_opt(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM inbox WHERE handle = $1",
        &[member.as_str().into()],
    )?
    .ok_or_else(|| corrupt("no next inbox number"))?
    .int(0)
}

pub(crate) const ENVELOPE_COLUMNS: &str =
    "m.id, m.conversation_id, m.seq, m.sender, m.kind, m.time_ms, \
    m.body, m.command, m.signature, m.payment, m.receipt, m.signer";

pub(crate) fn envelope_row(r: &Row, offset: usize) -> Result<Envelope, StoreError> {
    let signature = match &r.0[offset + 8] {
        Value::Null => None,
        _ => {
            let b: [u8; 64] = r
                .blob(offset + 8)?
                .try_into()
                .map_err(|_| corrupt("signature"))?;
            Some(Signature(b))
        }
    };
    Ok(Envelope {
        id: word(r, offset, "message id")?,
        conversation: r.text(offset + 1)?,
        seq: r.int(offset + 2)? as u64,
        sender: Handle::new(&r.text(offset + 3)?).map_err(|e| corrupt(&e.to_string()))?,
        kind: r.text(offset + 4)?,
        time_ms: r.int(offset + 5)? as u64,
        body: from_json(&r.text(offset + 6)?, "body")?,
        command: r
            .opt_text(offset + 7)?
            .map(|t| from_json(&t, "command"))
            .transpose()?,
        signature,
        signer: match &r.0[offset + 11] {
            Value::Null => None,
            _ => Some(
                IdentityKey::from_bytes(key32(r.blob(offset + 11)?)?)
                    .map_err(|_| corrupt("signer key"))?,
            ),
        },
        payment: r
            .opt_text(offset + 9)?
            .map(|t| from_json(&t, "payment"))
            .transpose()?,
        receipt: r
            .opt_text(offset + 10)?
            .map(|t| from_json(&t, "receipt"))
            .transpose()?,
    })
}

pub fn message(c: &mut dyn Conn, id: &MessageId) -> Result<Option<Envelope>, StoreError> {
    let sql = format!("SELECT {ENVELOPE_COLUMNS} FROM messages m WHERE m.id = $1");
    c.query_opt(&sql, &[id.as_str().into()])?
        .map(|r| envelope_row(&r, 0))
        .transpose()
}

/// Messages in `handle`'s mailbox after `cursor`, oldest first.
pub fn mailbox(
    c: &mut dyn Conn,
    handle: &Handle,
    after: u64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT i.seq, {ENVELOPE_COLUMNS} FROM inbox i JOIN messages m ON m.id = i.message_id \
         WHERE i.handle = $1 AND i.seq > $2 ORDER BY i.seq LIMIT $3"
    );
    let rows = c.query(
        &sql,
        &[handle.as_str().into(), ms(after), Value::Int(limit as i64)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(Delivery {
                cursor: r.int(0)? as u64,
                message: envelope_row(r, 1)?,
            })
        })
        .collect()
}

/// Whether `me` has ever written in the conversation `conversation` (then its other member is
/// one of my contacts).
pub fn has_written(c: &mut dyn Conn, conversation: &str, me: &Handle) -> Result<bool, StoreError> {
    Ok(c.query_opt(
        "SELECT 1 FROM messages WHERE conversation_id = $1 AND sender = $2 LIMIT 1",
        &[conversation.into(), me.as_str().into()],
    )?
    .is_some())
}
