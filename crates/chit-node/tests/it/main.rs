//! End-to-end tests of the node: the real HTTP server on port 0 with fresh data, driven through
//! the SDK, on every engine.

mod amounts;
mod audit;
mod calls;
mod connections;
mod identity;
mod keys;
mod messages;
mod offline;
mod outcomes;
mod payments;
mod reading;
mod requests;
mod retries;
mod schema;
mod throttle;

use std::sync::Arc;

use chit_client::{Client, Identity};
use chit_core::Currencies;
use chit_http::admission::Limits;
use chit_ledger_tests::{Engine, TestDb};
use chit_node::Node;
use chit_proto::{Handle, IdentitySecret};

/// The system clock moved forward by a test, so that a day can pass in an instant.
#[derive(Default)]
pub struct ShiftedClock(std::sync::atomic::AtomicU64);

impl ShiftedClock {
    pub fn advance(&self, by: std::time::Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap();
        self.0.fetch_add(nanos, std::sync::atomic::Ordering::SeqCst);
    }
}

impl chit_ledger::Clock for ShiftedClock {
    fn now(&self) -> chit_core::Timestamp {
        let shift = self.0.load(std::sync::atomic::Ordering::SeqCst);
        chit_core::Timestamp::from_nanos(chit_ledger::SystemClock.now().as_nanos() + shift)
    }
}

/// A node serving on 127.0.0.1:0 in a background runtime; stopped when dropped.
pub struct TestNode {
    pub url: String,
    /// The operator's listener for `/metrics`.
    pub metrics_url: String,
    pub node: Arc<Node>,
    /// The node's and the ledger's clock: the system's, plus however far a test moved it.
    pub clock: Arc<ShiftedClock>,
    /// Stopped (in-flight work finished) before the database and directory go: fields drop
    /// in this order.
    _server: chit_server::Background,
    pub db: TestDb,
    _dir: tempfile::TempDir,
}

impl TestNode {
    pub fn start(engine: Engine) -> Self {
        Self::start_with_limits(engine, Limits::default())
    }

    /// A node that admits HTTP connections by `limits`.
    pub fn start_with_limits(engine: Engine, limits: Limits) -> Self {
        let db = TestDb::new(engine);
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ShiftedClock::default());
        let at = match engine {
            Engine::Sqlite => chit_node::StorageAt::Directory(dir.path()),
            Engine::Postgres => chit_node::StorageAt::Postgres(&db.location),
        };
        let (node_db, ledger) = chit_node::open_storage(at, clock.clone()).unwrap();
        let node = Node::with_clock(
            node_db,
            ledger,
            IdentitySecret::generate(),
            Currencies::default(),
            clock.clone(),
        )
        .unwrap();
        // The periodic jobs are run by the tests themselves, at the times they choose.
        let config = chit_server::Config {
            limits,
            workers: false,
            ..Default::default()
        };
        let server = chit_server::Background::start(node.clone(), config).unwrap();
        Self {
            url: server.url(),
            metrics_url: format!("http://{}", server.metrics),
            node,
            clock,
            db,
            _server: server,
            _dir: dir,
        }
    }

    /// Runs one of the node's async operations to its end, from a plain test.
    pub fn block_on<T>(&self, operation: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(operation)
    }

    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url, None)
    }

    /// A registered, logged-in user.
    pub fn user(&self, handle: &str) -> (Client, Identity) {
        let me = Identity::generate(Handle::new(handle).unwrap());
        let mut client = self.client();
        client.register(&me).unwrap();
        client.login(&me).unwrap();
        (client, me)
    }
}

/// A TCP connection to `url`'s node from the local address `from` (e.g. 127.0.3.1).
pub fn connect_from(url: &str, from: &str) -> std::net::TcpStream {
    let to: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::new(from.parse().unwrap(), 0))
            .unwrap();
        let stream = socket.connect(to).await.unwrap().into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

/// [`raw`] from the local address `from` (e.g. 127.0.3.1): every budget per address sees a
/// different client.
pub fn raw_from(url: &str, from: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::Write;
    let mut stream = connect_from(url, from);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: chit\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_response(&mut stream)
}

/// The whole answer on a `Connection: close` stream, as (status, body).
fn read_response(stream: &mut std::net::TcpStream) -> (u16, String) {
    use std::io::Read;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// Sends a raw request and returns (status, body) — for malformed input the SDK cannot make.
pub fn raw(
    url: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    use std::io::Write;
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    read_response(&mut stream)
}
