//! Accounts, transfers and the per-event results the ledger returns (TigerBeetle's model).

use std::fmt;

use chit_core::{AccountId, CurrencyCode, Timestamp, TransferId};

/// Whose money an account holds: a person's (never below zero) or the operator's bookkeeping.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum AccountKind {
    /// A user's account: debits may never exceed credits, so it never goes below zero.
    User,
    /// A system account (`bank`, `fees`, `offline` …): may go below zero, e.g. `bank` as money enters.
    System,
}

impl AccountKind {
    pub fn as_i16(self) -> i16 {
        match self {
            Self::User => 1,
            Self::System => 2,
        }
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        match v {
            1 => Some(Self::User),
            2 => Some(Self::System),
            _ => None,
        }
    }
}

/// A request to open an account. `code` says what it is for (e.g. bank, fees); `reference`
/// points at its owner. Both are opaque to the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NewAccount {
    pub id: AccountId,
    pub currency: CurrencyCode,
    pub kind: AccountKind,
    pub code: u16,
    pub reference: u128,
}

/// An account with its four running totals, all in minor units of `currency`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Account {
    pub id: AccountId,
    pub currency: CurrencyCode,
    pub kind: AccountKind,
    pub code: u16,
    pub reference: u128,
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
    pub timestamp: Timestamp,
}

impl Account {
    /// credits_posted − debits_posted: what the account holds.
    pub fn balance(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// balance − debits_pending: what can still be spent (held money is not).
    pub fn available(&self) -> i128 {
        self.balance() - i128::from(self.debits_pending)
    }
}

/// What a transfer does. Post and void take their accounts and currency from the pending transfer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TransferAction {
    /// Moves money at once.
    Immediate {
        debit_account_id: AccountId,
        credit_account_id: AccountId,
        amount: u64,
        currency: CurrencyCode,
    },
    /// Holds money (first phase); expires, releasing it, at `expires_at` if given.
    Pending {
        debit_account_id: AccountId,
        credit_account_id: AccountId,
        amount: u64,
        currency: CurrencyCode,
        expires_at: Option<Timestamp>,
    },
    /// Completes a pending transfer with `amount` (at most the held amount; the rest is released).
    PostPending { pending_id: TransferId, amount: u64 },
    /// Cancels a pending transfer, releasing the whole held amount.
    VoidPending { pending_id: TransferId },
}

/// A transfer request. `linked` ties it to the next one: the chain succeeds or fails as a whole.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NewTransfer {
    pub id: TransferId,
    pub action: TransferAction,
    /// Why the money moves (the node's reason codes: offer, invoice, top-up …).
    pub code: u16,
    /// What it moves for: the offer, invoice or voucher id; 0 for none.
    pub reference: u128,
    pub linked: bool,
}

/// The stored kind of a transfer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TransferKind {
    Immediate,
    Pending,
    PostPending,
    VoidPending,
}

impl TransferKind {
    pub fn as_i16(self) -> i16 {
        match self {
            Self::Immediate => 0,
            Self::Pending => 1,
            Self::PostPending => 2,
            Self::VoidPending => 3,
        }
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        Some(match v {
            0 => Self::Immediate,
            1 => Self::Pending,
            2 => Self::PostPending,
            3 => Self::VoidPending,
            _ => return None,
        })
    }
}

/// A committed transfer. Immutable: mistakes are corrected by new transfers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transfer {
    pub id: TransferId,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    /// For a post: the amount posted; for a void: the amount released.
    pub amount: u64,
    pub currency: CurrencyCode,
    pub kind: TransferKind,
    /// The pending transfer a post or void resolves.
    pub pending_id: Option<TransferId>,
    /// When a pending transfer expires.
    pub expires_at: Option<Timestamp>,
    pub code: u16,
    pub reference: u128,
    pub linked: bool,
    /// Assigned by the ledger; strictly increasing in commit order.
    pub timestamp: Timestamp,
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PendingState {
    Pending,
    Posted,
    Voided,
    Expired,
}

impl PendingState {
    pub fn as_i16(self) -> i16 {
        match self {
            Self::Pending => 0,
            Self::Posted => 1,
            Self::Voided => 2,
            Self::Expired => 3,
        }
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        Some(match v {
            0 => Self::Pending,
            1 => Self::Posted,
            2 => Self::Voided,
            3 => Self::Expired,
            _ => return None,
        })
    }
}

/// The mutable status of one pending transfer (the transfer row itself never changes).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PendingStatus {
    pub id: TransferId,
    pub state: PendingState,
    pub expires_at: Option<Timestamp>,
    /// The post or void transfer that resolved it; `None` while pending or when it expired.
    pub resolved_by: Option<TransferId>,
    pub resolved_at: Option<Timestamp>,
}

