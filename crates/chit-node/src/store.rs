//! The node's state, written once for both engines (see [`crate::db`]): users,
//! sessions, conversations, messages and mailboxes. Every function runs inside the caller's
//! transaction.

use chit_ledger::StoreError;
use chit_proto::api::{Delivery, Envelope, PaymentPart};
use chit_proto::{
    Certificate, Command, EncryptionKey, Handle, IdentityKey, Receipt, SealedBody, Signature,
};

use crate::db::{Conn, Row, Value, WriteLock};

/// A registered user as the node keeps them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub handle: Handle,
    pub identity_key: IdentityKey,
    pub encryption_key: EncryptionKey,
    pub certificate: Certificate,
    pub auto_accept: String,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(&format!("{what}: {e}")))
}

fn ms(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn key32(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| corrupt("key is not 32 bytes"))
}

/// Inserts a user; `Conflict` if the handle (or the identity key) is taken.
pub fn create_user(
    c: &mut dyn Conn,
    certificate: &Certificate,
    registration_signature: &Signature,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO users (handle, identity_key, encryption_key, registration_signature, \
         certificate, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            certificate.handle.as_str().into(),
            certificate.identity_key.as_bytes().to_vec().into(),
            certificate.encryption_key.as_bytes().to_vec().into(),
            registration_signature.0.to_vec().into(),
            json(certificate).into(),
            ms(now_ms),
        ],
    )?;
    Ok(())
}

fn user_row(row: &Row) -> Result<User, StoreError> {
    let handle = Handle::new(&row.text(0)?).map_err(|e| corrupt(&e.to_string()))?;
    Ok(User {
        handle,
        identity_key: IdentityKey::from_bytes(key32(row.blob(1)?)?)
            .map_err(|_| corrupt("identity key"))?,
        encryption_key: EncryptionKey::from_bytes(key32(row.blob(2)?)?)
            .map_err(|_| corrupt("encryption key"))?,
        certificate: from_json(&row.text(3)?, "certificate")?,
        auto_accept: row.text(4)?,
    })
}

pub fn user(c: &mut dyn Conn, handle: &Handle) -> Result<Option<User>, StoreError> {
    c.query_opt(
        "SELECT handle, identity_key, encryption_key, certificate, auto_accept FROM users \
         WHERE handle = $1",
        &[handle.as_str().into()],
    )?
    .map(|r| user_row(&r))
    .transpose()
}

/// The user's auto-accept setting; `None` for an unknown handle.
pub fn auto_accept(c: &mut dyn Conn, handle: &Handle) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT auto_accept FROM users WHERE handle = $1",
        &[handle.as_str().into()],
    )?
    .map(|r| r.text(0))
    .transpose()
}

pub fn create_session(
    c: &mut dyn Conn,
    token_hash: &[u8],
    handle: &Handle,
    expires_at_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO sessions (token_hash, handle, expires_at_ms) VALUES ($1, $2, $3)",
        &[
            token_hash.to_vec().into(),
            handle.as_str().into(),
            ms(expires_at_ms),
        ],
    )?;
    Ok(())
}

/// Deletes up to `limit` expired sessions, oldest first; returns how many.
pub fn delete_expired_sessions(
    c: &mut dyn Conn,
    now_ms: u64,
    limit: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(c.execute(
        "DELETE FROM sessions WHERE token_hash IN \
         (SELECT token_hash FROM sessions WHERE expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2)",
        &[ms(now_ms), limit.into()],
    )? as usize)
}

/// The handle a live session belongs to, and when the session ends.
pub fn session(
    c: &mut dyn Conn,
    token_hash: &[u8],
    now_ms: u64,
) -> Result<Option<(Handle, u64)>, StoreError> {
    let row = c.query_opt(
        "SELECT handle, expires_at_ms FROM sessions WHERE token_hash = $1 AND expires_at_ms > $2",
        &[token_hash.to_vec().into(), ms(now_ms)],
    )?;
    row.map(|r| {
        let handle = Handle::new(&r.text(0)?).map_err(|e| corrupt(&e.to_string()))?;
        Ok((handle, r.int(1)?.max(0) as u64))
    })
    .transpose()
}

