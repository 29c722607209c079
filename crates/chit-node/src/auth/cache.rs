//! In-memory caches of what never changes once written, so the hot path (every signed command)
//! does not read the database for it: a user's identity key, and a session's owner and expiry.
//! Both are filled from the database on a miss, so a user registered or a session opened on
//! another node is found all the same. Neither holds anything that can be changed later; a
//! future key rotation or session revocation must remove the entry here as it writes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chit_proto::{Handle, Verifier};

/// Most entries each cache holds; when full it starts again empty (a miss only costs a read).
pub const CACHED_MAX: usize = 100_000;

/// Identity keys by handle, decompressed and ready to verify.
#[derive(Default)]
pub struct Identities(RwLock<HashMap<Handle, Arc<Verifier>>>);

impl Identities {
    pub fn get(&self, handle: &Handle) -> Option<Arc<Verifier>> {
        self.0.read().expect("identity cache").get(handle).cloned()
    }

    pub fn put(&self, handle: Handle, verifier: Verifier) -> Arc<Verifier> {
        let verifier = Arc::new(verifier);
        let mut map = self.0.write().expect("identity cache");
        if map.len() >= CACHED_MAX {
            map.clear();
        }
        map.insert(handle, verifier.clone());
        verifier
    }
}

/// Live sessions by token hash: owner and expiry.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<[u8; 32], (Handle, u64)>>);

impl Sessions {
    /// The owner of a session that is still live at `now_ms`; an expired entry is dropped.
    pub fn get(&self, token_hash: &[u8; 32], now_ms: u64) -> Option<Handle> {
        let mut map = self.0.lock().expect("session cache");
        match map.get(token_hash) {
            Some((handle, expires)) if *expires > now_ms => Some(handle.clone()),
            Some(_) => {
                map.remove(token_hash);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, token_hash: [u8; 32], handle: Handle, expires_at_ms: u64, now_ms: u64) {
        let mut map = self.0.lock().expect("session cache");
        if map.len() >= CACHED_MAX {
            map.retain(|_, (_, expires)| *expires > now_ms);
            if map.len() >= CACHED_MAX {
                map.clear();
            }
        }
        map.insert(token_hash, (handle, expires_at_ms));
    }
}
