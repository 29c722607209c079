//! `chit`: the command line. Glue only: parse arguments, call the libraries, print.

use anyhow::{bail, Result};
use chit_proto::Action;
use clap::{Parser, Subcommand, ValueEnum};

mod wallet_cmd;

#[derive(Parser)]
#[command(
    name = "chit",
    version,
    about = "Chit: a payment network where the payment is the message"
)]
struct Cli {
    /// The node to talk to (default: the one the wallet registered at, else http://127.0.0.1:8080).
    #[arg(long, global = true, env = "CHIT_NODE")]
    node: Option<String>,
    /// The wallet directory (default ~/.chit).
    #[arg(long, global = true, env = "CHIT_WALLET")]
    wallet: Option<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: ledger, messages and the HTTP API.
    Serve(ServeArgs),
    /// Make keys and register a handle at the node.
    Register { handle: String },
    /// Show this wallet's handle and node.
    Whoami,
    /// Show the balance (and what is available, less money held in open offers).
    Balance,
    /// Link an external account on a rail; the rail verifies it before it is stored.
    Link { rail: String, reference: String },
    /// Add money from the sandbox rail (play money).
    Topup { amount: String },
    /// Move money out to the sandbox rail.
    Cashout { amount: String },
    /// Send a text message.
    Say { to: String, text: String },
    /// Offer a payment: the money is held until the recipient accepts, declines or it expires.
    Send {
        to: String,
        amount: String,
        #[arg(long, default_value = "")]
        note: String,
        /// How long the offer stays open (e.g. 30m, 24h, 7d).
        #[arg(long, default_value = "24h")]
        expires: String,
    },
    /// Show new messages; with --wait, wait up to SECS for one.
    Inbox {
        #[arg(long)]
        wait: Option<u64>,
    },
    /// Print messages as they arrive.
    Listen,
    /// Ask someone for money (an invoice): they choose Pay now, Pay later or Reject.
    Request {
        from: String,
        amount: Option<String>,
        #[arg(long)]
        note: Option<String>,
        /// How long the request stays open (default 7d).
        #[arg(long)]
        expires: Option<String>,
        /// Fill amount, note and expiry from a saved template.
        #[arg(long)]
        template: Option<String>,
    },
    /// Pay a request now, or later with --at (e.g. 2h, or 2026-12-01T09:00Z).
    Pay {
        id: String,
        #[arg(long)]
        at: Option<String>,
    },
    /// Reject a request.
    Reject { id: String },
    /// API tokens: let another program (an IMPT client, a script) act for you within a scope.
    Token {
        #[command(subcommand)]
        op: TokenCmd,
    },
    /// Saved invoice templates (kept in the wallet only).
    Template {
        #[command(subcommand)]
        op: TemplateCmd,
    },
    /// Every payment seen, with where it stands.
    History {
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Show a payment's receipt; --verify checks the node's signature offline.
    Receipt {
        id: String,
        #[arg(long)]
        verify: bool,
    },
    /// Accept offers automatically: off, contacts (people you have written to) or everyone.
    AutoAccept { mode: String },
    /// Accept an offer.
    Accept { id: String },
    /// Decline an offer (the money goes back).
    Decline { id: String },
    /// Cancel your own open offer (the money comes back).
    Cancel { id: String },
    /// Run a benchmark and print its figures with the machine it ran on.
    Bench {
        #[command(subcommand)]
        bench: Bench,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Make a token; it is shown once (the node keeps only a key derived from it).
    Create {
        /// What it may do, comma-separated: send, request, decide, say.
        #[arg(long, default_value = "send,request,decide,say")]
        scope: String,
        /// How long it lasts (e.g. 30d; at most 366d).
        #[arg(long, default_value = "90d")]
        expires: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List your tokens' keys.
    List,
    /// Revoke a token by its key (as `chit token list` shows it); effective at once.
    Revoke { key: String },
}

#[derive(Subcommand)]
enum TemplateCmd {
    /// Save a template.
    Add {
        name: String,
        amount: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long, default_value = "7d")]
        expires: String,
    },
    /// List templates.
    List,
    /// Remove a template.
    Remove { name: String },
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// A TOML file with any of the settings below; flags and CHIT_* variables override it.
    #[arg(long, env = "CHIT_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Where the node keeps its key and (without --database) its SQLite files [default: ./chit-data].
    #[arg(long, env = "CHIT_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "CHIT_LISTEN")]
    listen: Option<String>,
    /// Keep all node state in PostgreSQL (postgres://…) instead of SQLite in the data directory.
    #[arg(long, env = "CHIT_DATABASE")]
    database: Option<String>,
    /// A currency the node serves, as CODE/DECIMALS (repeatable) [default: EUR/2].
    #[arg(long = "currency", env = "CHIT_CURRENCIES", value_delimiter = ',')]
    currencies: Vec<String>,
    /// The currency of amounts written without a code [default: the first currency].
    #[arg(long, env = "CHIT_DEFAULT_CURRENCY")]
    default_currency: Option<String>,
    /// Address of the IMPT gateway (the seed-000 line protocol), or `off` [default: 127.0.0.1:5180].
    #[arg(long, env = "CHIT_IMPT")]
    impt: Option<String>,
    /// PEM certificate chain for IMPT over TLS (with --impt-tls-key) [default: plain TCP].
    #[arg(long, env = "CHIT_IMPT_TLS_CERT")]
    impt_tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of the IMPT certificate.
    #[arg(long, env = "CHIT_IMPT_TLS_KEY")]
    impt_tls_key: Option<std::path::PathBuf>,
    /// Open HTTP and WebSocket connections at most; more wait to be accepted [default: 4096].
    #[arg(long, env = "CHIT_CONNECTIONS_MAX")]
    connections_max: Option<usize>,
}

/// The config file: the same settings as the flags.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    data_dir: Option<std::path::PathBuf>,
    listen: Option<String>,
    database: Option<String>,
    #[serde(default)]
    currencies: Vec<String>,
    default_currency: Option<String>,
    impt: Option<String>,
    impt_tls_cert: Option<std::path::PathBuf>,
    impt_tls_key: Option<std::path::PathBuf>,
    connections_max: Option<usize>,
}

