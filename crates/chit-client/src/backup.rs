//! A passphrase-encrypted backup of a wallet's keys (`chit key export` / `chit key import`):
//! losing `keys.json` no longer loses the handle. The key comes from the passphrase by
//! Argon2id (RFC 9106; 64 MiB, 3 passes), the keys file is sealed with ChaCha20-Poly1305
//! (RFC 8439), and what the backup says in the clear (its format, whose it is, the KDF
//! settings) is bound to it as associated data, so none of it can be swapped unnoticed.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chit_proto::b64;
use chit_proto::keys::random_bytes;
use serde::{Deserialize, Serialize};

use crate::wallet::{write_file, KeysFile, WalletError};

/// The one format this version writes and reads.
pub const BACKUP_FORMAT: &str = "chit-wallet-backup/1";
/// Shortest passphrase accepted for a new backup.
pub const PASSPHRASE_CHARS_MIN: usize = 10;
/// Argon2id settings for new backups (OWASP's first choice is 46 MiB with one pass; more
/// memory and passes cost an attacker more and a person under a second once).
const KDF_MEMORY_KIB: u32 = 64 * 1024;
const KDF_PASSES: u32 = 3;
/// Bounds on what a backup may ask of the machine reading it.
const KDF_MEMORY_KIB_MAX: u32 = 1024 * 1024;
const KDF_PASSES_MAX: u32 = 16;

/// A backup file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    pub format: String,
    /// Whose keys these are (in the clear, so a person can tell backups apart).
    pub handle: String,
    pub kdf: Kdf,
    /// Base64url, 12 bytes.
    pub nonce: String,
    /// Base64url: `keys.json`, sealed.
    pub ciphertext: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    /// Always `argon2id`.
    pub algorithm: String,
    pub memory_kib: u32,
    pub passes: u32,
    pub parallelism: u32,
    /// Base64url, 16 bytes.
    pub salt: String,
}

/// Why a backup could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("a passphrase needs at least {PASSPHRASE_CHARS_MIN} characters")]
    WeakPassphrase,
    #[error("wrong passphrase, or the backup was altered")]
    WrongPassphrase,
    #[error("not a Chit wallet backup: {0}")]
    NotABackup(String),
    #[error(transparent)]
    Wallet(#[from] WalletError),
}

fn key(passphrase: &str, kdf: &Kdf) -> Result<Key, BackupError> {
    let salt = b64::decode(&kdf.salt).ok_or_else(|| BackupError::NotABackup("salt".into()))?;
    if kdf.algorithm != "argon2id"
        || kdf.memory_kib > KDF_MEMORY_KIB_MAX
        || kdf.passes > KDF_PASSES_MAX
        || kdf.parallelism == 0
        || kdf.parallelism > 8
    {
        return Err(BackupError::NotABackup("unsupported key derivation".into()));
    }
    let params = Params::new(kdf.memory_kib, kdf.passes, kdf.parallelism, Some(32))
        .map_err(|e| BackupError::NotABackup(e.to_string()))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &salt, &mut out)
        .map_err(|e| BackupError::NotABackup(e.to_string()))?;
    Ok(out.into())
}

/// What the backup says in the clear, bound to the ciphertext.
fn associated_data(b: &Backup) -> Vec<u8> {
    chit_proto::canon::Canon::new(BACKUP_FORMAT)
        .str(&b.handle)
        .str(&b.kdf.algorithm)
        .u64(u64::from(b.kdf.memory_kib))
        .u64(u64::from(b.kdf.passes))
        .u64(u64::from(b.kdf.parallelism))
        .str(&b.kdf.salt)
        .finish()
}

/// Seals the wallet's `keys.json` in `dir` under `passphrase`.
pub fn export(dir: &Path, passphrase: &str) -> Result<Backup, BackupError> {
    if passphrase.chars().count() < PASSPHRASE_CHARS_MIN {
        return Err(BackupError::WeakPassphrase);
    }
    let path = dir.join("keys.json");
    let bytes = std::fs::read(&path).map_err(|_| WalletError::Missing(dir.to_owned()))?;
    let keys: KeysFile = serde_json::from_slice(&bytes).map_err(|e| WalletError::DamagedKeys {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut backup = Backup {
        format: BACKUP_FORMAT.into(),
        handle: keys.handle.as_str().to_owned(),
        kdf: Kdf {
            algorithm: "argon2id".into(),
            memory_kib: KDF_MEMORY_KIB,
            passes: KDF_PASSES,
            parallelism: 1,
            salt: b64::encode(&random_bytes::<16>()),
        },
        nonce: b64::encode(&random_bytes::<12>()),
        ciphertext: String::new(),
    };
    let cipher = ChaCha20Poly1305::new(&key(passphrase, &backup.kdf)?);
    let nonce = b64::decode(&backup.nonce).expect("just encoded");
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &bytes,
                aad: &associated_data(&backup),
            },
        )
        .map_err(|_| BackupError::NotABackup("sealing failed".into()))?;
    backup.ciphertext = b64::encode(&sealed);
    Ok(backup)
}

