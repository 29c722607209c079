//! Payments (offers and requests) as the node tracks them beside the ledger: their state, the
//! scheduled ones, and those being paid.

use chit_core::{Amount, Currency, CurrencyCode};
use chit_ledger::StoreError;
use chit_proto::api::PaymentPart;
use chit_proto::{Handle, PaymentId, PaymentState};

use super::{corrupt, ms, word};
use crate::db::{Conn, Row, Value};

/// A payment (offer or request) as the node tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    pub part: PaymentPart,
    /// The amount as the ledger counts it; `None` only for a row an older node wrote that could
    /// not be read with this node's currencies (its text, `part.amount`, is all there is).
    pub amount: Option<Amount>,
    pub conversation: String,
    pub body_digest: String,
}

/// Inserts a payment unless its id is taken (a retry, or an id reused for something else, which
/// the caller finds out from the posting): the stored row stands either way.
pub fn insert_payment(c: &mut dyn Conn, payment: &Payment, now_ms: u64) -> Result<(), StoreError> {
    let (p, conversation, body_digest) =
        (&payment.part, &payment.conversation, &payment.body_digest);
    let amount = payment
        .amount
        .ok_or_else(|| corrupt("a new payment without its amount"))?;
    c.execute(
        "INSERT INTO payments (id, kind, conversation_id, payer, payee, amount, state, \
         expires_at_ms, body_digest, created_at_ms, amount_minor, currency, decimals) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (id) DO NOTHING",
        &[
            p.payment.as_str().into(),
            p.kind.as_str().into(),
            conversation.as_str().into(),
            p.payer.as_str().into(),
            p.payee.as_str().into(),
            p.amount.as_str().into(),
            p.state.as_str().into(),
            ms(p.expires_at_ms),
            body_digest.as_str().into(),
            ms(now_ms),
            minor_units(&amount),
            amount.currency().code().as_str().into(),
            Value::Int(i64::from(amount.currency().decimals())),
        ],
    )?;
    Ok(())
}

fn minor_units(amount: &Amount) -> Value {
    Value::Int(i64::try_from(amount.minor()).expect("amounts are at most i64::MAX minor units"))
}

pub(crate) const PAYMENT_COLUMNS: &str = "id, kind, payer, payee, amount, state, expires_at_ms, \
    conversation_id, body_digest, pay_at_ms, amount_minor, currency, decimals";

pub(crate) fn payment_row(r: &Row) -> Result<Payment, StoreError> {
    let handle = |i| Handle::new(&r.text(i)?).map_err(|e| corrupt(&e.to_string()));
    Ok(Payment {
        part: PaymentPart {
            payment: word(r, 0, "payment id")?,
            kind: word(r, 1, "payment kind")?,
            payer: handle(2)?,
            payee: handle(3)?,
            amount: r.text(4)?,
            state: word(r, 5, "payment state")?,
            expires_at_ms: r.int(6)? as u64,
            pay_at_ms: r.opt_int(9)?.map(|v| v as u64),
            reason: None,
        },
        amount: stored_amount(r, 10)?,
        conversation: r.text(7)?,
        body_digest: r.text(8)?,
    })
}

/// The amount from its three columns (minor units, code, decimals), if a node wrote them.
fn stored_amount(r: &Row, first: usize) -> Result<Option<Amount>, StoreError> {
    let (Some(minor), Some(code), Some(decimals)) = (
        r.opt_int(first)?,
        r.opt_text(first + 1)?,
        r.opt_int(first + 2)?,
    ) else {
        return Ok(None);
    };
    let bad = |e: &dyn std::fmt::Display| corrupt(&format!("payment amount: {e}"));
    let code = CurrencyCode::new(&code).map_err(|e| bad(&e))?;
    let decimals = u8::try_from(decimals).map_err(|e| bad(&e))?;
    let currency = Currency::new(code, decimals).map_err(|e| bad(&e))?;
    let minor = u64::try_from(minor).map_err(|e| bad(&e))?;
    Amount::from_minor(currency, minor)
        .map(Some)
        .map_err(|e| bad(&e))
}