/// Settings after flags, environment, config file and defaults are merged (in that order).
struct Settings {
    data_dir: std::path::PathBuf,
    listen: String,
    database: Option<String>,
    currencies: chit_core::Currencies,
    /// `None` when the gateway is off.
    impt: Option<String>,
    /// Certificate and key files when IMPT speaks TLS.
    impt_tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    connections_max: usize,
}

impl ServeArgs {
    fn settings(self) -> Result<Settings> {
        use anyhow::Context;
        let file: ConfigFile = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("read config {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("config {}", path.display()))?
            }
            None => ConfigFile::default(),
        };
        let mut codes = if self.currencies.is_empty() {
            file.currencies
        } else {
            self.currencies
        };
        if codes.is_empty() {
            codes.push("EUR/2".into());
        }
        let all = codes
            .iter()
            .map(|c| chit_core::Currency::parse_definition(c))
            .collect::<Result<Vec<_>, _>>()?;
        let default = match self.default_currency.or(file.default_currency) {
            Some(code) => chit_core::CurrencyCode::new(&code)?,
            None => all[0].code(),
        };
        let impt = match self.impt.or(file.impt) {
            Some(off) if off == "off" => None,
            Some(address) => Some(address),
            None => Some("127.0.0.1:5180".into()),
        };
        let impt_tls = match (
            self.impt_tls_cert.or(file.impt_tls_cert),
            self.impt_tls_key.or(file.impt_tls_key),
        ) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                anyhow::bail!("IMPT over TLS needs both --impt-tls-cert and --impt-tls-key")
            }
            (Some(_), Some(_)) if impt.is_none() => {
                anyhow::bail!("--impt-tls-cert/--impt-tls-key given but the IMPT gateway is off")
            }
            (Some(cert), Some(key)) => Some((cert, key)),
        };
        let connections_max = self
            .connections_max
            .or(file.connections_max)
            .unwrap_or(chit_node::http::CONNECTIONS_MAX);
        if connections_max == 0 {
            anyhow::bail!("connections_max must be at least 1");
        }
        Ok(Settings {
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| "./chit-data".into()),
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            database: self.database.or(file.database),
            currencies: chit_core::Currencies::new(all, default)?,
            impt,
            impt_tls,
            connections_max,
        })
    }
}

