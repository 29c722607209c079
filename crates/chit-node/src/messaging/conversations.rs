//! Conversations read back, for any of a user's devices: the list (newest first, with the last
//! message and how many are unread), one conversation a page at a time with each offer's and
//! request's state now, and read markers kept by the node so every device agrees on what is
//! read. The mailbox (`GET /v1/mailbox`) stays the way a device catches up; this is how a person
//! looks back.

use std::sync::Arc;

use chit_ledger::StoreError;
use chit_proto::api::{ConversationItem, ConversationPage, ConversationSummary, Conversations};
use chit_proto::Handle;

use crate::db::{Conn, Value};
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{envelope_row, ENVELOPE_COLUMNS};

/// Most conversations or messages one page returns.
pub const CONVERSATION_PAGE_MAX: usize = 500;

/// Which page of a conversation: the newest, the one before a number, or the one after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Newest,
    Before(u64),
    After(u64),
}

impl Node {
    /// `handle`'s conversations, the most recently active first.
    pub async fn conversations(
        self: &Arc<Self>,
        handle: Handle,
        limit: usize,
    ) -> Result<Conversations, NodeError> {
        self.run_blocking(move |node| node.conversations_blocking(&handle, limit))
            .await
    }

    /// The blocking body of [`Node::conversations`].
    pub(crate) fn conversations_blocking(
        &self,
        handle: &Handle,
        limit: usize,
    ) -> Result<Conversations, NodeError> {
        check_limit(limit)?;
        let conversations = self.db.read(|c| list(c, handle, limit))?;
        Ok(Conversations { conversations })
    }

    /// A page of one of `handle`'s conversations, oldest first.
    pub async fn conversation(
        self: &Arc<Self>,
        handle: Handle,
        conversation: String,
        page: Page,
        limit: usize,
    ) -> Result<ConversationPage, NodeError> {
        self.run_blocking(move |node| {
            node.conversation_blocking(&handle, &conversation, page, limit)
        })
        .await
    }

    /// The blocking body of [`Node::conversation`].
    pub(crate) fn conversation_blocking(
        &self,
        handle: &Handle,
        conversation: &str,
        page: Page,
        limit: usize,
    ) -> Result<ConversationPage, NodeError> {
        check_limit(limit)?;
        self.db
            .read(|c| {
                let Some(read_seq) = read_marker(c, conversation, handle)? else {
                    return Ok(None);
                };
                let items = messages(c, conversation, page, limit)?;
                Ok(Some(ConversationPage {
                    conversation: conversation.to_owned(),
                    items,
                    read_seq,
                }))
            })?
            .ok_or_else(unknown_conversation)
    }

    /// Moves `handle`'s read marker forward to `seq` (never back, never past the last message);
    /// returns where it stands.
    pub async fn mark_read(
        self: &Arc<Self>,
        handle: Handle,
        conversation: String,
        seq: u64,
    ) -> Result<u64, NodeError> {
        self.run_blocking(move |node| node.mark_read_blocking(&handle, &conversation, seq))
            .await
    }

    /// The blocking body of [`Node::mark_read`].
    pub(crate) fn mark_read_blocking(
        &self,
        handle: &Handle,
        conversation: &str,
        seq: u64,
    ) -> Result<u64, NodeError> {
        let marked = self.write(|c| {
            if read_marker(c, conversation, handle)?.is_none() {
                return Ok(None);
            }
            let last = c
                .query_opt(
                    "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = $1",
                    &[conversation.into()],
                )?
                .map_or(Ok(0), |r| r.int(0))?;
            c.execute(
                "UPDATE members SET read_seq = $1 \
                 WHERE conversation_id = $2 AND handle = $3 AND read_seq < $1",
                &[
                    Value::Int(i64::try_from(seq).unwrap_or(i64::MAX).min(last)),
                    conversation.into(),
                    handle.as_str().into(),
                ],
            )?;
            read_marker(c, conversation, handle)
        })?;
        marked.ok_or_else(unknown_conversation)
    }
}

