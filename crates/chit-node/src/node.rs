//! The node's behaviour, independent of HTTP: every front door (the JSON API now, the IMPT
//! gateway later) calls these functions. Blocking (database I/O); async callers use
//! `spawn_blocking`.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chit_core::Currencies;
use chit_ledger::StoreError;
use chit_proto::api::{
    digest_text, direct_conversation, CurrencyInfo, Delivery, Envelope, NodeInfo, PostRequest,
};
use chit_proto::{Action, Handle, IdentitySecret, Signature};
use sha2::{Digest, Sha256};

use crate::db::{Db, WriteLock};
use crate::error::ApiError;
use crate::events::Hub;
use crate::store::{self, NewMessage};

/// Most messages one mailbox page returns.
pub const MAILBOX_PAGE_MAX: usize = 500;
/// Retries of a write transaction that hit a concurrent writer (another node).
const WRITE_RETRIES_MAX: u32 = 16;
/// Checks (signature checks and short reads) running at once on the blocking pool, on
/// PostgreSQL: half its connection pool, so other work still finds connections.
const CHECKS_PARALLEL: usize = crate::db::PG_POOL_MAX / 2;

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Loads the node key from `dir/node.key`, creating it (mode 0600) on first start.
pub fn load_or_create_node_key(dir: &Path) -> std::io::Result<IdentitySecret> {
    let path = dir.join("node.key");
    match std::fs::read(&path) {
        Ok(bytes) => {
            let seed: [u8; 32] = bytes.try_into().map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, "node.key must be 32 bytes")
            })?;
            Ok(IdentitySecret::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = IdentitySecret::generate();
            write_private(&path, &key.to_seed())?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A running node's state.
pub struct Node {
    pub db: Db,
    pub ledger: chit_ledger::Ledger,
    pub key: IdentitySecret,
    pub currencies: Currencies,
    pub hub: Hub,
    pub metrics: crate::metrics::Metrics,
    /// Where the node reads the time (the ledger has its own); tests move it forward.
    clock: Arc<dyn chit_ledger::Clock>,
    /// Login challenges: issued without a write, checked by their MAC.
    pub(crate) challenges: crate::challenges::Challenges,
    /// Budgets per source address for what strangers can do (see [`crate::throttle`]).
    pub throttles: crate::throttle::Throttles,
    identities: crate::cache::Identities,
    pub(crate) sessions: crate::cache::Sessions,
    /// Admits [`Node::check`]s; the rest wait as tasks, not as threads.
    checks: tokio::sync::Semaphore,
    /// Checks the signatures of async callers in batches.
    signatures: crate::signatures::SignatureChecks,
}

/// Proof that a command's signature was checked: what the checks after it take, so none of
/// them can be reached with an unchecked command.
pub(crate) struct SignatureChecked(());

pub(crate) fn bad_signature() -> ApiError {
    ApiError::bad_request("bad_signature", "the command signature does not verify")
}

pub(crate) fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub(crate) fn generic_auth_error() -> ApiError {
    ApiError::unauthorized()
}

impl Node {
    /// A node over its database and ledger, on the system clock; opens the system accounts.
    pub fn new(
        db: Db,
        ledger: chit_ledger::Ledger,
        key: IdentitySecret,
        currencies: Currencies,
    ) -> Result<Arc<Self>, ApiError> {
        Self::with_clock(
            db,
            ledger,
            key,
            currencies,
            Arc::new(chit_ledger::SystemClock),
        )
    }

    /// A node reading the time from `clock`.
    pub fn with_clock(
        db: Db,
        ledger: chit_ledger::Ledger,
        key: IdentitySecret,
        currencies: Currencies,
        clock: Arc<dyn chit_ledger::Clock>,
    ) -> Result<Arc<Self>, ApiError> {
        let challenges = crate::challenges::Challenges::new(&key.to_seed());
        let node = Arc::new(Self {
            db,
            ledger,
            key,
            currencies,
            hub: Hub::default(),
            metrics: crate::metrics::Metrics::default(),
            clock,
            challenges,
            throttles: crate::throttle::Throttles::new(Default::default()),
            identities: crate::cache::Identities::default(),
            sessions: crate::cache::Sessions::default(),
            checks: tokio::sync::Semaphore::new(CHECKS_PARALLEL),
            signatures: crate::signatures::SignatureChecks::start(),
        });
        node.open_system_accounts()?;
        Ok(node)
    }

    /// Runs a write transaction, retrying when another writer (another node) got there first.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&mut dyn crate::db::Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 0;
        loop {
            match self.db.write(&mut f) {
                Err(StoreError::Conflict(_)) if attempt < WRITE_RETRIES_MAX => attempt += 1,
                other => return other,
            }
        }
    }

    /// The node's time in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.clock.now().as_nanos() / 1_000_000
    }

    pub fn info(&self) -> NodeInfo {
        let key = self.key.public();
        NodeInfo {
            node_key: key,
            fingerprint: key.fingerprint(),
            currencies: self
                .currencies
                .iter()
                .map(|c| CurrencyInfo {
                    code: c.code().to_string(),
                    decimals: c.decimals(),
                })
                .collect(),
            default_currency: self.currencies.default_currency().code().to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// Posts a signed message from `actor`. Retrying the same command returns the same message.
    pub fn post(&self, actor: &Handle, request: &PostRequest) -> Result<Envelope, ApiError> {
        let checked = self.verify_post_request(actor, request)?;
        self.post_checked(actor, request, checked)
    }

    fn post_checked(
        &self,
        actor: &Handle,
        request: &PostRequest,
        checked: SignatureChecked,
    ) -> Result<Envelope, ApiError> {
        let (conversation, members) = self.check_post(actor, request, checked)?;
        let posted = self.post_signed(actor, request, conversation, members, None)?;
        Ok(self.posted_text(posted))
    }

    /// [`Node::post`] for async callers (the HTTP handler and the calls socket). The signature
    /// is checked in a batch; when the recipient's key is cached the other checks need no I/O
    /// and run here, and on SQLite the task then awaits the batch writer. Everything else goes
    /// to the blocking pool. Same checks, same answers either way.
    pub async fn post_async(
        self: Arc<Self>,
        actor: Handle,
        request: PostRequest,
    ) -> Result<Envelope, ApiError> {
        let command = &request.command;
        let checked = self
            .verify_command_async(&actor, command, &request.signature, request.signer.as_ref())
            .await?;
        let cached = matches!(&request.command.action,
                Action::Say { to, .. } if self.identities.get(to).is_some());
        if !cached || !self.db.is_sqlite() {
            return blocking(move || self.post_checked(&actor, &request, checked)).await;
        }
        let (conversation, members) = self.check_post(&actor, &request, checked)?;
        let expected = request.command.clone();
        let job = self.posting_job(&actor, request, conversation, members, None);
        let posted = self.write_posting_async(Some(expected), job).await?;
        self.deliver(&posted);
        Ok(self.posted_text(posted))
    }

    /// [`Node::write_posting`] for async callers: on SQLite the task awaits the batch writer
    /// (one writer: no other node can get there first, so no retries); on PostgreSQL the
    /// transaction and its retries run on the blocking pool.
    pub(crate) async fn write_posting_async(
        self: &Arc<Self>,
        expected: Option<chit_proto::Command>,
        job: PostingJob<impl PostingWrite>,
    ) -> Result<store::Posted, ApiError> {
        if !self.db.is_sqlite() {
            let node = self.clone();
            return blocking(move || node.write_posting(expected.as_ref(), job)).await;
        }
        let posted = self.db.write_batched_async(job.locks, job.run).await?;
        check_not_reused(&posted, expected.as_ref())?;
        Ok(posted)
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
    ) -> Result<(String, Vec<Handle>), ApiError> {
        let command = &request.command;
        let Action::Say { to, body_digest } = &command.action else {
            return Err(ApiError::bad_request(
                "unsupported_action",
                "this endpoint posts text messages; payments have their own",
            ));
        };
        self.require_known(to)?;
        if body_digest != &digest_text(&request.body) {
            return Err(ApiError::bad_request(
                "body_mismatch",
                "the body is not the one the command signed",
            ));
        }
        let members = sorted_members(actor, to);
        check_recipients(&request.body, &members)?;
        Ok((direct_conversation(actor, to), members))
    }

    /// Checks that `command` is the logged-in `actor`'s own, well-formed and signed by them:
    /// by their identity key, or by an API key of theirs (`signer`) allowed to do this.
    pub(crate) fn verify_command(
        &self,
        actor: &Handle,
        command: &chit_proto::Command,
        signature: &Signature,
        signer: Option<&chit_proto::IdentityKey>,
    ) -> Result<SignatureChecked, ApiError> {
        check_actor_and_id(actor, command)?;
        if let Some(key) = signer {
            let scope = command.action.scope();
            self.verify_by_api_key(actor, key, scope, &command.signing_bytes(), signature)?;
            return Ok(SignatureChecked(()));
        }
        self.verifier(actor)?
            .ok_or_else(generic_auth_error)?
            .verify(&command.signing_bytes(), signature)
            .map_err(|_| bad_signature())?;
        Ok(SignatureChecked(()))
    }

    /// [`Node::verify_command`] for a message, offer or request.
    pub(crate) fn verify_post_request(
        &self,
        actor: &Handle,
        request: &PostRequest,
    ) -> Result<SignatureChecked, ApiError> {
        let command = &request.command;
        self.verify_command(actor, command, &request.signature, request.signer.as_ref())
    }

    /// [`Node::verify_command`] for async callers: a cached identity key's signature joins a
    /// batch ([`crate::signatures`]); an API key's or an uncached one (a read) goes to the check
    /// lane. Same answers either way.
    pub(crate) async fn verify_command_async(
        self: &Arc<Self>,
        actor: &Handle,
        command: &chit_proto::Command,
        signature: &Signature,
        signer: Option<&chit_proto::IdentityKey>,
    ) -> Result<SignatureChecked, ApiError> {
        let cached = signer
            .is_none()
            .then(|| self.identities.get(actor))
            .flatten();
        let Some(verifier) = cached else {
            let (actor, command, signature, signer) =
                (actor.clone(), command.clone(), *signature, signer.copied());
            return self
                .check(move |node| {
                    node.verify_command(&actor, &command, &signature, signer.as_ref())
                })
                .await;
        };
        check_actor_and_id(actor, command)?;
        self.signatures
            .verify(verifier, command.signing_bytes(), *signature)
            .await
            .map_err(|_| bad_signature())?;
        Ok(SignatureChecked(()))
    }

    /// A registered user's identity key, ready to verify; `None` for an unknown handle.
    fn verifier(&self, handle: &Handle) -> Result<Option<Arc<chit_proto::Verifier>>, ApiError> {
        if let Some(v) = self.identities.get(handle) {
            return Ok(Some(v));
        }
        let Some(user) = self.db.read(|c| store::user(c, handle))? else {
            return Ok(None);
        };
        let verifier = user
            .identity_key
            .verifier()
            .map_err(|_| ApiError::from(StoreError::Corrupt(format!("{handle}'s key"))))?;
        Ok(Some(self.identities.put(user.handle, verifier)))
    }

    /// Fails with `unknown_handle` unless `handle` is registered (cached, no I/O when known).
    pub(crate) fn require_known(&self, handle: &Handle) -> Result<(), ApiError> {
        match self.verifier(handle)? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(
                "unknown_handle",
                &format!("no user {handle}"),
            )),
        }
    }

    /// The auto-accept setting of the user behind `handle`, or `unknown_handle`. (Reads only
    /// the setting: a whole user row means checking two keys and parsing a certificate.)
    pub(crate) fn require_auto_accept(&self, handle: &Handle) -> Result<String, ApiError> {
        self.db
            .read(|c| store::auto_accept(c, handle))?
            .ok_or_else(|| ApiError::not_found("unknown_handle", &format!("no user {handle}")))
    }

    /// Posts a signed message (text, offer or request) into its conversation and delivers it.
    /// An offer or request brings its payment row, inserted in the same transaction. A retry
    /// returns the stored message.
    pub(crate) fn post_signed(
        &self,
        actor: &Handle,
        request: &PostRequest,
        conversation: String,
        members: Vec<Handle>,
        payment: Option<(chit_proto::api::PaymentPart, String)>,
    ) -> Result<store::Posted, ApiError> {
        let job = self.posting_job(actor, request.clone(), conversation, members, payment);
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
        conversation: String,
        members: Vec<Handle>,
        payment: Option<(chit_proto::api::PaymentPart, String)>,
    ) -> PostingJob<impl PostingWrite> {
        let sender = actor.clone();
        let time_ms = self.now_ms();
        PostingJob {
            locks: store::posting_locks(&members, &owned.command.id),
            run: move |c: &mut dyn crate::db::Conn| {
                if let Some((part, digest)) = &payment {
                    store::insert_payment(c, part, &conversation, digest, time_ms)?;
                }
                let part = payment.as_ref().map(|(part, _)| part);
                store::post_message(
                    c,
                    &NewMessage {
                        id: &owned.command.id,
                        conversation: &conversation,
                        members: &members,
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
    ) -> Result<store::Posted, ApiError> {
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

    /// Runs the checks before a command (a signature, short reads), never work that waits on a
    /// commit. On SQLite right on the calling task: a read there is a lookup in a WAL snapshot
    /// that waits for no writer, tens of microseconds, less than the hand-off to a blocking
    /// thread and back (which took a tenth of the node's CPU; settled payments/s rose ~10 %
    /// without it). On PostgreSQL every read is a round trip to the server, so the checks go to
    /// the blocking pool, at most [`CHECKS_PARALLEL`] at a time: a thousand calls in flight then
    /// wait here as tasks instead of as a thousand threads queueing for connections (which cost
    /// more in switching than the checks themselves).
    pub(crate) async fn check<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Node) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if self.db.is_sqlite() {
            return f(self);
        }
        let _admitted = self
            .checks
            .acquire()
            .await
            .map_err(|_| ApiError::internal())?;
        let node = self.clone();
        blocking(move || f(&node)).await
    }

    pub fn mailbox(
        &self,
        handle: &Handle,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, ApiError> {
        if limit == 0 || limit > MAILBOX_PAGE_MAX {
            return Err(ApiError::bad_request(
                "bad_limit",
                &format!("limit must be 1 to {MAILBOX_PAGE_MAX}"),
            ));
        }
        Ok(self.db.read(|c| store::mailbox(c, handle, after, limit))?)
    }
}

/// Runs blocking node work (database reads, the PostgreSQL engine) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "blocking task failed");
        ApiError::internal()
    })?
}

