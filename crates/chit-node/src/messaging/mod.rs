//! Messages: a signed text post checked and written into its conversation
//! ([`Node::post`]), the mailbox a wallet reads back ([`Node::mailbox`]), and the
//! conversations list ([`conversations`]). The write itself is [`crate::posting`]'s, shared
//! with offers and requests.

pub mod conversations;

use std::sync::Arc;

use chit_proto::api::{digest_text, direct_conversation, Delivery, Envelope, PostRequest};
use chit_proto::{Action, Handle};

use crate::auth::SignatureChecked;
use crate::error::NodeError;
use crate::exec::blocking;
use crate::node::Node;
use crate::store;

/// Most messages one mailbox page returns.
pub const MAILBOX_PAGE_MAX: usize = 500;

impl Node {
    fn post_checked(
        &self,
        actor: &Handle,
        request: &PostRequest,
        checked: SignatureChecked,
    ) -> Result<Envelope, NodeError> {
        let conversation = self.check_post(actor, request, checked)?;
        let posted = self.post_signed(actor, request, conversation, None)?;
        Ok(self.posted_text(posted))
    }

    /// Posts a signed text message from `actor`; retrying the same command returns the same
    /// message. The signature is checked in a batch; when the recipient's key is cached the
    /// other checks need no I/O and run here, and on SQLite the task then awaits the batch
    /// writer. Everything else goes to the blocking pool. Same checks, same answers either way.
    pub async fn post(
        self: Arc<Self>,
        actor: Handle,
        request: PostRequest,
    ) -> Result<Envelope, NodeError> {
        let command = &request.command;
        let checked = self
            .verify_command_async(&actor, command, &request.signature, request.signer.as_ref())
            .await?;
        let cached = matches!(&request.command.action,
                Action::Say { to, .. } if self.identities.get(to).is_some());
        if !cached || !self.db.is_sqlite() {
            return blocking(move || self.post_checked(&actor, &request, checked)).await;
        }
        let conversation = self.check_post(&actor, &request, checked)?;
        let expected = request.command.clone();
        let job = self.posting_job(&actor, request, conversation, None);
        let posted = self.write_posting_async(Some(expected), job).await?;
        self.deliver(&posted);
        Ok(self.posted_text(posted))
    }

    fn posted_text(&self, posted: store::Posted) -> Envelope {
        if posted.created {
            crate::metrics::Metrics::inc(&self.metrics.messages);
        }
        posted.envelope
    }

    /// Everything a text post must pass after its signature and before it is written: the
    /// recipient, the body. Returns the conversation and its members.
    fn check_post(
        &self,
        actor: &Handle,
        request: &PostRequest,
        _: SignatureChecked,
    ) -> Result<Conversation, NodeError> {
        let command = &request.command;
        let Action::Say { to, body_digest } = &command.action else {
            return Err(NodeError::bad_request(
                "unsupported_action",
                "this endpoint posts text messages; payments have their own",
            ));
        };
        self.require_known(to)?;
        if body_digest != &digest_text(&request.body) {
            return Err(NodeError::bad_request(
                "body_mismatch",
                "the body is not the one the command signed",
            ));
        }
        let conversation = Conversation::direct(actor, to);
        check_recipients(&request.body, &conversation.members)?;
        Ok(conversation)
    }

    pub async fn mailbox(
        self: &Arc<Self>,
        handle: Handle,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, NodeError> {
        self.run_blocking(move |node| node.mailbox_blocking(&handle, after, limit))
            .await
    }

    /// The blocking body of [`Node::mailbox`].
    pub(crate) fn mailbox_blocking(
        &self,
        handle: &Handle,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, NodeError> {
        if limit == 0 || limit > MAILBOX_PAGE_MAX {
            return Err(NodeError::bad_request(
                "bad_limit",
                &format!("limit must be 1 to {MAILBOX_PAGE_MAX}"),
            ));
        }
        Ok(self.db.read(|c| store::mailbox(c, handle, after, limit))?)
    }
}

/// A conversation as a post needs it: its id, its kind and its members (sorted, once each).
/// Everything below this type — the posting, the mailboxes, the sealing check — takes any
/// number of members; `direct` (two people, or one writing to themself) is the only kind made
/// today, and a group will be another constructor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub kind: &'static str,
    pub members: Vec<Handle>,
}

impl Conversation {
    /// The one conversation of `a` and `b`.
    pub fn direct(a: &Handle, b: &Handle) -> Self {
        Self::of_payment(&direct_conversation(a, b), a, b)
    }

    /// The direct conversation a payment between `payer` and `payee` lives in, named by its
    /// stored id.
    pub fn of_payment(id: &str, payer: &Handle, payee: &Handle) -> Self {
        let mut members = vec![payer.clone(), payee.clone()];
        members.sort();
        members.dedup();
        Self {
            id: id.to_owned(),
            kind: "direct",
            members,
        }
    }
}

/// The body must be sealed to exactly the conversation's members, once each: the node cannot
/// read it, but it can refuse a body some member could not open.
pub(crate) fn check_recipients(
    body: &chit_proto::SealedBody,
    members: &[Handle],
) -> Result<(), NodeError> {
    let mut to: Vec<&str> = body.recipients.iter().map(|r| r.to.as_str()).collect();
    to.sort_unstable();
    let want: Vec<&str> = members.iter().map(Handle::as_str).collect();
    if to != want {
        return Err(NodeError::bad_request(
            "bad_recipients",
            "the body must be sealed to every member of the conversation, once each",
        ));
    }
    Ok(())
}
