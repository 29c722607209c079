//! API keys: a user lets a token act for them in a few ways (IMPT's SASL login, scripts).
//! The grant is signed by the identity key; the node stores the public key derived from the
//! token, so it can check a presented token and verify what the key signs, but cannot sign
//! by itself. Revocation and expiry take effect at once: keys are read, never cached.

use std::sync::Arc;

use chit_proto::api::{ApiKeyInfo, ApiKeys, SignedCommand};
use chit_proto::{api_token_key, Action, Handle, IdentityKey, IdentitySecret, Signature, SCOPES};

use crate::error::NodeError;
use crate::node::Node;
use crate::store::{self, ApiKey};

/// Longest an API key may live.
pub const API_KEY_TTL_MAX_MS: u64 = 366 * 24 * 60 * 60 * 1000;
/// Longest label.
pub const API_KEY_LABEL_CHARS_MAX: usize = 64;
/// Most live keys one user may hold.
pub const API_KEYS_PER_USER_MAX: usize = 32;

/// A session opened with an API token: who, and the key the node signs with for this session
/// only (what the key may do is checked on every command it signs).
pub struct TokenSession {
    pub handle: Handle,
    pub key: IdentitySecret,
}

fn info(k: ApiKey) -> ApiKeyInfo {
    ApiKeyInfo {
        key: k.key,
        label: k.label,
        scope: k.scope,
        created_at_ms: k.created_at_ms,
        expires_at_ms: k.expires_at_ms,
        revoked_at_ms: k.revoked_at_ms,
    }
}