/// A message to post, before the node assigns its sequence number.
pub struct NewMessage<'a> {
    pub id: &'a str,
    pub conversation: &'a str,
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
pub fn posting_locks(members: &[Handle], id: &str) -> Vec<WriteLock> {
    let users = members.iter().map(|m| WriteLock::user(m.as_str()));
    users.chain([WriteLock::message(id)]).collect()
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
            &[member.as_str().into(), Value::Int(cursor), m.id.into()],
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
        m.id.into(),
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
        id: m.id.to_owned(),
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
    const FIXED: usize = 11;
    let members: Vec<String> = (0..m.members.len())
        .map(|i| format!("(${}::text)", FIXED + 1 + i))
        .collect();
    let members = members.join(", ");
    let sql = format!(
        "WITH conv AS (            INSERT INTO conversations (id, kind, next_seq, created_at_ms)            SELECT $2::text, 'direct', 2, $5::bigint            WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = $1::text)            ON CONFLICT (id) DO UPDATE SET next_seq = conversations.next_seq + 1            RETURNING next_seq - 1 AS seq),          message AS (            INSERT INTO messages (id, conversation_id, seq, sender, kind, time_ms, body,              command, signature, payment, receipt, signer)            SELECT $1::text, $2::text, conv.seq, $3::text, $4::text, $5::bigint, $6::text,              $7::text, $8::bytea, $9::text, $10::text, $11::bytea FROM conv),          new_members AS (            INSERT INTO members (conversation_id, handle)            SELECT $2::text, v.handle FROM conv, (VALUES {members}) AS v(handle)            WHERE conv.seq = 1),          heads AS (            INSERT INTO inbox_heads (handle, next_seq)            SELECT v.handle, 2 FROM conv, (VALUES {members}) AS v(handle)            ON CONFLICT (handle) DO UPDATE SET next_seq = inbox_heads.next_seq + 1            RETURNING handle, next_seq - 1 AS cursor),          delivered AS (            INSERT INTO inbox (handle, seq, message_id)            SELECT heads.handle, heads.cursor, $1::text FROM heads)          SELECT conv.seq, heads.handle, heads.cursor FROM conv, heads"
    );
    let mut params = message_values(m);
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
            &[m.conversation.into(), "direct".into(), ms(m.time_ms)],
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
        id: r.text(offset)?,
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

pub fn message(c: &mut dyn Conn, id: &str) -> Result<Option<Envelope>, StoreError> {
    let sql = format!("SELECT {ENVELOPE_COLUMNS} FROM messages m WHERE m.id = $1");
    c.query_opt(&sql, &[id.into()])?
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

/// Sets who a user accepts offers from automatically: `off`, `contacts` or `everyone`.
pub fn set_auto_accept(c: &mut dyn Conn, handle: &Handle, mode: &str) -> Result<(), StoreError> {
    c.execute(
        "UPDATE users SET auto_accept = $1 WHERE handle = $2",
        &[mode.into(), handle.as_str().into()],
    )?;
    Ok(())
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

/// A payment (offer or request) as the node tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub part: PaymentPart,
    pub conversation: String,
    pub body_digest: String,
}

/// Inserts a payment unless its id is taken (a retry, or an id reused for something else, which
/// the caller finds out from the posting): the stored row stands either way.
pub fn insert_payment(
    c: &mut dyn Conn,
    p: &PaymentPart,
    conversation: &str,
    body_digest: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO payments (id, kind, conversation_id, payer, payee, amount, state, \
         expires_at_ms, body_digest, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
        &[
            p.payment.as_str().into(),
            p.kind.as_str().into(),
            conversation.into(),
            p.payer.as_str().into(),
            p.payee.as_str().into(),
            p.amount.as_str().into(),
            p.state.as_str().into(),
            ms(p.expires_at_ms),
            body_digest.into(),
            ms(now_ms),
        ],
    )?;
    Ok(())
}

pub(crate) const PAYMENT_COLUMNS: &str = "id, kind, payer, payee, amount, state, expires_at_ms, \
    conversation_id, body_digest, pay_at_ms";

pub(crate) fn payment_row(r: &Row) -> Result<Payment, StoreError> {
    let handle = |i| Handle::new(&r.text(i)?).map_err(|e| corrupt(&e.to_string()));
    Ok(Payment {
        part: PaymentPart {
            payment: r.text(0)?,
            kind: r.text(1)?,
            payer: handle(2)?,
            payee: handle(3)?,
            amount: r.text(4)?,
            state: r.text(5)?,
            expires_at_ms: r.int(6)? as u64,
            pay_at_ms: r.opt_int(9)?.map(|v| v as u64),
            reason: None,
        },
        conversation: r.text(7)?,
        body_digest: r.text(8)?,
    })
}

pub fn payment(c: &mut dyn Conn, id: &str) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    c.query_opt(&sql, &[id.into()])?
        .map(|r| payment_row(&r))
        .transpose()
}

/// Payments waiting for `handle` to decide, oldest first: offers to them and requests to them
/// that are still open.
pub fn awaiting_decision(
    c: &mut dyn Conn,
    handle: &Handle,
    limit: usize,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments \
         WHERE (payee = $1 AND kind = 'offer' AND state = 'pending') \
            OR (payer = $1 AND kind = 'request' AND state IN ('pending', 'scheduled')) \
         ORDER BY created_at_ms, id LIMIT $2"
    );
    let rows = c.query(&sql, &[handle.as_str().into(), Value::Int(limit as i64)])?;
    rows.iter().map(payment_row).collect()
}

