//! The posting job: a message (and, for an offer or request, its payment row) written in one
//! group-committed transaction, then delivered to the conversation's members. Every kind of
//! post — text, offer, request, outcome — goes through here, so the retry rules (a retried
//! command returns the stored message; an id reused for another command is refused) hold for
//! all of them.

use std::sync::Arc;

use chit_ledger::StoreError;
use chit_proto::api::{Delivery, PostRequest};
use chit_proto::{Handle, MessageId};

use crate::db::WriteLock;
use crate::error::NodeError;
use crate::exec::blocking;
use crate::messaging::Conversation;
use crate::node::{Node, WRITE_RETRIES_MAX};
use crate::store::{self, NewMessage};

impl Node {
    /// Pushes a stored post to its members who are online (the rest read their mailbox).
    pub(crate) fn deliver(&self, posted: &store::Posted) {
        for (member, cursor) in &posted.deliveries {
            self.hub.publish(
                member,
                Delivery {
                    cursor: *cursor,
                    message: posted.envelope.clone(),
                },
            );
        }
    }

    /// [`Node::write_posting`] for async callers: on SQLite the task awaits the batch writer
    /// (one writer: no other node can get there first, so no retries); on PostgreSQL the
    /// transaction and its retries run on the blocking pool.
    pub(crate) async fn write_posting_async(
        self: &Arc<Self>,
        expected: Option<chit_proto::Command>,
        job: PostingJob<impl PostingWrite>,
    ) -> Result<store::Posted, NodeError> {
        if !self.db.is_sqlite() {
            let node = self.clone();
            return blocking(move || node.write_posting(expected.as_ref(), job)).await;
        }
        let posted = self.db.write_batched_async(job.locks, job.run).await?;
        check_not_reused(&posted, expected.as_ref())?;
        Ok(posted)
    }

    /// Posts a signed message (text, offer or request) into its conversation and delivers it.
    /// An offer or request brings its payment row, inserted in the same transaction. A retry
    /// returns the stored message.
    pub(crate) fn post_signed(
        &self,
        actor: &Handle,
        request: &PostRequest,
        conversation: Conversation,
        payment: Option<store::Payment>,
    ) -> Result<store::Posted, NodeError> {
        let job = self.posting_job(actor, request.clone(), conversation, payment);
        let posted = self.write_posting(Some(&request.command), job)?;
        self.deliver(&posted);
        Ok(posted)
    }

    /// The write of a post: its payment row (for an offer or request) and the message, in one
    /// transaction; a pure function of the database, so it may run again.
    pub(crate) fn posting_job(
        &self,
        actor: &Handle,
        owned: PostRequest,
        conversation: Conversation,
        payment: Option<store::Payment>,
    ) -> PostingJob<impl PostingWrite> {
        let sender = actor.clone();
        let time_ms = self.now_ms();
        let id = MessageId::from(owned.command.id);
        PostingJob {
            locks: store::posting_locks(&conversation.members, &id),
            run: move |c: &mut dyn crate::db::Conn| {
                if let Some(payment) = &payment {
                    store::insert_payment(c, payment, time_ms)?;
                }
                let part = payment.as_ref().map(|p| &p.part);
                store::post_message(
                    c,
                    &NewMessage {
                        id: &id,
                        conversation: &conversation.id,
                        conversation_kind: conversation.kind,
                        members: &conversation.members,
                        sender: &sender,
                        kind: part.map_or("text", |p| p.kind.as_str()),
                        time_ms,
                        body: &owned.body,
                        command: Some(&owned.command),
                        signature: Some(&owned.signature),
                        signer: owned.signer.as_ref(),
                        payment: part,
                        receipt: None,
                    },
                )
            },
        }
    }

    /// Posts in a write transaction; a stored message with the same id but another command is
    /// an id reused for something else.
    pub(crate) fn write_posting(
        &self,
        expected: Option<&chit_proto::Command>,
        job: PostingJob<impl PostingWrite>,
    ) -> Result<store::Posted, NodeError> {
        // Group-committed with other postings; retried when another node's writer got there
        // first (the job is a pure function of the database, so running it again is safe).
        let f = Arc::new(job.run);
        let mut attempt = 0;
        let posted = loop {
            let run = f.clone();
            match self.db.write_batched(job.locks.clone(), move |c| run(c)) {
                Err(StoreError::Conflict(_)) if attempt < WRITE_RETRIES_MAX => attempt += 1,
                other => break other?,
            }
        };
        check_not_reused(&posted, expected)?;
        Ok(posted)
    }
}

/// A stored message with the same id but another command: an id reused for something else.
fn check_not_reused(
    posted: &store::Posted,
    expected: Option<&chit_proto::Command>,
) -> Result<(), NodeError> {
    if !posted.created && posted.envelope.command.as_ref() != expected {
        return Err(NodeError::conflict(
            "id_conflict",
            "this id was used for a different command",
        ));
    }
    Ok(())
}

/// A posting for the batch writer: the write (a pure function of the database, so it may run
/// again) and the locks it takes first: one per member of the conversation it posts to (their
/// mailboxes and the conversation are numbered in it) and one on the message id (see
/// [`WriteLock`]).
pub(crate) struct PostingJob<F: PostingWrite> {
    pub(crate) locks: Vec<WriteLock>,
    pub(crate) run: F,
}

/// The write of a posting: a pure function of the database, so it may run again.
pub(crate) trait PostingWrite:
    Fn(&mut dyn crate::db::Conn) -> Result<store::Posted, StoreError> + Send + Sync + 'static
{
}

impl<F> PostingWrite for F where
    F: Fn(&mut dyn crate::db::Conn) -> Result<store::Posted, StoreError> + Send + Sync + 'static
{
}
