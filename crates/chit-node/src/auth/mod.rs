//! Who may do what: identities, sessions and login ([`login`], [`challenges`]), API keys
//! ([`keys`]), and the check every signed command passes before anything else — its actor is
//! the logged-in user, its id well-formed, its signature good (`Node::verify_command`,
//! batched for async callers by [`signatures`]). [`cache`] keeps identity keys and sessions
//! in memory so that check rarely reads the database.

pub mod cache;
pub mod challenges;
pub mod keys;
pub mod login;
pub mod signatures;

use std::sync::Arc;

use chit_ledger::StoreError;
use chit_proto::api::PostRequest;
use chit_proto::{Handle, Signature};
use sha2::{Digest, Sha256};

use crate::error::NodeError;
use crate::node::Node;
use crate::store;

/// Proof that a command's signature was checked: what the checks after it take, so none of
/// them can be reached with an unchecked command.
pub(crate) struct SignatureChecked(());

pub(crate) fn bad_signature() -> NodeError {
    NodeError::bad_request("bad_signature", "the command signature does not verify")
}

pub(crate) fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Node {
    /// Checks that `command` is the logged-in `actor`'s own, well-formed and signed by them:
    /// by their identity key, or by an API key of theirs (`signer`) allowed to do this.
    pub(crate) fn verify_command(
        &self,
        actor: &Handle,
        command: &chit_proto::Command,
        signature: &Signature,
        signer: Option<&chit_proto::IdentityKey>,
    ) -> Result<SignatureChecked, NodeError> {
        check_actor_and_id(actor, command)?;
        if let Some(key) = signer {
            let scope = command.action.scope();
            self.verify_by_api_key(actor, key, scope, &command.signing_bytes(), signature)?;
            return Ok(SignatureChecked(()));
        }
        self.verifier(actor)?
            .ok_or(NodeError::Unauthorized)?
            .verify(&command.signing_bytes(), signature)
            .map_err(|_| bad_signature())?;
        Ok(SignatureChecked(()))
    }

    /// [`Node::verify_command`] for a message, offer or request.
    pub(crate) fn verify_post_request(
        &self,
        actor: &Handle,
        request: &PostRequest,
    ) -> Result<SignatureChecked, NodeError> {
        let command = &request.command;
        self.verify_command(actor, command, &request.signature, request.signer.as_ref())
    }

    /// [`Node::verify_command`] for async callers: a cached identity key's signature joins a
    /// batch ([`signatures`]); an API key's or an uncached one (a read) goes to the check lane.
    /// Same answers either way.
    pub(crate) async fn verify_command_async(
        self: &Arc<Self>,
        actor: &Handle,
        command: &chit_proto::Command,
        signature: &Signature,
        signer: Option<&chit_proto::IdentityKey>,
    ) -> Result<SignatureChecked, NodeError> {
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
    pub(crate) fn verifier(
        &self,
        handle: &Handle,
    ) -> Result<Option<Arc<chit_proto::Verifier>>, NodeError> {
        if let Some(v) = self.identities.get(handle) {
            return Ok(Some(v));
        }
        let Some(user) = self.db.read(|c| store::user(c, handle))? else {
            return Ok(None);
        };
        let verifier = user
            .identity_key
            .verifier()
            .map_err(|_| NodeError::from(StoreError::Corrupt(format!("{handle}'s key"))))?;
        Ok(Some(self.identities.put(user.handle, verifier)))
    }

    /// Fails with `unknown_handle` unless `handle` is registered (cached, no I/O when known).
    pub(crate) fn require_known(&self, handle: &Handle) -> Result<(), NodeError> {
        match self.verifier(handle)? {
            Some(_) => Ok(()),
            None => Err(NodeError::not_found(
                "unknown_handle",
                &format!("no user {handle}"),
            )),
        }
    }
}

/// A command must be the logged-in user's own and carry a well-formed id.
fn check_actor_and_id(actor: &Handle, command: &chit_proto::Command) -> Result<(), NodeError> {
    if &command.actor != actor {
        return Err(NodeError::forbidden(
            "the command's actor is not the logged-in user",
        ));
    }
    check_id_form(command.id.is_canonical())
}

/// Ids wallets send must be in their one written form ([`chit_proto::CommandId::is_canonical`]):
/// what is not an id at all never got this far (it does not decode).
pub(crate) fn check_id_form(canonical: bool) -> Result<(), NodeError> {
    if canonical {
        Ok(())
    } else {
        Err(NodeError::bad_request(
            "bad_id",
            "ids are 32 lowercase hexadecimal digits (0-9, a-f)",
        ))
    }
}
