//! The command line as clap sees it: every command, argument and flag with what it takes and
//! an example. Parsing only; `main` dispatches.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const ID_HELP: &str = "The payment's id: any unique prefix of it, or of the 8-digit short form that `chit inbox`, `chit thread` and `chit history` show (case does not matter)";
const AMOUNT_HELP: &str = "An amount: 12.50 in the node's default currency, or CUR:12.50 (e.g. EUR:12.50); positive, with at most the currency's decimals";
const HANDLE_HELP: &str = "Someone's handle, with or without the @ (e.g. @bob)";

#[derive(Parser)]
#[command(
    name = "chit",
    version,
    about = "Chit: a payment network where the payment is the message",
    after_help = "Start with `chit serve` (the node), then in another terminal:\n  chit --wallet /tmp/alice register alice\n  chit --wallet /tmp/alice link sandbox \"DE89 3704 0044 0532 0130 00\"\n  chit --wallet /tmp/alice topup 100\n  chit --wallet /tmp/alice send @bob 12.50 --note lunch\nEvery command takes --json; errors are one line, JSON under --json, and the exit code is not 0."
)]
pub struct Cli {
    /// The node to talk to, as a URL or host:port [default: the node the wallet registered at, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "CHIT_NODE", value_name = "URL")]
    pub node: Option<String>,
    /// The wallet directory: keys, session, messages [default: ~/.chit]
    #[arg(long, global = true, env = "CHIT_WALLET", value_name = "DIR")]
    pub wallet: Option<PathBuf>,
    /// Print JSON instead of text (errors too: {"error":{"code":…,"message":…}})
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the node: ledger, messages, the HTTP API and the IMPT gateway
    #[command(
        after_help = "Examples:\n  chit serve\n  chit serve --listen 0.0.0.0:8080 --data-dir /var/lib/chit\n  chit serve --database postgres://postgres@127.0.0.1/chit --currency EUR/2 --currency JPY/0"
    )]
    Serve(ServeArgs),
    /// Make keys here and register a handle at the node
    #[command(
        after_help = "Example:\n  chit --wallet /tmp/alice register alice --node 127.0.0.1:8080\nThen back the keys up: chit key export alice-keys.json"
    )]
    Register {
        /// The handle to take: 3 to 32 letters, digits or _ . -, starting with a letter
        handle: String,
    },
    /// Show this wallet's handle, node and keys
    Whoami,
    /// Show the balance, and what is available (less money held in open offers)
    Balance,
    /// Link an external account on a rail; the rail verifies it before it is stored
    #[command(after_help = "Example:\n  chit link sandbox \"DE89 3704 0044 0532 0130 00\"")]
    Link {
        /// The rail: `sandbox` (play money, the only one so far)
        rail: String,
        /// The account on that rail: an IBAN for the sandbox rail
        reference: String,
    },
    /// Add money from the linked sandbox account (play money)
    #[command(after_help = "Example:\n  chit topup 100")]
    Topup {
        #[arg(help = AMOUNT_HELP, allow_hyphen_values = true)]
        amount: String,
    },
    /// Move money out to the linked sandbox account
    #[command(after_help = "Example:\n  chit cashout EUR:20")]
    Cashout {
        #[arg(help = AMOUNT_HELP, allow_hyphen_values = true)]
        amount: String,
    },
    /// Send a text message, sealed so only the two of you can read it
    #[command(after_help = "Example:\n  chit say @bob \"lunch money coming\"")]
    Say {
        #[arg(help = HANDLE_HELP)]
        to: String,
        /// The text
        #[arg(allow_hyphen_values = true)]
        text: String,
    },
    /// Offer a payment: the money is held until the recipient accepts, declines, or it expires
    #[command(
        after_help = "Examples:\n  chit send @bob 12.50 --note lunch\n  chit send @bob EUR:5 --expires 30m"
    )]
    Send {
        #[arg(help = HANDLE_HELP)]
        to: String,
        #[arg(help = AMOUNT_HELP, allow_hyphen_values = true)]
        amount: String,
        /// A note for the recipient, sealed (the node cannot read it)
        #[arg(long, default_value = "")]
        note: String,
        /// How long the offer stays open, as 90s, 30m, 24h or 7d (at most 30d)
        #[arg(long, default_value = "24h")]
        expires: String,
    },
    /// Ask someone for money (an invoice): they choose Pay now, Pay later or Reject
    #[command(
        after_help = "Examples:\n  chit request @alice 20 --note \"flat share\"\n  chit request @alice --template rent"
    )]
    Request {
        #[arg(help = HANDLE_HELP)]
        from: String,
        #[arg(help = AMOUNT_HELP, allow_hyphen_values = true)]
        amount: Option<String>,
        /// A note for the payer, sealed (the node cannot read it)
        #[arg(long)]
        note: Option<String>,
        /// How long the request stays open, as 90s, 30m, 24h or 7d [default: 7d]
        #[arg(long)]
        expires: Option<String>,
        /// Fill amount, note and expiry from a saved template (see `chit template`)
        #[arg(long)]
        template: Option<String>,
    },
    /// Pay a request now, or later with --at
    #[command(
        after_help = "Examples:\n  chit pay 3f2a9c1d\n  chit pay 3f2a --at 2h\n  chit pay 3f2a --at 2026-12-24T09:00+01:00\nRun it again with another --at to move the time."
    )]
    Pay {
        #[arg(help = ID_HELP)]
        id: String,
        /// When to pay: a duration from now (2h, 3d) or a date and time with its offset (2026-12-24T09:00Z, 2026-12-24T10:00+01:00); it must be before the request expires
        #[arg(long)]
        at: Option<String>,
    },
    /// Reject a request (refuse to pay it); to turn down an offer, use `decline`
    Reject {
        #[arg(help = ID_HELP)]
        id: String,
    },
    /// Accept an offer: the held money becomes yours
    Accept {
        #[arg(help = ID_HELP)]
        id: String,
    },
    /// Decline an offer: the held money goes back; to refuse a request, use `reject`
    Decline {
        #[arg(help = ID_HELP)]
        id: String,
    },
    /// Withdraw something you made that is still open: your offer (the money comes back) or your request
    Cancel {
        #[arg(help = ID_HELP)]
        id: String,
    },
    /// Give back a payment you received (an accepted offer or a paid request), in full
    Refund {
        #[arg(help = ID_HELP)]
        id: String,
    },
    /// Show what is new: messages and payments from others (fetches from the node)
    #[command(after_help = "Examples:\n  chit inbox\n  chit inbox --wait 30")]
    Inbox {
        /// Wait up to this many seconds for something to arrive when nothing is new
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
    },
    /// Print messages as they arrive, until interrupted
    Listen,
    /// Your conversations, most recent first, with unread counts
    Chats {
        /// At most this many conversations
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A conversation read back in order, yours and theirs, each payment with its state now
    #[command(after_help = "Examples:\n  chit thread @bob\n  chit thread bob --limit 200")]
    Thread {
        #[arg(help = HANDLE_HELP)]
        with: String,
        /// Show the last N messages
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Every money movement and payment, with the balance after each (works with the node down)
    #[command(
        after_help = "Examples:\n  chit history\n  chit history --format csv --since 2026-12-01 --until 2027-01-01 > december.csv\n  chit history --since 7d"
    )]
    History {
        /// table for reading, csv for a spreadsheet (ISO 8601 times, amount and currency in columns), json for programs
        #[arg(long, value_enum, default_value_t = HistoryFormat::Table)]
        format: HistoryFormat,
        /// Only lines from this time on: a date (2026-12-01, midnight UTC), a time with its offset (2026-12-01T09:00+01:00) or a duration back from now (7d)
        #[arg(long)]
        since: Option<String>,
        /// Only lines before this time (same forms as --since)
        #[arg(long)]
        until: Option<String>,
    },
    /// Show a payment's signed receipts; --verify checks the node's signature offline
    #[command(after_help = "Example:\n  chit receipt 3f2a9c1d --verify")]
    Receipt {
        /// The payment's or the receipt's id (a unique prefix, or of the short form)
        id: String,
        /// Check each receipt against the node key this wallet pinned (no network needed)
        #[arg(long)]
        verify: bool,
    },
    /// Accept offers without being asked: off, contacts (people you have written to) or everyone; without a mode, show the current one
    #[command(
        name = "auto-accept",
        after_help = "Examples:\n  chit auto-accept\n  chit auto-accept contacts"
    )]
    AutoAccept {
        /// off: every offer waits; contacts: accepted at once from people you have written to; everyone
        #[arg(value_enum)]
        mode: Option<AutoAcceptMode>,
    },
    /// API tokens: let another program (an IMPT client, a script) act for you within a scope
    Token {
        #[command(subcommand)]
        op: TokenCmd,
    },
    /// Saved invoice templates (kept in the wallet only)
    Template {
        #[command(subcommand)]
        op: TemplateCmd,
    },
    /// Back up or restore this wallet's keys, encrypted with a passphrase
    Key {
        #[command(subcommand)]
        op: KeyCmd,
    },
    /// Offline devices: a software secure element on this computer that pays with no network
    Device {
        #[command(subcommand)]
        op: DeviceCmd,
    },
    /// Pay and be paid with no network: money on a device, vouchers as text or QR, claimed when online
    Offline {
        #[command(subcommand)]
        op: OfflineCmd,
    },
    /// The operator's tools, run on the node's machine against its data
    Admin {
        #[command(subcommand)]
        op: AdminCmd,
    },
    /// Run a benchmark and print its figures with the machine it ran on
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
}

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Check a node's whole store: every stored signature, every balance recomputed from the
    /// transfer history, the ledger's invariants, and each payment's state against the ledger.
    /// Read-only (safe while the node runs); exits 1 if anything is wrong
    #[command(
        after_help = "Examples:\n  chit admin audit\n  chit admin audit --data-dir /var/lib/chit --json\n  chit admin audit --data-dir /var/lib/chit --database postgres://postgres@127.0.0.1/chit"
    )]
    Audit {
        /// The node's data directory (its key, and its SQLite files unless --database is given)
        #[arg(
            long,
            env = "CHIT_DATA_DIR",
            default_value = "./chit-data",
            value_name = "DIR"
        )]
        data_dir: PathBuf,
        /// The node's PostgreSQL database, when it keeps its state there
        #[arg(long, env = "CHIT_DATABASE", value_name = "postgres://…")]
        database: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HistoryFormat {
    Table,
    Csv,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoAcceptMode {
    Off,
    Contacts,
    Everyone,
}

impl AutoAcceptMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Contacts => "contacts",
            Self::Everyone => "everyone",
        }
    }
}

