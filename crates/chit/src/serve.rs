//! `chit serve`: settings from flags, environment and a config file; the node and its two front
//! doors (HTTP and the IMPT gateway) started on one runtime and stopped by one signal.

use anyhow::{Context, Result};

use crate::cli::ServeArgs;

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
    connections_per_address_max: Option<usize>,
    metrics: Option<String>,
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
    connections: chit_http::admission::Limits,
    /// `None` when metrics are off.
    metrics: Option<String>,
}

impl ServeArgs {
    fn settings(self) -> Result<Settings> {
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
            .map(|c| chit_core::Currency::parse_definition(c).map_err(anyhow::Error::from))
            .collect::<Result<Vec<_>>>()?;
        let default = match self.default_currency.or(file.default_currency) {
            Some(code) => chit_core::CurrencyCode::new(&code)
                .with_context(|| format!("default currency {code:?}"))?,
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
        let defaults = chit_http::admission::Limits::default();
        let connections = chit_http::admission::Limits {
            max: self
                .connections_max
                .or(file.connections_max)
                .unwrap_or(defaults.max),
            per_address_max: self
                .connections_per_address_max
                .or(file.connections_per_address_max)
                .unwrap_or(defaults.per_address_max),
            ..defaults
        };
        if connections.max == 0 {
            anyhow::bail!("connections_max must be at least 1");
        }
        if connections.per_address_max == 0 {
            anyhow::bail!("connections_per_address_max must be at least 1");
        }
        let metrics = match self.metrics.or(file.metrics) {
            Some(off) if off == "off" => None,
            Some(address) => Some(address),
            None => Some("127.0.0.1:9180".into()),
        };
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
            connections,
            metrics,
        })
    }
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let args = args.settings()?;
    // Checked before anything starts, so a bad certificate stops the node with one line.
    let impt_tls = match &args.impt_tls {
        Some((cert, key)) => Some(chit_impt::tls::acceptor(cert, key)?),
        None => None,
    };
    let connections = args.connections;
    // Logs go to stderr; stdout carries only the announcements (addresses, fingerprint) that
    // scripts read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CHIT_LOG")
                // The PostgreSQL driver reports every server NOTICE at INFO ("… already exists,
                // skipping" on each start): only its warnings are worth an operator's eye.
                .unwrap_or_else(|_| "info,postgres=warn,tokio_postgres=warn".into()),
        )
        .init();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("create data directory {}", args.data_dir.display()))?;
    let _lock = lock_data_dir(&args.data_dir)?;
    let key = chit_node::storage::load_or_create_node_key(&args.data_dir).context("node key")?;
    let at = match &args.database {
        Some(url) => chit_node::StorageAt::Postgres(url),
        None => chit_node::StorageAt::Directory(&args.data_dir),
    };
    let (db, ledger) = chit_node::open_storage(at, std::sync::Arc::new(chit_ledger::SystemClock))
        .context("open storage (node database and ledger)")?;
    let node = chit_node::Node::new(db, ledger, key, args.currencies)
        .map_err(|e| anyhow::anyhow!("start the node: {}", e.message()))?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        // Every listener is bound before any is announced: a port in use stops the node
        // before it says it is listening.
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| {
                format!("listen on {} (is another node running there?)", args.listen)
            })?;
        let impt = match &args.impt {
            Some(address) => Some(tokio::net::TcpListener::bind(address).await.with_context(
                || format!("IMPT gateway: listen on {address} (--impt ADDR, or --impt off)"),
            )?),
            None => None,
        };
        let metrics = match &args.metrics {
            Some(address) => Some(tokio::net::TcpListener::bind(address).await.with_context(
                || format!("metrics: listen on {address} (--metrics ADDR, or --metrics off)"),
            )?),
            None => None,
        };
        let address = listener.local_addr()?;
        println!("chit node listening on http://{address}");
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
        if let Some(listener) = &metrics {
            println!("metrics on http://{}/metrics", listener.local_addr()?);
        }
        println!("node key fingerprint {}", node.key().public().fingerprint());
        let listeners = chit_server::Listeners {
            http: listener,
            impt,
            metrics,
        };
        let config = chit_server::Config {
            limits: connections,
            gateway: chit_impt::gateway::GatewayConfig {
                tls: impt_tls,
                ..Default::default()
            },
            workers: true,
        };
        chit_server::Server::start(node, listeners, config, shutdown_signal()).await?;
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

/// Takes the data directory for this process alone: a second node on the same files would
/// double every worker and race the first for the SQLite writer. The lock goes with the
/// process, however it ends.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File> {
    let path = dir.join("chit.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the data directory {} is in use by another chit serve; stop it first, or give this one its own --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("lock {}", path.display()))
        }
    }
}