/// A successful result: the event was applied now, or had been applied before (a retry).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Applied {
    Created { timestamp: Timestamp },
    Exists { timestamp: Timestamp },
}

/// A field of an already-existing transfer or account that a retry disagrees with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Field {
    Kind,
    DebitAccountId,
    CreditAccountId,
    Amount,
    Currency,
    PendingId,
    ExpiresAt,
    Code,
    Reference,
    Linked,
    AccountKind,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kind => "kind",
            Self::DebitAccountId => "debit_account_id",
            Self::CreditAccountId => "credit_account_id",
            Self::Amount => "amount",
            Self::Currency => "currency",
            Self::PendingId => "pending_id",
            Self::ExpiresAt => "expires_at",
            Self::Code => "code",
            Self::Reference => "reference",
            Self::Linked => "linked",
            Self::AccountKind => "account_kind",
        }
    }
}

/// Why one account could not be created.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this id exists with a different {}", .0.as_str())]
    ExistsWithDifferent(Field),
}

impl AccountError {
    /// The stable snake_case code for APIs.
    pub fn code(&self) -> String {
        match self {
            Self::ExistsWithDifferent(f) => format!("exists_with_different_{}", f.as_str()),
        }
    }
}

/// Why one transfer was rejected. Each rejection changes nothing.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum TransferError {
    #[error("a transfer with this id exists with a different {}", .0.as_str())]
    ExistsWithDifferent(Field),
    #[error("another transfer in the linked chain failed")]
    LinkedEventFailed,
    #[error("the last transfer of the request is linked to nothing")]
    LinkedEventChainOpen,
    #[error("amount must not be zero")]
    AmountMustNotBeZero,
    #[error("amount is too large")]
    AmountTooLarge,
    #[error("debit and credit accounts must be different")]
    AccountsMustBeDifferent,
    #[error("expiry must be in the future")]
    ExpiresAtMustBeInFuture,
    #[error("debit account not found")]
    DebitAccountNotFound,
    #[error("credit account not found")]
    CreditAccountNotFound,
    #[error("transfer currency does not match the accounts' currency")]
    CurrencyMismatch,
    #[error("insufficient funds")]
    InsufficientFunds,
    #[error("the debit account's totals would overflow")]
    OverflowsDebits,
    #[error("the credit account's totals would overflow")]
    OverflowsCredits,
    #[error("pending transfer not found")]
    PendingTransferNotFound,
    #[error("the referenced transfer is not a pending transfer")]
    PendingTransferNotPending,
    #[error("pending transfer already posted")]
    PendingTransferAlreadyPosted,
    #[error("pending transfer already voided")]
    PendingTransferAlreadyVoided,
    #[error("pending transfer expired")]
    PendingTransferExpired,
    #[error("amount exceeds the pending transfer's amount")]
    ExceedsPendingTransferAmount,
}

impl TransferError {
    /// The stable snake_case code for APIs, e.g. `insufficient_funds`.
    pub fn code(&self) -> String {
        let fixed = match self {
            Self::ExistsWithDifferent(f) => return format!("exists_with_different_{}", f.as_str()),
            Self::LinkedEventFailed => "linked_event_failed",
            Self::LinkedEventChainOpen => "linked_event_chain_open",
            Self::AmountMustNotBeZero => "amount_must_not_be_zero",
            Self::AmountTooLarge => "amount_too_large",
            Self::AccountsMustBeDifferent => "accounts_must_be_different",
            Self::ExpiresAtMustBeInFuture => "expires_at_must_be_in_future",
            Self::DebitAccountNotFound => "debit_account_not_found",
            Self::CreditAccountNotFound => "credit_account_not_found",
            Self::CurrencyMismatch => "currency_mismatch",
            Self::InsufficientFunds => "insufficient_funds",
            Self::OverflowsDebits => "overflows_debits",
            Self::OverflowsCredits => "overflows_credits",
            Self::PendingTransferNotFound => "pending_transfer_not_found",
            Self::PendingTransferNotPending => "pending_transfer_not_pending",
            Self::PendingTransferAlreadyPosted => "pending_transfer_already_posted",
            Self::PendingTransferAlreadyVoided => "pending_transfer_already_voided",
            Self::PendingTransferExpired => "pending_transfer_expired",
            Self::ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
        };
        fixed.to_owned()
    }
}

/// The result of one account creation.
pub type AccountResult = Result<Applied, AccountError>;
/// The result of one transfer.
pub type TransferResult = Result<Applied, TransferError>;

impl fmt::Display for TransferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Immediate => "immediate",
            Self::Pending => "pending",
            Self::PostPending => "post_pending",
            Self::VoidPending => "void_pending",
        })
    }
}