#[derive(Subcommand)]
pub enum DeviceCmd {
    /// Make a device key here and have the node certify it (with its offline limits)
    #[command(after_help = "Example:\n  chit device add --label laptop")]
    Add {
        /// A name to tell it apart (at most 64 characters)
        #[arg(long, default_value = "this computer")]
        label: String,
    },
    /// Your devices as the node knows them: status, what it holds, its limits
    List,
    /// Retire a device: it goes on the revocation list and pays no one afterwards
    #[command(after_help = "Example:\n  chit device retire Xy3v")]
    Retire {
        /// The device key, or a unique prefix of it, as `chit device list` shows it
        #[arg(allow_hyphen_values = true)]
        device: String,
        /// Retire it even though it still holds money (withdraw it first, unless the device is lost)
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum OfflineCmd {
    /// Move money from your online balance onto the device
    #[command(after_help = "Example:\n  chit offline deposit 50")]
    Deposit {
        amount: String,
        #[arg(long)]
        device: Option<String>,
    },
    /// Move money from the device back to your online balance
    #[command(after_help = "Example:\n  chit offline withdraw 20")]
    Withdraw {
        amount: String,
        #[arg(long)]
        device: Option<String>,
    },
    /// What the device holds, its limits, and what waits to be claimed (no network needed)
    Balance {
        #[arg(long)]
        device: Option<String>,
    },
    /// Ask to be paid offline: prints a request as text and QR for the payer's device
    #[command(after_help = "Example:\n  chit offline request 12.50")]
    Request { amount: String },
    /// Pay a request from the device, with no network: prints the voucher as text and QR
    #[command(after_help = "Example:\n  chit offline pay chit://offline-request/…")]
    Pay {
        /// The request's chit://offline-request/… text
        request: String,
        #[arg(long)]
        device: Option<String>,
    },
    /// Check a voucher you were handed (PayVerify, no network) and keep it to claim
    #[command(after_help = "Example:\n  chit offline receive chit://offline-voucher/…")]
    Receive {
        /// The voucher's chit://offline-voucher/… text
        voucher: String,
    },
    /// Credit every voucher received to your online balance (online)
    Claim,
    /// Move received vouchers onto your own device, to spend them again offline
    Collect {
        #[arg(long)]
        device: Option<String>,
    },
    /// Tell the node what the device did, and fetch the revocation list (online)
    Sync {
        #[arg(long)]
        device: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Make a token; it is shown once (the node keeps only a key derived from it)
    #[command(
        after_help = "Example:\n  chit token create --scope decide --label phone --expires 30d"
    )]
    Create {
        /// What it may do, comma-separated, from: send, request, decide, say
        #[arg(long, default_value = "send,request,decide,say")]
        scope: String,
        /// How long it lasts, as 30m, 24h or 30d (at most 366d)
        #[arg(long, default_value = "90d")]
        expires: String,
        /// A name to tell it apart in `chit token list` (at most 64 characters)
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List your tokens' keys
    List,
    /// Revoke a token by its key, or a unique prefix of it, as `chit token list` shows it; at once
    #[command(after_help = "Example:\n  chit token revoke Xy3v")]
    Revoke {
        /// The key (keys may begin with -; it is read as a key all the same)
        #[arg(allow_hyphen_values = true)]
        key: String,
    },
}

#[derive(Subcommand)]
pub enum TemplateCmd {
    /// Save a template
    #[command(
        after_help = "Example:\n  chit template add rent 20 --note \"flat share\" --expires 7d"
    )]
    Add {
        /// The template's name
        name: String,
        #[arg(help = AMOUNT_HELP, allow_hyphen_values = true)]
        amount: String,
        /// The note requests from it carry
        #[arg(long, default_value = "")]
        note: String,
        /// How long requests from it stay open, as 90s, 30m, 24h or 7d
        #[arg(long, default_value = "7d")]
        expires: String,
    },
    /// List templates
    List,
    /// Remove a template
    Remove {
        /// The template's name
        name: String,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Write this wallet's keys to FILE, encrypted with a passphrase (asked for, or CHIT_PASSPHRASE)
    #[command(
        after_help = "Example:\n  chit key export ~/alice-keys.json\nKeep the file and the passphrase apart; either alone is useless, both restore the handle."
    )]
    Export {
        /// Where to write the backup (it must not exist yet)
        file: PathBuf,
    },
    /// Restore keys from a backup into the wallet directory (which must not hold a wallet yet)
    #[command(after_help = "Example:\n  chit --wallet ~/.chit key import ~/alice-keys.json")]
    Import {
        /// A file made by `chit key export`
        file: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
pub struct ServeArgs {
    /// A TOML file with any of the settings below; flags and CHIT_* variables override it
    #[arg(long, env = "CHIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the node keeps its key and (without --database) its SQLite files [default: ./chit-data]
    #[arg(long, env = "CHIT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on for HTTP [default: 127.0.0.1:8080]
    #[arg(long, env = "CHIT_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Keep all node state in PostgreSQL instead of SQLite in the data directory
    #[arg(long, env = "CHIT_DATABASE", value_name = "postgres://…")]
    pub database: Option<String>,
    /// A currency the node serves, as CODE/DECIMALS, e.g. EUR/2 or JPY/0 (repeatable) [default: EUR/2]
    #[arg(
        long = "currency",
        env = "CHIT_CURRENCIES",
        value_delimiter = ',',
        value_name = "CODE/DECIMALS"
    )]
    pub currencies: Vec<String>,
    /// The currency of amounts written without a code [default: the first currency]
    #[arg(long, env = "CHIT_DEFAULT_CURRENCY", value_name = "CODE")]
    pub default_currency: Option<String>,
    /// Address of the IMPT gateway (the seed-000 line protocol), or `off` [default: 127.0.0.1:5180]
    #[arg(long, env = "CHIT_IMPT", value_name = "ADDR")]
    pub impt: Option<String>,
    /// PEM certificate chain for IMPT over TLS (with --impt-tls-key) [default: plain TCP]
    #[arg(long, env = "CHIT_IMPT_TLS_CERT", value_name = "FILE")]
    pub impt_tls_cert: Option<PathBuf>,
    /// PEM private key of the IMPT certificate
    #[arg(long, env = "CHIT_IMPT_TLS_KEY", value_name = "FILE")]
    pub impt_tls_key: Option<PathBuf>,
    /// Open HTTP and WebSocket connections at most; at the limit the oldest connection that has not logged in makes room [default: 4096]
    #[arg(long, env = "CHIT_CONNECTIONS_MAX", value_name = "N")]
    pub connections_max: Option<usize>,
    /// Open connections from one address (IPv4, or IPv6 /64) at most; more are refused with 503 [default: 256]
    #[arg(long, env = "CHIT_CONNECTIONS_PER_ADDRESS_MAX", value_name = "N")]
    pub connections_per_address_max: Option<usize>,
    /// Address of the Prometheus /metrics listener (keep it private), or `off` [default: 127.0.0.1:9180]
    #[arg(long, env = "CHIT_METRICS", value_name = "ADDR")]
    pub metrics: Option<String>,
}