/// Moves a payment from `from` to `to`; false if it was not in `from` (someone else moved it).
pub fn set_payment_state(
    c: &mut dyn Conn,
    id: &str,
    from: &str,
    to: &str,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = $1 WHERE id = $2 AND state = $3",
        &[to.into(), id.into(), from.into()],
    )?;
    Ok(n == 1)
}

/// Open payments (pending, or scheduled to be paid) whose expiry has passed.
pub fn due_payments(
    c: &mut dyn Conn,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<Payment>, StoreError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE state IN ('pending', 'scheduled') \
         AND expires_at_ms <= $1 ORDER BY expires_at_ms LIMIT $2"
    );
    let rows = c.query(&sql, &[ms(now_ms), Value::Int(limit as i64)])?;
    rows.iter().map(payment_row).collect()
}

/// Schedules (or reschedules) a request's payment: `pending` or `scheduled` → `scheduled`,
/// keeping the payer's signed command.
pub fn schedule_payment(
    c: &mut dyn Conn,
    id: &str,
    at_ms: u64,
    authorization: &str,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = 'scheduled', pay_at_ms = $1, pay_command = $2 \
         WHERE id = $3 AND state IN ('pending', 'scheduled')",
        &[ms(at_ms), authorization.into(), id.into()],
    )?;
    Ok(n == 1)
}

/// A scheduled payment that could not be made: `scheduled` (at `at_ms`) → `pending`, the
/// schedule used up. False if it was rescheduled, paid or closed meanwhile.
pub fn unschedule_payment(c: &mut dyn Conn, id: &str, at_ms: u64) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = 'pending', pay_at_ms = NULL \
         WHERE id = $1 AND state = 'scheduled' AND pay_at_ms = $2",
        &[id.into(), ms(at_ms)],
    )?;
    Ok(n == 1)
}

/// Scheduled payments whose time has come, with the payer's signed command.
pub fn due_scheduled(
    c: &mut dyn Conn,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = c.query(
        "SELECT id, pay_command FROM payments WHERE state = 'scheduled' AND pay_at_ms <= $1 \
         ORDER BY pay_at_ms LIMIT $2",
        &[ms(now_ms), Value::Int(limit as i64)],
    )?;
    rows.iter().map(|r| Ok((r.text(0)?, r.text(1)?))).collect()
}

/// Claims an open request for paying: `from` → `paying`, recording the payer's command (a
/// scheduled one keeps the command that scheduled it, which it goes back to if this fails).
pub fn start_paying(
    c: &mut dyn Conn,
    id: &str,
    from: &str,
    command: &str,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = 'paying', \
         pay_command = CASE WHEN state = 'scheduled' THEN pay_command ELSE $1 END, \
         paying_since_ms = $2 WHERE id = $3 AND state = $4",
        &[command.into(), ms(now_ms), id.into(), from.into()],
    )?;
    Ok(n == 1)
}

/// The signed command (JSON) that claimed a payment now being paid, if it is.
pub fn paying_command(c: &mut dyn Conn, id: &str) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT pay_command FROM payments WHERE id = $1 AND state = 'paying'",
        &[id.into()],
    )?
    .map(|r| r.opt_text(0))
    .transpose()
    .map(Option::flatten)
}

/// Payments left in `paying` since before `before_ms` (a crash mid-payment).
pub fn stale_paying(
    c: &mut dyn Conn,
    before_ms: u64,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let rows = c.query(
        "SELECT id FROM payments WHERE state = 'paying' AND paying_since_ms <= $1 LIMIT $2",
        &[ms(before_ms), Value::Int(limit as i64)],
    )?;
    rows.iter().map(|r| r.text(0)).collect()
}

