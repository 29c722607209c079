//! Group checking of signatures: one thread takes every signature waiting and checks them in
//! one batch ([`chit_proto::verify_batch`], a fraction of the work of checking them one by one),
//! the way the batch writer shares one commit. Under light load a batch is one signature, so
//! nobody waits for company; under load the batches grow by themselves.

use std::sync::mpsc;
use std::sync::Arc;

use chit_proto::{KeyError, Signature, Verifier};

/// Most signatures in one batch: past a few dozen the batch saves little more per signature,
/// and a failed batch (someone sent a bad signature) costs rechecking each one.
pub const SIGNATURE_BATCH_MAX: usize = 64;
/// Most signatures waiting; beyond it a caller checks its own on the spot (backpressure that
/// never blocks an async thread for longer than one check).
pub const SIGNATURE_QUEUE_MAX: usize = 4096;

struct Check {
    verifier: Arc<Verifier>,
    message: Vec<u8>,
    signature: Signature,
    reply: tokio::sync::oneshot::Sender<Result<(), KeyError>>,
}

/// The queue in front of the checking thread; the thread stops when this is dropped.
pub struct SignatureChecks {
    queue: mpsc::SyncSender<Check>,
}

impl SignatureChecks {
    pub fn start() -> Self {
        let (queue, checks) = mpsc::sync_channel::<Check>(SIGNATURE_QUEUE_MAX);
        std::thread::Builder::new()
            .name("chit-node-signatures".into())
            .spawn(move || {
                while let Some(batch) = crate::db::next_batch(&checks, SIGNATURE_BATCH_MAX) {
                    check_batch(batch);
                }
            })
            .expect("spawn signature checker");
        Self { queue }
    }

    /// Checks `signature` over `message` by `verifier`'s key; the same answer as
    /// [`Verifier::verify`], sooner under load.
    pub async fn verify(
        &self,
        verifier: Arc<Verifier>,
        message: Vec<u8>,
        signature: Signature,
    ) -> Result<(), KeyError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let check = Check {
            verifier,
            message,
            signature,
            reply,
        };
        match self.queue.try_send(check) {
            Ok(()) => answer.await.unwrap_or(Err(KeyError::BadSignature)),
            Err(mpsc::TrySendError::Full(c) | mpsc::TrySendError::Disconnected(c)) => {
                c.verifier.verify(&c.message, &c.signature)
            }
        }
    }
}

/// Answers every check in `batch`: all at once when the batch passes, else one by one, so a
/// bad signature fails only its sender.
fn check_batch(batch: Vec<Check>) {
    let together = batch.len() > 1 && {
        let items: Vec<(&Verifier, &[u8], &Signature)> = batch
            .iter()
            .map(|c| (&*c.verifier, c.message.as_slice(), &c.signature))
            .collect();
        chit_proto::verify_batch(&items).is_ok()
    };
    for check in batch {
        let verdict = if together {
            Ok(())
        } else {
            check.verifier.verify(&check.message, &check.signature)
        };
        let _ = check.reply.send(verdict);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chit_proto::IdentitySecret;

    /// `n` signed messages by two keys; those at `bad` have a flipped bit.
    fn signed(n: u32, bad: impl Fn(u32) -> bool) -> Vec<(Arc<Verifier>, Vec<u8>, Signature)> {
        let keys = [IdentitySecret::generate(), IdentitySecret::generate()];
        (0..n)
            .map(|i| {
                let key = &keys[i as usize % 2];
                let message = format!("pay bob {i}").into_bytes();
                let mut signature = key.sign(&message);
                if bad(i) {
                    signature.0[40] ^= 1;
                }
                (
                    Arc::new(key.public().verifier().unwrap()),
                    message,
                    signature,
                )
            })
            .collect()
    }

    #[test]
    fn a_bad_signature_in_a_batch_fails_only_itself() {
        for bad in [|_| false, |i| i == 0 || i == 17 || i == 63] {
            let (mut batch, mut answers) = (Vec::new(), Vec::new());
            for (verifier, message, signature) in signed(64, bad) {
                let (reply, answer) = tokio::sync::oneshot::channel();
                batch.push(Check {
                    verifier,
                    message,
                    signature,
                    reply,
                });
                answers.push(answer);
            }
            check_batch(batch);
            for (i, mut answer) in answers.into_iter().enumerate() {
                assert_eq!(answer.try_recv().unwrap().is_err(), bad(i as u32), "{i}");
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_through_the_thread_answer_each_caller() {
        let checks = Arc::new(SignatureChecks::start());
        let bad = |i| i % 7 == 3;
        let tasks: Vec<_> = signed(500, bad)
            .into_iter()
            .map(|(verifier, message, signature)| {
                let checks = checks.clone();
                tokio::spawn(async move { checks.verify(verifier, message, signature).await })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap().is_err(), bad(i as u32), "{i}");
        }
    }
}