/// Where a benchmark runs.
#[derive(clap::Args)]
pub struct BenchTarget {
    /// Which storage engine to measure
    #[arg(long, value_enum, default_value_t = EngineArg::All)]
    pub engine: EngineArg,
    /// PostgreSQL server to create the scratch database on
    #[arg(
        long,
        env = "CHIT_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres: String,
}

#[derive(Subcommand)]
pub enum Bench {
    /// A real node and clients on this machine: settled payments/s, messages/s, delivery latency
    #[command(after_help = "Example:\n  chit bench node --engine sqlite --latency-seconds 20")]
    Node {
        #[command(flatten)]
        target: BenchTarget,
        /// Payments to settle (offer + accept)
        #[arg(long, default_value_t = 4_000)]
        payments: usize,
        /// Messages to send
        #[arg(long, default_value_t = 8_000)]
        messages: usize,
        /// Concurrent client pairs
        #[arg(long, default_value_t = 16)]
        pairs: usize,
        /// Paced rate for the latency run, messages/s over all its pairs
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Sender/receiver pairs in the latency run, each with its own subscriber
        #[arg(long, default_value_t = 50)]
        latency_pairs: usize,
        /// Length of the latency run in seconds (longer runs steady its p99)
        #[arg(long, default_value_t = 5)]
        latency_seconds: u64,
    },
    /// Offline vouchers verified per second on one core (PayVerify), one by one and batched
    #[command(after_help = "Example:\n  chit bench offline --devices 100 --vouchers 200")]
    Offline {
        /// Paying devices
        #[arg(long, default_value_t = 100)]
        devices: usize,
        /// Vouchers per device
        #[arg(long, default_value_t = 200)]
        vouchers: usize,
        /// Vouchers per batched verification
        #[arg(long, default_value_t = 256)]
        batch: usize,
    },
    /// Durable ledger transfers/s for batch sizes 1, 100, 1000, 8000 (uniform and hot-account loads)
    #[command(after_help = "Example:\n  chit bench ledger --engine sqlite")]
    Ledger {
        #[command(flatten)]
        target: BenchTarget,
        /// Transfers per measured run (batch size 1 runs a twentieth of it)
        #[arg(long, default_value_t = 200_000)]
        transfers: u64,
        /// Number of accounts
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        /// How clients choose transfer ids: time-ordered (as Chit clients do) or fully random
        #[arg(long, value_enum, default_value_t = IdsArg::TimeOrdered)]
        ids: IdsArg,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IdsArg {
    TimeOrdered,
    Random,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Sqlite,
    Postgres,
    All,
}

/// The command line with the wallet flags kept out of the node's own commands' help: `chit
/// serve --help` and `chit bench … --help` list only what those commands take. (A hidden local
/// flag of the same name shadows the global one there.)
pub fn command() -> clap::Command {
    use clap::{Arg, ArgAction, CommandFactory};
    let hide_wallet_flags = |c: clap::Command| {
        c.arg(Arg::new("node").long("node").hide(true).global(false))
            .arg(Arg::new("wallet").long("wallet").hide(true).global(false))
            .arg(
                Arg::new("json")
                    .long("json")
                    .hide(true)
                    .global(false)
                    .action(ArgAction::SetTrue),
            )
    };
    let hide_node_and_wallet = |c: clap::Command| {
        c.arg(Arg::new("node").long("node").hide(true).global(false))
            .arg(Arg::new("wallet").long("wallet").hide(true).global(false))
    };
    Cli::command()
        .mut_subcommand("serve", hide_wallet_flags)
        .mut_subcommand("admin", |a| a.mut_subcommand("audit", hide_node_and_wallet))
        .mut_subcommand("bench", |b| {
            b.mut_subcommand("node", hide_wallet_flags)
                .mut_subcommand("ledger", hide_wallet_flags)
        })
}