/// Rows an older node wrote without the amount's columns (id and amount text), a page at a
/// time in id order after `after`.
pub fn amounts_missing(
    c: &mut dyn Conn,
    after: &str,
    limit: usize,
) -> Result<Vec<(PaymentId, String)>, StoreError> {
    let rows = c.query(
        "SELECT id, amount FROM payments WHERE amount_minor IS NULL AND id > $1 \
         ORDER BY id LIMIT $2",
        &[after.into(), Value::Int(limit as i64)],
    )?;
    rows.iter()
        .map(|r| Ok((word(r, 0, "payment id")?, r.text(1)?)))
        .collect()
}

/// Fills in a payment's amount columns (for a row an older node wrote).
pub fn set_amount(c: &mut dyn Conn, id: &PaymentId, amount: &Amount) -> Result<(), StoreError> {
    c.execute(
        "UPDATE payments SET amount_minor = $1, currency = $2, decimals = $3 \
         WHERE id = $4 AND amount_minor IS NULL",
        &[
            minor_units(amount),
            amount.currency().code().as_str().into(),
            Value::Int(i64::from(amount.currency().decimals())),
            id.as_str().into(),
        ],
    )?;
    Ok(())
}

pub fn payment(c: &mut dyn Conn, id: &PaymentId) -> Result<Option<Payment>, StoreError> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
    c.query_opt(&sql, &[id.as_str().into()])?
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
    id: &PaymentId,
    from: PaymentState,
    to: PaymentState,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = $1 WHERE id = $2 AND state = $3",
        &[to.as_str().into(), id.as_str().into(), from.as_str().into()],
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
    id: &PaymentId,
    at_ms: u64,
    authorization: &str,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = 'scheduled', pay_at_ms = $1, pay_command = $2 \
         WHERE id = $3 AND state IN ('pending', 'scheduled')",
        &[ms(at_ms), authorization.into(), id.as_str().into()],
    )?;
    Ok(n == 1)
}

/// A scheduled payment that could not be made: `scheduled` (at `at_ms`) → `pending`, the
/// schedule used up. False if it was rescheduled, paid or closed meanwhile.
pub fn unschedule_payment(
    c: &mut dyn Conn,
    id: &PaymentId,
    at_ms: u64,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = 'pending', pay_at_ms = NULL \
         WHERE id = $1 AND state = 'scheduled' AND pay_at_ms = $2",
        &[id.as_str().into(), ms(at_ms)],
    )?;
    Ok(n == 1)
}

/// Scheduled payments whose time has come, with the payer's signed command.
pub fn due_scheduled(
    c: &mut dyn Conn,
    now_ms: u64,
    limit: usize,
) -> Result<Vec<(PaymentId, String)>, StoreError> {
    let rows = c.query(
        "SELECT id, pay_command FROM payments WHERE state = 'scheduled' AND pay_at_ms <= $1 \
         ORDER BY pay_at_ms LIMIT $2",
        &[ms(now_ms), Value::Int(limit as i64)],
    )?;
    rows.iter()
        .map(|r| Ok((word(r, 0, "payment id")?, r.text(1)?)))
        .collect()
}

/// Claims an open request for paying: `from` → `paying`, recording the payer's command (a
/// scheduled one keeps the command that scheduled it, which it goes back to if this fails).
pub fn start_paying(
    c: &mut dyn Conn,
    id: &PaymentId,
    from: PaymentState,
    command: &str,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE payments SET state = 'paying', \
         pay_command = CASE WHEN state = 'scheduled' THEN pay_command ELSE $1 END, \
         paying_since_ms = $2 WHERE id = $3 AND state = $4",
        &[
            command.into(),
            ms(now_ms),
            id.as_str().into(),
            from.as_str().into(),
        ],
    )?;
    Ok(n == 1)
}

/// The signed command (JSON) that claimed a payment now being paid, if it is.
pub fn paying_command(c: &mut dyn Conn, id: &PaymentId) -> Result<Option<String>, StoreError> {
    c.query_opt(
        "SELECT pay_command FROM payments WHERE id = $1 AND state = 'paying'",
        &[id.as_str().into()],
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
) -> Result<Vec<PaymentId>, StoreError> {
    let rows = c.query(
        "SELECT id FROM payments WHERE state = 'paying' AND paying_since_ms <= $1 LIMIT $2",
        &[ms(before_ms), Value::Int(limit as i64)],
    )?;
    rows.iter().map(|r| word(r, 0, "payment id")).collect()
}
