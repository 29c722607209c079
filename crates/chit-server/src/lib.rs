//! One way to run a node: its HTTP API, its IMPT gateway, its metrics listener and its
//! periodic jobs, started together over listeners the caller bound and stopped together by
//! one shutdown future (as mini-redis's `server::run`). `chit serve`, the benchmark and every
//! test harness start nodes through here, so what they run is what operators run.
//! [`Background`] is the same server on 127.0.0.1:0 in a runtime of its own, for callers that
//! are not async (benchmarks, tests).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use chit_http::admission::Limits;
use chit_impt::gateway::GatewayConfig;
use chit_node::Node;
use tokio::net::TcpListener;

/// The sockets a server answers on, bound by the caller: a port in use is the caller's error
/// to report, before anything starts.
pub struct Listeners {
    pub http: TcpListener,
    /// The IMPT gateway's; `None` when it is off.
    pub impt: Option<TcpListener>,
    /// The operator's `/metrics`; `None` when off.
    pub metrics: Option<TcpListener>,
}

/// How the server runs.
#[derive(Clone)]
pub struct Config {
    /// Who may hold HTTP connections, and how many.
    pub limits: Limits,
    /// The IMPT gateway's settings (used when [`Listeners::impt`] is given).
    pub gateway: GatewayConfig,
    /// Whether this server runs the periodic jobs (expiry, scheduled payments, recovery,
    /// session sweeping). Tests that move the clock run them by hand instead.
    pub workers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            gateway: GatewayConfig::default(),
            workers: true,
        }
    }
}

/// The server: runs until `shutdown` resolves, then stops accepting on every listener, lets
/// what is in flight finish, and returns.
pub struct Server;

impl Server {
    pub async fn start(
        node: Arc<Node>,
        listeners: Listeners,
        config: Config,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stopping = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        };
        let workers = config
            .workers
            .then(|| chit_node::spawn_workers(node.clone()));
        let gateway = listeners.impt.map(|listener| {
            tokio::spawn(chit_impt::gateway::run(
                listener,
                node.clone(),
                config.gateway.clone(),
                stopping(stopped.clone()),
            ))
        });
        let metrics = listeners.metrics.map(|listener| {
            tokio::spawn(chit_http::serve_metrics(
                listener,
                node.clone(),
                stopping(stopped.clone()),
            ))
        });
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let served = chit_http::serve(listeners.http, node, config.limits, stopping(stopped)).await;
        if let Some(gateway) = gateway {
            gateway.await.map_err(std::io::Error::other)??;
        }
        if let Some(metrics) = metrics {
            metrics.await.map_err(std::io::Error::other)??;
        }
        if let Some(workers) = workers {
            workers.abort();
        }
        served
    }
}

/// A [`Server`] on 127.0.0.1:0 (HTTP, IMPT and metrics) in a runtime on a thread of its own;
/// stopped, and its in-flight work finished, when dropped.
pub struct Background {
    pub http: SocketAddr,
    pub impt: SocketAddr,
    pub metrics: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts `node` with `config`; returns once every listener is bound.
    pub fn start(node: Arc<Node>, config: Config) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let bind = || runtime.block_on(TcpListener::bind("127.0.0.1:0"));
        let listeners = Listeners {
            http: bind()?,
            impt: Some(bind()?),
            metrics: Some(bind()?),
        };
        let address = |l: &Option<TcpListener>| l.as_ref().expect("bound above").local_addr();
        let (http, impt, metrics) = (
            listeners.http.local_addr()?,
            address(&listeners.impt)?,
            address(&listeners.metrics)?,
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = runtime.block_on(Server::start(node, listeners, config, shutdown)) {
                tracing::error!(error = %e, "the background server failed");
            }
        });
        Ok(Self {
            http,
            impt,
            metrics,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The HTTP API's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