impl Node {
    /// Stores a key the actor granted (signed by their identity key). A retry of the same grant
    /// answers the stored key.
    pub async fn grant(
        self: &Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<ApiKeyInfo, NodeError> {
        self.run_blocking(move |node| node.grant_blocking(&actor, &signed))
            .await
    }

    /// The blocking body of [`Node::grant`].
    pub(crate) fn grant_blocking(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<ApiKeyInfo, NodeError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let Action::Grant {
            key,
            scope,
            expires_at_ms,
            label,
        } = &command.action
        else {
            return Err(NodeError::bad_request("unsupported_action", "not a grant"));
        };
        let now = self.now_ms();
        let mut scope = scope.clone();
        scope.sort_unstable();
        scope.dedup();
        if scope.is_empty() || scope.iter().any(|s| !SCOPES.contains(&s.as_str())) {
            return Err(NodeError::bad_request(
                "bad_scope",
                &format!("scope is one or more of {}", SCOPES.join(", ")),
            ));
        }
        if *expires_at_ms <= now || *expires_at_ms > now + API_KEY_TTL_MAX_MS {
            return Err(NodeError::bad_request(
                "bad_expiry",
                "an API key expires between now and 366 days from now",
            ));
        }
        if label.chars().count() > API_KEY_LABEL_CHARS_MAX || label.chars().any(char::is_control) {
            return Err(NodeError::bad_request(
                "bad_label",
                "a label is at most 64 printable characters",
            ));
        }
        let k = ApiKey {
            key: *key,
            handle: actor.clone(),
            scope,
            label: label.clone(),
            created_at_ms: now,
            expires_at_ms: *expires_at_ms,
            revoked_at_ms: None,
        };
        let inserted = self.write(|c| {
            let live = store::api_keys(c, actor)?
                .iter()
                .filter(|k| k.revoked_at_ms.is_none() && k.expires_at_ms > now)
                .count();
            if live >= API_KEYS_PER_USER_MAX {
                return Ok(false);
            }
            match store::insert_api_key(c, &k, command, &signed.signature) {
                Ok(()) => Ok(true),
                Err(chit_ledger::StoreError::Conflict(_)) => Ok(true),
                Err(e) => Err(e),
            }
        })?;
        if !inserted {
            return Err(NodeError::conflict(
                "too_many_keys",
                &format!("at most {API_KEYS_PER_USER_MAX} live API keys; revoke one first"),
            ));
        }
        match self.db.read(|c| store::api_key(c, key))? {
            Some(stored) if &stored.handle == actor => Ok(info(stored)),
            _ => Err(NodeError::conflict(
                "id_conflict",
                "this key was granted by someone else",
            )),
        }
    }

    /// Revokes one of the actor's keys at once.
    pub async fn revoke(
        self: &Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<ApiKeyInfo, NodeError> {
        self.run_blocking(move |node| node.revoke_blocking(&actor, &signed))
            .await
    }

    /// The blocking body of [`Node::revoke`].
    pub(crate) fn revoke_blocking(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<ApiKeyInfo, NodeError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let Action::Revoke { key } = &command.action else {
            return Err(NodeError::bad_request("unsupported_action", "not a revoke"));
        };
        let now = self.now_ms();
        self.write(|c| store::revoke_api_key(c, actor, key, now))?;
        match self.db.read(|c| store::api_key(c, key))? {
            Some(k) if &k.handle == actor => Ok(info(k)),
            _ => Err(NodeError::not_found(
                "unknown_key",
                "you have no such API key",
            )),
        }
    }

    pub async fn api_keys(self: &Arc<Self>, actor: Handle) -> Result<ApiKeys, NodeError> {
        self.run_blocking(move |node| node.api_keys_blocking(&actor))
            .await
    }

    /// The blocking body of [`Node::api_keys`].
    pub(crate) fn api_keys_blocking(&self, actor: &Handle) -> Result<ApiKeys, NodeError> {
        let keys = self.db.read(|c| store::api_keys(c, actor))?;
        Ok(ApiKeys {
            keys: keys.into_iter().map(info).collect(),
        })
    }

    /// Checks that `signature` over `message` is `actor`'s API key `key`, live and allowed
    /// `scope`. Every failure is the same answer.
    pub(crate) fn verify_by_api_key(
        &self,
        actor: &Handle,
        key: &IdentityKey,
        scope: Option<&str>,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), NodeError> {
        let denied = || NodeError::forbidden("this API key may not do that");
        let scope = scope.ok_or_else(denied)?;
        let k = self
            .db
            .read(|c| store::api_key(c, key))?
            .ok_or_else(denied)?;
        let live = k.revoked_at_ms.is_none() && k.expires_at_ms > self.now_ms();
        if &k.handle != actor || !live || !k.scope.iter().any(|s| s == scope) {
            return Err(denied());
        }
        key.verify(message, signature)
            .map_err(|_| crate::auth::bad_signature())
    }

    /// Opens a token session (IMPT's SASL PLAIN): the token must derive a live key of
    /// `handle`'s. `None` for every kind of failure alike.
    /// A valid token always opens its session; failures are counted against `from`'s budget
    /// and answer 429 once it is spent (see [`Node::login`]).
    pub async fn authenticate_token(
        self: &Arc<Self>,
        handle: Handle,
        token: String,
        from: crate::throttle::Source,
    ) -> Result<Option<TokenSession>, NodeError> {
        self.run_blocking(move |node| node.authenticate_token_blocking(&handle, &token, from))
            .await
    }

    /// The blocking body of [`Node::authenticate_token`].
    pub(crate) fn authenticate_token_blocking(
        &self,
        handle: &Handle,
        token: &str,
        from: crate::throttle::Source,
    ) -> Result<Option<TokenSession>, NodeError> {
        let secret = api_token_key(token);
        let live_key = self
            .db
            .read(|c| store::api_key(c, &secret.public()))?
            .filter(|k| {
                &k.handle == handle && k.revoked_at_ms.is_none() && k.expires_at_ms > self.now_ms()
            });
        match live_key {
            Some(k) => Ok(Some(TokenSession {
                handle: k.handle,
                key: secret,
            })),
            None => {
                self.login_failed(from)?;
                Ok(None)
            }
        }
    }
}