/// Where a benchmark runs.
#[derive(clap::Args)]
struct BenchTarget {
    /// Which storage engine to measure.
    #[arg(long, value_enum, default_value_t = EngineArg::All)]
    engine: EngineArg,
    /// PostgreSQL server to create the scratch database on.
    #[arg(
        long,
        env = "CHIT_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
}

#[derive(Subcommand)]
enum Bench {
    /// A real node and clients on this machine: settled payments/s, messages/s, delivery latency.
    Node {
        #[command(flatten)]
        target: BenchTarget,
        /// Payments to settle (offer + accept).
        #[arg(long, default_value_t = 4_000)]
        payments: usize,
        /// Messages to send.
        #[arg(long, default_value_t = 8_000)]
        messages: usize,
        /// Concurrent client pairs.
        #[arg(long, default_value_t = 16)]
        pairs: usize,
        /// Paced rate for the latency run, messages/s over all its pairs.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Sender/receiver pairs in the latency run, each with its own subscriber.
        #[arg(long, default_value_t = 50)]
        latency_pairs: usize,
        /// Length of the latency run in seconds (longer runs steady its p99).
        #[arg(long, default_value_t = 5)]
        latency_seconds: u64,
    },
    /// Durable ledger transfers/s for batch sizes 1, 100, 1000, 8000 (uniform and hot-account loads).
    Ledger {
        #[command(flatten)]
        target: BenchTarget,
        /// Transfers per measured run (batch size 1 runs a twentieth of it).
        #[arg(long, default_value_t = 200_000)]
        transfers: u64,
        /// Number of accounts.
        #[arg(long, default_value_t = 10_000)]
        accounts: u64,
        /// How clients choose transfer ids: time-ordered (as Chit clients do) or fully random.
        #[arg(long, value_enum, default_value_t = IdsArg::TimeOrdered)]
        ids: IdsArg,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum IdsArg {
    TimeOrdered,
    Random,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EngineArg {
    Sqlite,
    Postgres,
    All,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("chit: {e:#}");
        std::process::exit(1);
    }
}

fn wallet_dir(cli: &Cli) -> Result<std::path::PathBuf> {
    if let Some(dir) = &cli.wallet {
        return Ok(dir.clone());
    }
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("set --wallet or HOME"))?;
    Ok(std::path::PathBuf::from(home).join(".chit"))
}

fn run(cli: Cli) -> Result<()> {
    use chit_client::wallet::Wallet;
    let out = wallet_cmd::Out { json: cli.json };
    let dir = || wallet_dir(&cli);
    let open = || -> Result<Wallet> { Ok(Wallet::open(&wallet_dir(&cli)?, cli.node.as_deref())?) };
    match &cli.command {
        Command::Register { handle } => {
            let node = cli.node.as_deref().unwrap_or("http://127.0.0.1:8080");
            wallet_cmd::register(&dir()?, node, handle, out)
        }
        Command::Whoami => wallet_cmd::whoami(&open()?, out),
        Command::Balance => wallet_cmd::balance(&mut open()?, out),
        Command::Link { rail, reference } => wallet_cmd::link(&mut open()?, rail, reference, out),
        Command::Topup { amount } => wallet_cmd::move_money(&mut open()?, amount, true, out),
        Command::Cashout { amount } => wallet_cmd::move_money(&mut open()?, amount, false, out),
        Command::Say { to, text } => wallet_cmd::say(&mut open()?, to, text, out),
        Command::Send {
            to,
            amount,
            note,
            expires,
        } => {
            let expires = wallet_cmd::parse_duration(expires)?;
            wallet_cmd::send(&mut open()?, to, amount, note, expires, out)
        }
        Command::Inbox { wait } => wallet_cmd::inbox(&mut open()?, *wait, out),
        Command::Listen => wallet_cmd::listen(&mut open()?, out),
        Command::Request {
            from,
            amount,
            note,
            expires,
            template,
        } => wallet_cmd::request(
            &mut open()?,
            from,
            amount.as_deref(),
            note.as_deref(),
            expires.as_deref(),
            template.as_deref(),
            out,
        ),
        Command::Pay { id, at } => wallet_cmd::pay(&mut open()?, id, at.as_deref(), out),
        Command::Reject { id } => {
            let message = id.clone();
            wallet_cmd::decide(&mut open()?, Action::Reject { message }, out)
        }
        Command::Token { op } => match op {
            TokenCmd::Create {
                scope,
                expires,
                label,
            } => wallet_cmd::token_create(&mut open()?, scope, expires, label, out),
            TokenCmd::List => wallet_cmd::token_list(&mut open()?, out),
            TokenCmd::Revoke { key } => wallet_cmd::token_revoke(&mut open()?, key, out),
        },
        Command::Template { op } => {
            let op = match op {
                TemplateCmd::Add {
                    name,
                    amount,
                    note,
                    expires,
                } => wallet_cmd::TemplateOp::Add {
                    name: name.clone(),
                    amount: amount.clone(),
                    note: note.clone(),
                    expires: expires.clone(),
                },
                TemplateCmd::List => wallet_cmd::TemplateOp::List,
                TemplateCmd::Remove { name } => {
                    wallet_cmd::TemplateOp::Remove { name: name.clone() }
                }
            };
            wallet_cmd::template(&open()?, op, out)
        }
        Command::History { format } => wallet_cmd::history(&mut open()?, format, out),
        Command::Receipt { id, verify } => wallet_cmd::receipt(&mut open()?, id, *verify, out),
        Command::AutoAccept { mode } => wallet_cmd::auto_accept(&mut open()?, mode, out),
        Command::Accept { id } => {
            let message = id.clone();
            wallet_cmd::decide(&mut open()?, Action::Accept { message }, out)
        }
        Command::Decline { id } => {
            let message = id.clone();
            wallet_cmd::decide(&mut open()?, Action::Decline { message }, out)
        }
        Command::Cancel { id } => {
            let message = id.clone();
            wallet_cmd::decide(&mut open()?, Action::Cancel { message }, out)
        }
        Command::Serve(args) => serve(args.clone()),
        Command::Bench {
            bench:
                Bench::Node {
                    target,
                    payments,
                    messages,
                    pairs,
                    rate,
                    latency_pairs,
                    latency_seconds,
                },
        } => {
            if *pairs == 0 || *payments < *pairs || *messages < *pairs || *rate == 0 {
                bail!("--pairs must be positive and at most --payments and --messages; --rate positive");
            }
            if *latency_pairs == 0 || *latency_pairs as u64 > *rate || *latency_seconds == 0 {
                bail!("--latency-pairs must be positive and at most --rate; --latency-seconds positive");
            }
            let options = chit_bench::node::NodeOptions {
                pairs: *pairs,
                payments: *payments,
                messages: *messages,
                rate: *rate,
                latency_pairs: *latency_pairs,
                latency_seconds: *latency_seconds,
            };
            bench_node(target, options)
        }
        Command::Bench {
            bench:
                Bench::Ledger {
                    target,
                    transfers,
                    accounts,
                    ids,
                },
        } => {
            let (transfers, accounts) = (*transfers, *accounts);
            if transfers == 0 || accounts < 2 {
                bail!("--transfers must be positive and --accounts at least 2");
            }
            let ids = match ids {
                IdsArg::TimeOrdered => chit_bench::ledger::Ids::TimeOrdered,
                IdsArg::Random => chit_bench::ledger::Ids::Random,
            };
            let options = chit_bench::ledger::Options {
                accounts,
                transfers,
                ids,
                ..Default::default()
            };
            bench_ledger(target, options)
        }
    }
}

fn bench_ledger(target: &BenchTarget, options: chit_bench::ledger::Options) -> Result<()> {
    use chit_bench::ledger::run;
    let targets = targets(target);
    println!("chit bench ledger: durable commits (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on)");
    println!("machine: {}", chit_bench::machine::describe());
    let ids = match options.ids {
        chit_bench::ledger::Ids::TimeOrdered => "time-ordered",
        chit_bench::ledger::Ids::Random => "uniformly random",
    };
    println!(
        "{} accounts, {ids} 128-bit transfer ids, one client unless noted\n",
        options.accounts
    );
    println!(
        "{:<9} {:<12} {:<28} {:>10} {:>12}",
        "engine", "load", "batch", "transfers", "transfers/s"
    );
    for target in targets {
        run(&target, options, &mut |f| {
            println!(
                "{:<9} {:<12} {:<28} {:>10} {:>12.0}",
                f.engine,
                f.load,
                f.batch,
                f.transfers,
                f.per_second()
            );
        })
        .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn serve(args: ServeArgs) -> Result<()> {
    use anyhow::Context;
    let args = args.settings()?;
    // Checked before anything starts, so a bad certificate stops the node with one line.
    let impt_tls = match &args.impt_tls {
        Some((cert, key)) => Some(chit_impt::tls::acceptor(cert, key)?),
        None => None,
    };
    let connections_max = args.connections_max;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHIT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create data directory {}", args.data_dir.display()))?;
    let key = chit_node::node::load_or_create_node_key(&args.data_dir).context("node key")?;
    let at = match &args.database {
        Some(url) => chit_node::StorageAt::Postgres(url),
        None => chit_node::StorageAt::Directory(&args.data_dir),
    };
    let (db, ledger) = chit_node::open_storage(at, std::sync::Arc::new(chit_ledger::SystemClock))
        .context("open storage (node database and ledger)")?;
    let node = chit_node::Node::new(db, ledger, key, args.currencies)
        .map_err(|e| anyhow::anyhow!("start the node: {}", e.message))?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listen on {}", args.listen))?;
        let address = listener.local_addr()?;
        println!("chit node listening on http://{address}");
        let impt = match &args.impt {
            Some(address) => Some(
                tokio::net::TcpListener::bind(address)
                    .await
                    .with_context(|| format!("IMPT gateway: listen on {address}"))?,
            ),
            None => None,
        };
        if let Some(listener) = &impt {
            let at = listener.local_addr()?;
            match impt_tls {
                Some(_) => println!("IMPT gateway listening on {at} (TLS)"),
                None => {
                    println!("IMPT gateway listening on {at}");
                    if !at.ip().is_loopback() {
                        eprintln!(
                            "warning: IMPT on {at} without TLS sends API tokens in the clear; \
                             set --impt-tls-cert and --impt-tls-key"
                        );
                    }
                }
            }
        }
        println!("node key fingerprint {}", node.key.public().fingerprint());
        let workers = chit_node::spawn_workers(node.clone());
        // One signal stops both front doors.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let gateway = impt.map(|listener| {
            let config = chit_impt::gateway::GatewayConfig {
                tls: impt_tls,
                ..Default::default()
            };
            let node = node.clone();
            tokio::spawn(chit_impt::gateway::run(
                listener,
                node,
                config,
                stopping(stopped.clone()),
            ))
        });
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        chit_node::http::serve(listener, node, connections_max, stopping(stopped)).await?;
        if let Some(gateway) = gateway {
            gateway.await??;
        }
        workers.abort();
        println!("chit node stopped");
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM; the server then stops accepting and lets requests finish.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn bench_node(target: &BenchTarget, options: chit_bench::node::NodeOptions) -> Result<()> {
    let targets = targets(target);
    println!("chit bench node: a node on 127.0.0.1:0 and SDK clients on the same machine; durable commits");
    println!("machine: {}", chit_bench::machine::describe());
    println!("requests are signed and sealed before timing starts");
    let (single, batched) = chit_bench::node::signature_checks_per_second();
    println!(
        "for scale: one core checks {single:.0} Ed25519 signatures/s one by one, {batched:.0}/s in batches \
         of {} (every signed command needs one)\n",
        chit_node::signatures::SIGNATURE_BATCH_MAX
    );
    for target in targets {
        chit_bench::node::run(&target, options, &mut |f| {
            println!("{:<9} {:<70} {}", f.engine, f.what, f.value);
        })
        .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The engines a benchmark runs on.
fn targets(target: &BenchTarget) -> Vec<chit_bench::ledger::Target> {
    let (engine, postgres) = (target.engine, &target.postgres);
    use chit_bench::ledger::Target;
    let mut targets = Vec::new();
    if engine != EngineArg::Postgres {
        targets.push(Target::Sqlite);
    }
    if engine != EngineArg::Sqlite {
        targets.push(Target::Postgres(postgres.to_owned()));
    }
    targets
}
