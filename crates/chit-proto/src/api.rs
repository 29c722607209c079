//! JSON bodies of the HTTP API (`/v1`), shared by the node and the SDK so they cannot drift.
//! Every request type rejects unknown fields.

use serde::{Deserialize, Serialize};

use crate::handle::Handle;
use crate::ids::{MessageId, PaymentId};
use crate::keys::{EncryptionKey, IdentityKey, Signature};
use crate::payment::{PaymentKind, PaymentState};
use crate::receipt::Receipt;
use crate::seal::SealedBody;
use crate::statements::{Certificate, Command, Registration};

/// `GET /v1/node`: who the node is. Wallets pin `node_key` on first contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node_key: IdentityKey,
    pub fingerprint: String,
    pub currencies: Vec<CurrencyInfo>,
    pub default_currency: String,
    pub version: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrencyInfo {
    pub code: String,
    pub decimals: u8,
}

/// `POST /v1/register`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub registration: Registration,
    pub signature: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub certificate: Certificate,
}

/// `POST /v1/login/challenge`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    pub handle: Handle,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeResponse {
    /// Base64url nonce to sign with [`crate::login_bytes`].
    pub challenge: String,
    pub expires_at_ms: u64,
}

/// `POST /v1/login`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub handle: Handle,
    pub challenge: String,
    pub signature: Signature,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    /// Bearer token for `Authorization: Bearer …`.
    pub token: String,
    pub expires_at_ms: u64,
}

/// `GET /v1/users/{handle}`: a user's public keys and certificate, for sealing to them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub handle: Handle,
    pub identity_key: IdentityKey,
    pub encryption_key: EncryptionKey,
    pub certificate: Certificate,
}

/// `POST /v1/messages`: a signed command with the body sealed to every member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    pub command: Command,
    pub signature: Signature,
    /// The API key that signed, when not the actor's identity key (see `Action::Grant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<IdentityKey>,
    pub body: SealedBody,
}

/// A message as stored and delivered: everything but the body is visible to the node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: MessageId,
    pub conversation: String,
    /// Strictly increasing within the conversation.
    pub seq: u64,
    pub sender: Handle,
    /// `text`, `offer`, `request`, `payment_update`.
    pub kind: String,
    pub time_ms: u64,
    pub body: SealedBody,
    /// The signed command that created it (absent for node-written updates).
    pub command: Option<Command>,
    pub signature: Option<Signature>,
    /// The API key that signed the command, when not the sender's identity key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<IdentityKey>,
    /// The money part, visible to the node: offers, requests and their updates.
    pub payment: Option<PaymentPart>,
    /// The node-signed receipt, on the update that settles a payment.
    pub receipt: Option<Receipt>,
}

/// The visible money part of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentPart {
    /// The offer or request message this is about.
    pub payment: PaymentId,
    pub kind: PaymentKind,
    pub payer: Handle,
    pub payee: Handle,
    /// Text form, e.g. `EUR:12.50`.
    pub amount: String,
    pub state: PaymentState,
    pub expires_at_ms: u64,
    /// When a scheduled payment will run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_at_ms: Option<u64>,
    /// Why something did not happen (e.g. a scheduled payment that could not be made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/payments/{id}/{action}` and `/v1/offers`, `/v1/topup`: a signed command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCommand {
    pub command: Command,
    pub signature: Signature,
    /// The API key that signed, when not the actor's identity key (see `Action::Grant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<IdentityKey>,
}

/// `POST /v1/settings`: the caller's preferences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Accept incoming offers automatically: `off`, `contacts` (people you have written to) or
    /// `everyone`.
    pub auto_accept: String,
}

/// The answer to a `link` command: the verified account, masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedAccount {
    pub rail: String,
    /// The last characters only, e.g. `…3000`.
    pub reference: String,
    pub verified_at_ms: u64,
}

/// `GET /v1/balance`: one entry per currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balances {
    pub balances: Vec<Balance>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub currency: String,
    /// What the account holds, e.g. `EUR:90.00`.
    pub balance: String,
    /// What can be spent: the balance less money held in pending offers.
    pub available: String,
}

/// One item of a mailbox: the message and its position in the recipient's mailbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub cursor: u64,
    pub message: Envelope,
}

/// `GET /v1/mailbox?after=N&limit=M`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxPage {
    pub items: Vec<Delivery>,
}