fn check_limit(limit: usize) -> Result<(), NodeError> {
    if limit == 0 || limit > CONVERSATION_PAGE_MAX {
        return Err(NodeError::bad_request(
            "bad_limit",
            &format!("limit must be 1 to {CONVERSATION_PAGE_MAX}"),
        ));
    }
    Ok(())
}

/// The same answer for a conversation that does not exist and one the caller is not in.
fn unknown_conversation() -> NodeError {
    NodeError::not_found("unknown_conversation", "no such conversation of yours")
}

/// `handle`'s read marker in `conversation`, or `None` if they are not a member.
fn read_marker(
    c: &mut dyn Conn,
    conversation: &str,
    handle: &Handle,
) -> Result<Option<u64>, StoreError> {
    c.query_opt(
        "SELECT read_seq FROM members WHERE conversation_id = $1 AND handle = $2",
        &[conversation.into(), handle.as_str().into()],
    )?
    .map(|r| Ok(r.int(0)?.max(0) as u64))
    .transpose()
}

fn list(
    c: &mut dyn Conn,
    handle: &Handle,
    limit: usize,
) -> Result<Vec<ConversationSummary>, StoreError> {
    let sql = format!(
        "SELECT mem.conversation_id, mem.read_seq, \
           (SELECT COUNT(*) FROM messages u WHERE u.conversation_id = mem.conversation_id \
              AND u.seq > mem.read_seq AND u.sender <> $1), \
           {ENVELOPE_COLUMNS} \
         FROM members mem JOIN messages m ON m.conversation_id = mem.conversation_id \
           AND m.seq = (SELECT MAX(x.seq) FROM messages x WHERE x.conversation_id = mem.conversation_id) \
         WHERE mem.handle = $1 ORDER BY m.time_ms DESC, mem.conversation_id LIMIT $2"
    );
    let rows = c.query(&sql, &[handle.as_str().into(), Value::Int(limit as i64)])?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = r.text(0)?;
        out.push(ConversationSummary {
            members: members(c, &id)?,
            id,
            read_seq: r.int(1)?.max(0) as u64,
            unread: r.int(2)?.max(0) as u64,
            last: envelope_row(r, 3)?,
        });
    }
    Ok(out)
}

fn members(c: &mut dyn Conn, conversation: &str) -> Result<Vec<Handle>, StoreError> {
    c.query(
        "SELECT handle FROM members WHERE conversation_id = $1 ORDER BY handle",
        &[conversation.into()],
    )?
    .iter()
    .map(|r| Handle::new(&r.text(0)?).map_err(|e| StoreError::Corrupt(e.to_string())))
    .collect()
}

fn messages(
    c: &mut dyn Conn,
    conversation: &str,
    page: Page,
    limit: usize,
) -> Result<Vec<ConversationItem>, StoreError> {
    let (bound, order, at) = match page {
        Page::Newest => ("<", "DESC", i64::MAX),
        Page::Before(seq) => ("<", "DESC", i64::try_from(seq).unwrap_or(i64::MAX)),
        Page::After(seq) => (">", "ASC", i64::try_from(seq).unwrap_or(i64::MAX)),
    };
    // An offer's or request's message id is its payment's id: the join gives its state now.
    let sql = format!(
        "SELECT p.state, {ENVELOPE_COLUMNS} FROM messages m \
         LEFT JOIN payments p ON p.id = m.id AND m.kind IN ('offer', 'request') \
         WHERE m.conversation_id = $1 AND m.seq {bound} $2 ORDER BY m.seq {order} LIMIT $3"
    );
    let rows = c.query(
        &sql,
        &[
            conversation.into(),
            Value::Int(at),
            Value::Int(limit as i64),
        ],
    )?;
    let mut items = rows
        .iter()
        .map(|r| {
            Ok(ConversationItem {
                state: r.opt_text(0)?,
                message: envelope_row(r, 1)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if order == "DESC" {
        items.reverse();
    }
    Ok(items)
}