/// A stored message with the same id but another command: an id reused for something else.
fn check_not_reused(
    posted: &store::Posted,
    expected: Option<&chit_proto::Command>,
) -> Result<(), ApiError> {
    if !posted.created && posted.envelope.command.as_ref() != expected {
        return Err(ApiError::conflict(
            "id_conflict",
            "this id was used for a different command",
        ));
    }
    Ok(())
}

pub(crate) fn sorted_members(a: &Handle, b: &Handle) -> Vec<Handle> {
    let mut members = vec![a.clone(), b.clone()];
    members.sort();
    members.dedup();
    members
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

/// A command must be the logged-in user's own and carry a well-formed id.
fn check_actor_and_id(actor: &Handle, command: &chit_proto::Command) -> Result<(), ApiError> {
    if &command.actor != actor {
        return Err(ApiError::forbidden(
            "the command's actor is not the logged-in user",
        ));
    }
    check_command_id(&command.id)
}

/// Ids are 32 lowercase hex digits (128 bits), chosen by the wallet. One written form only:
/// `ABC…` and `abc…` are the same ledger transfer, so accepting both made two payments of
/// one hold.
pub(crate) fn check_command_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "bad_id",
            "ids are 32 lowercase hexadecimal digits (0-9, a-f)",
        ))
    }
}

/// The body must be sealed to exactly the conversation's members, once each: the node cannot
/// read it, but it can refuse a body some member could not open.
pub(crate) fn check_recipients(
    body: &chit_proto::SealedBody,
    members: &[Handle],
) -> Result<(), ApiError> {
    let mut to: Vec<&str> = body.recipients.iter().map(|r| r.to.as_str()).collect();
    to.sort_unstable();
    let want: Vec<&str> = members.iter().map(Handle::as_str).collect();
    if to != want {
        return Err(ApiError::bad_request(
            "bad_recipients",
            "the body must be sealed to every member of the conversation, once each",
        ));
    }
    Ok(())
}
