//! Identity and sessions: registration, login challenges, login, session lookup, the
//! directory of users. Everything a stranger can reach without a session is budgeted per
//! source address ([`crate::throttle`]), never per handle, so nobody can lock an owner out.

use std::sync::Arc;

use std::time::Instant;

use chit_ledger::StoreError;
use chit_proto::api::{ChallengeResponse, LoginResponse, RegisterResponse, UserInfo};
use chit_proto::keys::random_bytes;
use chit_proto::{b64, login_bytes, Certificate, Handle, Registration, Signature};

use crate::auth::hash_token;
use crate::error::NodeError;
use crate::node::Node;
use crate::store;
use crate::throttle::{Source, Throttle};

/// How far a registration's clock may be from the node's.
const REGISTRATION_SKEW_MS: u64 = 5 * 60 * 1000;
/// How long a login challenge stays valid.
const CHALLENGE_TTL_MS: u64 = 60 * 1000;
/// How long a session lasts.
pub const SESSION_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// A spent budget: 429, saying when to come back.
fn throttled(throttle: &Throttle, from: Source, what: &str) -> Result<(), NodeError> {
    throttle.take(from, Instant::now()).map_err(|wait| {
        NodeError::rate_limited(&format!(
            "too many {what} from this address; try again in {} s",
            wait.as_secs().max(1)
        ))
    })
}

impl Node {
    /// Registers a handle: the signature proves possession of the identity key and binds the
    /// encryption key; the answer is a node-signed certificate. Budgeted per address.
    pub async fn register(
        self: &Arc<Self>,
        registration: Registration,
        signature: Signature,
        from: Source,
    ) -> Result<RegisterResponse, NodeError> {
        self.run_blocking(move |node| node.register_blocking(&registration, &signature, from))
            .await
    }