/// Every error: `{"error": {"code": "…", "message": "…"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// A frame a wallet sends on the `/v1/calls` WebSocket: the body of one of the POST endpoints
/// that act (`/v1/messages`, `/v1/offers`, `/v1/requests`, `/v1/commands`), named by `path`.
/// Calls are pipelined: many may be in flight, each answered by a [`Reply`] with its number,
/// in whatever order they finish.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call<B = serde_json::Value> {
    /// The wallet's number for this call, echoed in the reply.
    pub call: u64,
    pub path: String,
    pub body: B,
}

/// The node's answer to a [`Call`]: the status and JSON body the same POST over HTTP gets.
/// `reply` is absent when the frame was not a call at all (its number unreadable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply<B = serde_json::Value> {
    pub reply: Option<u64>,
    pub status: u16,
    pub body: B,
}

/// The id of the direct conversation between two users: the same whoever starts it.
pub fn direct_conversation(a: &Handle, b: &Handle) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("direct:{}:{}", x.as_str(), y.as_str())
}

/// The associated data a body is sealed under: it binds the body to its message.
pub fn body_aad(message_id: &str, conversation: &str, sender: &Handle) -> Vec<u8> {
    crate::canon::Canon::new("chit/v1/body-aad")
        .str(message_id)
        .str(conversation)
        .str(sender.as_str())
        .finish()
}

/// Seals a body of message `id` from `sender` to `to` in their direct conversation: to both
/// members' encryption keys (once, when writing to oneself), bound to the message by its AAD.
pub fn seal_direct(
    plaintext: &[u8],
    id: &str,
    sender: (&Handle, EncryptionKey),
    to: (&Handle, EncryptionKey),
) -> Result<SealedBody, crate::seal::SealError> {
    let conversation = direct_conversation(sender.0, to.0);
    let aad = body_aad(id, &conversation, sender.0);
    let mut recipients = vec![(sender.0.as_str(), sender.1)];
    if to.0 != sender.0 {
        recipients.push((to.0.as_str(), to.1));
    }
    SealedBody::seal(plaintext, &recipients, &aad)
}

/// The text form of a sealed body's digest, as commands and receipts carry it.
pub fn digest_text(body: &SealedBody) -> String {
    crate::b64::encode(&body.digest())
}

/// An API key of the caller's (`GET /v1/keys`, and the answer to a grant or revoke).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInfo {
    pub key: IdentityKey,
    pub label: String,
    pub scope: Vec<String>,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
    pub revoked_at_ms: Option<u64>,
}

/// `GET /v1/keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeys {
    pub keys: Vec<ApiKeyInfo>,
}

/// `GET /v1/statement?currency=EUR&after=CURSOR&limit=N`: every ledger transfer on the caller's
/// account in one currency, oldest first. Lines that move the balance (`moves_balance`) add up
/// to it from zero, so a wallet that keeps every page knows the balance after each line; holds
/// and their release change only what is available.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub currency: String,
    pub entries: Vec<StatementEntry>,
}

/// One ledger transfer as the account holder sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementEntry {
    /// The ledger's timestamp (nanoseconds): the paging cursor, strictly increasing.
    pub cursor: u64,
    pub transfer: String,
    pub time_ms: u64,
    /// `top_up`, `cash_out`, `payment` (an accepted offer or a paid request), `refund`, `hold`
    /// (an offer's money held) or `release` (a hold given back: declined, cancelled, expired).
    pub kind: String,
    /// `in` (credited to the caller) or `out`.
    pub direction: String,
    /// Text form, never negative, e.g. `EUR:12.50`.
    pub amount: String,
    /// Whether the balance changed (holds change only what is available).
    pub moves_balance: bool,
    /// The offer or request the transfer belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentId>,
    /// The other side: a user, or for top-ups and cash-outs none (see `rail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<Handle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rail: Option<String>,
}

/// `GET /v1/conversations?limit=N`: the caller's conversations, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversations {
    pub conversations: Vec<ConversationSummary>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub id: String,
    pub members: Vec<Handle>,
    pub last: Envelope,
    /// Messages from others after the caller's read marker.
    pub unread: u64,
    /// The caller's read marker: every message up to this number has been read.
    pub read_seq: u64,
}

/// `GET /v1/conversations/{id}/messages?before=SEQ|after=SEQ&limit=N`: a page of one
/// conversation, oldest first; offers and requests carry where they stand now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationPage {
    pub conversation: String,
    pub items: Vec<ConversationItem>,
    /// The caller's read marker.
    pub read_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItem {
    pub message: Envelope,
    /// For an offer or request: its state now (the message carries the state it was made in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// `POST /v1/conversations/{id}/read`: everything up to `seq` has been read (markers only
/// move forward).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadMarker {
    pub seq: u64,
}