/// Opens `backup` with `passphrase` and writes its keys into `dir` as a new wallet (mode
/// 0600). Refuses to overwrite a wallet already there.
pub fn import(dir: &Path, backup: &Backup, passphrase: &str) -> Result<String, BackupError> {
    if backup.format != BACKUP_FORMAT {
        return Err(BackupError::NotABackup(format!(
            "format {:?}, this wallet reads {BACKUP_FORMAT}",
            backup.format
        )));
    }
    let keys_path = dir.join("keys.json");
    if keys_path.exists() {
        return Err(WalletError::Exists(dir.to_owned()).into());
    }
    let nonce = b64::decode(&backup.nonce)
        .filter(|n| n.len() == 12)
        .ok_or_else(|| BackupError::NotABackup("nonce".into()))?;
    let sealed = b64::decode(&backup.ciphertext)
        .ok_or_else(|| BackupError::NotABackup("ciphertext".into()))?;
    let cipher = ChaCha20Poly1305::new(&key(passphrase, &backup.kdf)?);
    let bytes = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &sealed,
                aad: &associated_data(backup),
            },
        )
        .map_err(|_| BackupError::WrongPassphrase)?;
    let keys: KeysFile = serde_json::from_slice(&bytes)
        .map_err(|e| BackupError::NotABackup(format!("keys: {e}")))?;
    if keys.handle.as_str() != backup.handle {
        return Err(BackupError::NotABackup(
            "the handle does not match the keys".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| WalletError::File {
        path: dir.to_owned(),
        message: e.to_string(),
    })?;
    write_file(&keys_path, &bytes, true)?;
    Ok(keys.handle.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wallet_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeysFile {
            handle: chit_proto::Handle::new("alice").unwrap(),
            node_url: "http://127.0.0.1:8080".into(),
            node_key: chit_proto::IdentitySecret::generate().public(),
            identity_seed: b64::encode(&[1u8; 32]),
            encryption_seed: b64::encode(&[2u8; 32]),
        };
        std::fs::write(
            dir.path().join("keys.json"),
            serde_json::to_vec(&keys).unwrap(),
        )
        .unwrap();
        dir
    }

    #[test]
    fn a_backup_restores_the_same_keys_only_with_its_passphrase() {
        let from = wallet_dir();
        let backup = export(from.path(), "correct horse battery").unwrap();
        assert_eq!(backup.handle, "alice");
        assert!(
            !backup.ciphertext.contains("AQEB"),
            "the seeds are not in the clear"
        );
        let to = tempfile::tempdir().unwrap();
        let target = to.path().join("restored");
        assert!(matches!(
            import(&target, &backup, "wrong horse battery"),
            Err(BackupError::WrongPassphrase)
        ));
        assert!(
            !target.join("keys.json").exists(),
            "a failed import writes nothing"
        );
        assert_eq!(
            import(&target, &backup, "correct horse battery").unwrap(),
            "@alice"
        );
        assert_eq!(
            std::fs::read(target.join("keys.json")).unwrap(),
            std::fs::read(from.path().join("keys.json")).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(target.join("keys.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(
            import(&target, &backup, "correct horse battery"),
            Err(BackupError::Wallet(WalletError::Exists(_)))
        ));
    }

    #[test]
    fn weak_passphrases_and_altered_backups_are_refused() {
        let from = wallet_dir();
        assert!(matches!(
            export(from.path(), "short"),
            Err(BackupError::WeakPassphrase)
        ));
        let backup = export(from.path(), "correct horse battery").unwrap();
        let to = tempfile::tempdir().unwrap();
        let relabelled = Backup {
            handle: "mallory".into(),
            ..backup.clone()
        };
        assert!(matches!(
            import(to.path(), &relabelled, "correct horse battery"),
            Err(BackupError::WrongPassphrase)
        ));
        let greedy = Backup {
            kdf: Kdf {
                memory_kib: u32::MAX,
                ..backup.kdf.clone()
            },
            ..backup.clone()
        };
        assert!(matches!(
            import(to.path(), &greedy, "correct horse battery"),
            Err(BackupError::NotABackup(_))
        ));
        let other = Backup {
            format: "something/2".into(),
            ..backup
        };
        assert!(matches!(
            import(to.path(), &other, "correct horse battery"),
            Err(BackupError::NotABackup(_))
        ));
    }
}