    /// The blocking body of [`Node::register`].
    pub(crate) fn register_blocking(
        &self,
        registration: &Registration,
        signature: &Signature,
        from: Source,
    ) -> Result<RegisterResponse, NodeError> {
        registration.verify(signature).map_err(|_| {
            NodeError::bad_request(
                "bad_signature",
                "the registration signature does not verify",
            )
        })?;
        let now = self.now_ms();
        if registration.created_at_ms.abs_diff(now) > REGISTRATION_SKEW_MS {
            return Err(NodeError::bad_request(
                "stale_registration",
                "the registration's time is more than 5 minutes from the node's clock",
            ));
        }
        // A retry of a registration that was made gets its certificate, whatever the budget.
        if let Some(existing) = self.same_registration(registration)? {
            return Ok(existing);
        }
        throttled(&self.throttles.registrations, from, "registrations")?;
        let certificate = Certificate::issue(registration, now, &self.key);
        // Accounts first: a registered user always has somewhere for money to go.
        self.open_user_accounts(&registration.handle)?;
        match self.write(|c| store::create_user(c, &certificate, signature, now)) {
            Ok(()) => {
                crate::metrics::Metrics::inc(&self.metrics.registrations);
                Ok(RegisterResponse { certificate })
            }
            Err(StoreError::Conflict(_)) => match self.same_registration(registration)? {
                Some(existing) => Ok(existing),
                None => Err(NodeError::conflict(
                    "handle_taken",
                    &format!("{} is taken", registration.handle),
                )),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// The certificate of `registration` if that very registration (same keys) was made.
    fn same_registration(
        &self,
        registration: &Registration,
    ) -> Result<Option<RegisterResponse>, NodeError> {
        let existing = self.db.read(|c| store::user(c, &registration.handle))?;
        Ok(existing
            .filter(|u| {
                u.identity_key == registration.identity_key
                    && u.encryption_key == registration.encryption_key
            })
            .map(|u| RegisterResponse {
                certificate: u.certificate,
            }))
    }

    /// A challenge to sign for logging in as `handle`. Issued for unknown handles too (the
    /// answer must not reveal who exists) and written nowhere.
    pub fn challenge(&self, handle: &Handle, from: Source) -> Result<ChallengeResponse, NodeError> {
        throttled(&self.throttles.challenges, from, "login challenges")?;
        let expires_at_ms = self.now_ms() + CHALLENGE_TTL_MS;
        let challenge = self.challenges.issue(handle, expires_at_ms, random_bytes());
        Ok(ChallengeResponse {
            challenge: b64::encode(&challenge),
            expires_at_ms,
        })
    }

    /// Checks a signed challenge and opens a session. Every failure looks the same. The
    /// signature is checked before any budget: a valid login always succeeds; failures are
    /// counted per address, and once its budget is spent they answer 429.
    pub async fn login(
        self: &Arc<Self>,
        handle: Handle,
        challenge: String,
        signature: Signature,
        from: Source,
    ) -> Result<LoginResponse, NodeError> {
        self.run_blocking(move |node| node.login_blocking(&handle, &challenge, &signature, from))
            .await
    }

    /// The blocking body of [`Node::login`].
    pub(crate) fn login_blocking(
        &self,
        handle: &Handle,
        challenge: &str,
        signature: &Signature,
        from: Source,
    ) -> Result<LoginResponse, NodeError> {
        let now = self.now_ms();
        let verified = self.login_verifies(handle, challenge, signature, now)?;
        match verified {
            Some(challenge) if self.challenges.spend(&challenge, now) => {}
            _ => {
                crate::metrics::Metrics::inc(&self.metrics.logins_failed);
                self.login_failed(from)?;
                return Err(NodeError::Unauthorized);
            }
        }
        crate::metrics::Metrics::inc(&self.metrics.logins_ok);
        let token = b64::encode(&random_bytes::<32>());
        let expires_at_ms = now + SESSION_TTL_MS;
        self.write(|c| store::create_session(c, &hash_token(&token), handle, expires_at_ms))?;
        Ok(LoginResponse {
            token,
            expires_at_ms,
        })
    }

    /// The challenge's bytes if it is this node's, live, unspent, for `handle`, and signed by
    /// `handle`'s identity key.
    fn login_verifies(
        &self,
        handle: &Handle,
        challenge: &str,
        signature: &Signature,
        now: u64,
    ) -> Result<Option<Vec<u8>>, NodeError> {
        let Some(challenge) = b64::decode(challenge) else {
            return Ok(None);
        };
        if self.challenges.check(handle, &challenge, now).is_err() {
            return Ok(None);
        }
        let Some(user) = self.db.read(|c| store::user(c, handle))? else {
            return Ok(None);
        };
        let signed = user
            .identity_key
            .verify(&login_bytes(handle, &challenge), signature)
            .is_ok();
        Ok(signed.then_some(challenge))
    }

    /// Counts a failed login (challenge or API token) from `from`: `Err` (429) once the
    /// address has spent its budget for failures.
    pub(crate) fn login_failed(&self, from: Source) -> Result<(), NodeError> {
        throttled(&self.throttles.login_failures, from, "failed logins")
    }

    /// The handle behind a bearer token, or the generic authentication error.
    pub async fn authenticate(self: &Arc<Self>, token: String) -> Result<Handle, NodeError> {
        self.run_blocking(move |node| node.authenticate_blocking(&token))
            .await
    }

    /// The blocking body of [`Node::authenticate`].
    pub(crate) fn authenticate_blocking(&self, token: &str) -> Result<Handle, NodeError> {
        if let Some(handle) = self.authenticate_cached(token) {
            return Ok(handle);
        }
        let hash = hash_token(token);
        let now = self.now_ms();
        let (handle, expires_at_ms) = self
            .db
            .read(|c| store::session(c, &hash, now))?
            .ok_or(NodeError::Unauthorized)?;
        self.sessions.put(hash, handle.clone(), expires_at_ms, now);
        Ok(handle)
    }

    /// The handle behind a bearer token if the session is in memory (no I/O: async callers
    /// try this first and go to [`Node::authenticate`] on a blocking thread otherwise).
    pub fn authenticate_cached(&self, token: &str) -> Option<Handle> {
        self.sessions.get(&hash_token(token), self.now_ms())
    }

    /// A stranger's lookup of a user (`GET /v1/users/{handle}`). A directory must answer
    /// lookups, so this is open, but budgeted per address so it cannot be crawled quickly.
    pub async fn lookup(
        self: &Arc<Self>,
        handle: Handle,
        from: Source,
    ) -> Result<UserInfo, NodeError> {
        self.run_blocking(move |node| node.lookup_blocking(&handle, from))
            .await
    }

    /// The blocking body of [`Node::lookup`].
    pub(crate) fn lookup_blocking(
        &self,
        handle: &Handle,
        from: Source,
    ) -> Result<UserInfo, NodeError> {
        throttled(&self.throttles.lookups, from, "lookups")?;
        self.user_info_blocking(handle)
    }

    /// A user's keys and certificate.
    pub async fn user_info(self: &Arc<Self>, handle: Handle) -> Result<UserInfo, NodeError> {
        self.run_blocking(move |node| node.user_info_blocking(&handle))
            .await
    }

    /// The blocking body of [`Node::user_info`].
    pub(crate) fn user_info_blocking(&self, handle: &Handle) -> Result<UserInfo, NodeError> {
        let user = self
            .db
            .read(|c| store::user(c, handle))?
            .ok_or_else(|| NodeError::not_found("unknown_handle", &format!("no user {handle}")))?;
        Ok(UserInfo {
            handle: user.handle,
            identity_key: user.identity_key,
            encryption_key: user.encryption_key,
            certificate: user.certificate,
        })
    }

    /// Deletes up to `limit` sessions that have expired; returns how many. Run by the workers.
    pub fn sweep_sessions(&self, limit: usize) -> Result<usize, NodeError> {
        let now = self.now_ms();
        Ok(self.write(|c| store::delete_expired_sessions(c, now, limit))?)
    }
}