/// Stores (or replaces) a verified link to an external account.
pub fn link_account(
    c: &mut dyn Conn,
    handle: &Handle,
    rail: &str,
    reference: &str,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "DELETE FROM linked_accounts WHERE handle = $1 AND rail = $2",
        &[handle.as_str().into(), rail.into()],
    )?;
    c.execute(
        "INSERT INTO linked_accounts (handle, rail, reference, verified_at_ms) VALUES ($1, $2, $3, $4)",
        &[handle.as_str().into(), rail.into(), reference.into(), ms(now_ms)],
    )?;
    Ok(())
}

/// The linked external account for a rail, if any.
pub fn linked_account(
    c: &mut dyn Conn,
    handle: &Handle,
    rail: &str,
) -> Result<Option<String>, StoreError> {
    Ok(linked_account_since(c, handle, rail)?.map(|(reference, _)| reference))
}

/// The linked external account for a rail and when it was verified, if any.
pub fn linked_account_since(
    c: &mut dyn Conn,
    handle: &Handle,
    rail: &str,
) -> Result<Option<(String, u64)>, StoreError> {
    c.query_opt(
        "SELECT reference, verified_at_ms FROM linked_accounts WHERE handle = $1 AND rail = $2",
        &[handle.as_str().into(), rail.into()],
    )?
    .map(|r| Ok((r.text(0)?, r.int(1)?.max(0) as u64)))
    .transpose()
}

/// An API key as granted (the public key derived from a token; never the token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub key: IdentityKey,
    pub handle: Handle,
    pub scope: Vec<String>,
    pub label: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

const API_KEY_COLUMNS: &str =
    "key, handle, scope, label, created_at_ms, expires_at_ms, revoked_at_ms";

fn api_key_row(r: &Row) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        key: IdentityKey::from_bytes(key32(r.blob(0)?)?).map_err(|_| corrupt("api key"))?,
        handle: Handle::new(&r.text(1)?).map_err(|e| corrupt(&e.to_string()))?,
        scope: r.text(2)?.split(',').map(str::to_owned).collect(),
        label: r.text(3)?,
        created_at_ms: r.int(4)? as u64,
        expires_at_ms: r.int(5)? as u64,
        revoked_at_ms: r.opt_int(6)?.map(|v| v as u64),
    })
}

/// Stores a granted key with the signed grant; `Conflict` if the key exists.
pub fn insert_api_key(
    c: &mut dyn Conn,
    k: &ApiKey,
    grant: &Command,
    signature: &Signature,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO api_keys (key, handle, scope, label, created_at_ms, expires_at_ms, \
         revoked_at_ms, grant_command, grant_signature) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)",
        &[
            k.key.as_bytes().to_vec().into(),
            k.handle.as_str().into(),
            k.scope.join(",").into(),
            k.label.as_str().into(),
            ms(k.created_at_ms),
            ms(k.expires_at_ms),
            json(grant).into(),
            signature.0.to_vec().into(),
        ],
    )?;
    Ok(())
}

pub fn api_key(c: &mut dyn Conn, key: &IdentityKey) -> Result<Option<ApiKey>, StoreError> {
    let sql = format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key = $1");
    c.query_opt(&sql, &[key.as_bytes().to_vec().into()])?
        .map(|r| api_key_row(&r))
        .transpose()
}

/// A user's keys, newest first.
pub fn api_keys(c: &mut dyn Conn, handle: &Handle) -> Result<Vec<ApiKey>, StoreError> {
    let sql = format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE handle = $1 ORDER BY created_at_ms DESC"
    );
    c.query(&sql, &[handle.as_str().into()])?
        .iter()
        .map(api_key_row)
        .collect()
}

/// Revokes `handle`'s key; false when there is no such key of theirs or it was revoked already.
pub fn revoke_api_key(
    c: &mut dyn Conn,
    handle: &Handle,
    key: &IdentityKey,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE api_keys SET revoked_at_ms = $1 \
         WHERE key = $2 AND handle = $3 AND revoked_at_ms IS NULL",
        &[
            ms(now_ms),
            key.as_bytes().to_vec().into(),
            handle.as_str().into(),
        ],
    )?;
    Ok(n == 1)
}
