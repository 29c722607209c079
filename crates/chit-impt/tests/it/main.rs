//! IMPT conformance: raw lines over TCP to a real node (HTTP and IMPT on port 0, fresh data),
//! one test per PDU and per state-table edge, every illegal case closing with the generic
//! error; the same payments seen from the SDK; a thousand sessions at once.

mod conformance;
mod cross;
mod load;
mod reconnect;
mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use chit_client::{Client, Identity};
use chit_core::Currencies;
use chit_impt::codec::{Line, Pdu};
use chit_impt::gateway::GatewayConfig;
use chit_ledger_tests::{Engine, TestDb};
use chit_node::Node;
use chit_proto::{api_token_key, new_api_token, Action, Handle, IdentitySecret};

/// A node with its HTTP API and its IMPT gateway, each on 127.0.0.1:0.
pub struct Gateway {
    pub url: String,
    pub impt: SocketAddr,
    pub node: Arc<Node>,
    /// How a client trusts the gateway's certificate, when it speaks TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Stopped (in-flight work finished) before the database and directory go: fields drop
    /// in this order.
    _server: chit_server::Background,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// Short timeouts so the timeout edges are quick to test.
pub fn test_config() -> GatewayConfig {
    GatewayConfig {
        handshake_timeout: Duration::from_millis(1500),
        idle_timeout: Duration::from_secs(3),
        peer_timeout: Duration::from_millis(800),
        sessions_max: 2048,
        tls: None,
    }
}

impl Gateway {
    pub fn start(engine: Engine) -> Self {
        Self::start_with(engine, test_config())
    }

    /// The gateway with TLS: a fresh self-signed certificate for `localhost`, loaded from PEM
    /// files the way `chit serve --impt-tls-cert/--impt-tls-key` loads them.
    pub fn start_tls(engine: Engine) -> Self {
        let pems = tempfile::tempdir().unwrap();
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert_path, key_path) = (pems.path().join("cert.pem"), pems.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
        let config = GatewayConfig {
            tls: Some(chit_impt::tls::acceptor(&cert_path, &key_path).unwrap()),
            ..test_config()
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut gw = Self::start_with(engine, config);
        gw.tls = Some(Arc::new(client));
        gw
    }

    pub fn start_with(engine: Engine, config: GatewayConfig) -> Self {
        let db = TestDb::new(engine);
        let dir = tempfile::tempdir().unwrap();
        let at = match engine {
            Engine::Sqlite => chit_node::StorageAt::Directory(dir.path()),
            Engine::Postgres => chit_node::StorageAt::Postgres(&db.location),
        };
        let (node_db, ledger) =
            chit_node::open_storage(at, Arc::new(chit_ledger::SystemClock)).unwrap();
        let node = Node::new(
            node_db,
            ledger,
            IdentitySecret::generate(),
            Currencies::default(),
        )
        .unwrap();
        // A thousand users register from 127.0.0.1 in the load test.
        node.throttles()
            .set(chit_node::throttle::Budgets::unlimited());
        let config = chit_server::Config {
            // A thousand users' SDK clients on one address, each holding a logged-in
            // connection: more than one address may hold by default.
            limits: chit_http::admission::Limits {
                per_address_max: chit_http::admission::CONNECTIONS_MAX,
                ..Default::default()
            },
            gateway: config,
            workers: false,
        };
        let server = chit_server::Background::start(node.clone(), config).unwrap();
        Self {
            url: server.url(),
            impt: server.impt,
            node,
            tls: None,
            _server: server,
            _db: db,
            _dir: dir,
        }
    }

    /// A registered user with money (when `amount` is given) and an API token for IMPT.
    pub fn user(&self, name: &str, amount: Option<&str>, scope: &[&str]) -> User {
        let me = Identity::generate(Handle::new(name).unwrap());
        let mut client = Client::new(&self.url, None);
        client.register(&me).unwrap();
        client.login(&me).unwrap();
        if let Some(amount) = amount {
            client
                .link(&Client::sign(
                    &me,
                    Action::Link {
                        rail: "sandbox".into(),
                        reference: "DE89370400440532013000".into(),
                    },
                ))
                .unwrap();
            client
                .move_money(&Client::sign(
                    &me,
                    Action::TopUp {
                        rail: "sandbox".into(),
                        amount: amount.into(),
                    },
                ))
                .unwrap();
        }
        let token = new_api_token();
        client
            .manage_key(&Client::sign(
                &me,
                Action::Grant {
                    key: api_token_key(&token).public(),
                    scope: scope.iter().map(|s| (*s).to_owned()).collect(),
                    expires_at_ms: chit_client::now_ms() + 3_600_000,
                    label: "impt test".into(),
                },
            ))
            .unwrap();
        User { client, me, token }
    }
}

pub struct User {
    pub client: Client,
    pub me: Identity,
    pub token: String,
}

pub const ALL: &[&str] = &["send", "request", "decide", "say"];

/// SASL PLAIN's initial response (the gateway's own helper).
pub fn plain(handle: &str, token: &str) -> String {
    chit_impt::gateway::sasl_plain(handle, token)
}

/// What a raw client talks over: plain TCP or TLS.
pub trait Wire: Read + Write + Send {}
impl<T: Read + Write + Send> Wire for T {}

/// A raw IMPT client: writes lines, reads lines, notices the server closing.
pub struct Raw {
    reader: BufReader<Box<dyn Wire>>,
}

impl Raw {
    /// Connects the way the gateway listens: over TLS when it speaks TLS.
    pub fn connect(gw: &Gateway) -> Self {
        let stream = Self::tcp(gw);
        match &gw.tls {
            None => Self::over(stream),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                let tls = rustls::ClientConnection::new(config.clone(), name).unwrap();
                Self::over(rustls::StreamOwned::new(tls, stream))
            }
        }
    }

    /// A TCP connection to the gateway, with a read timeout so a missing reply fails the test.
    pub fn tcp(gw: &Gateway) -> TcpStream {
        let stream = TcpStream::connect(gw.impt).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    pub fn over(stream: impl Wire + 'static) -> Self {
        Self {
            reader: BufReader::new(Box::new(stream)),
        }
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let stream = self.reader.get_mut();
        stream.write_all(bytes).unwrap();
        stream.flush().unwrap();
    }

    /// The next line from the server, parsed; panics on a close or a line it cannot parse.
    pub fn recv(&mut self) -> Pdu {
        let mut text = String::new();
        let n = self.reader.read_line(&mut text).unwrap();
        assert!(n > 0, "the server closed the connection");
        let line = Line::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(line.from, chit_impt::codec::Side::Server, "{text}");
        line.pdu
    }

    /// The raw next line, as sent.
    pub fn recv_text(&mut self) -> String {
        let mut text = String::new();
        self.reader.read_line(&mut text).unwrap();
        text
    }

    /// The server closed the connection (nothing more to read).
    pub fn assert_closed(&mut self) {
        let mut text = String::new();
        match self.reader.read_line(&mut text) {
            Ok(0) => {}
            Ok(_) => panic!("expected the connection closed, got {text:?}"),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the connection closed, got {e}"),
        }
    }

    /// INIT BEGIN / RES / FINAL and SASL PLAIN; returns the session's own user token.
    pub fn login(gw: &Gateway, user: &User) -> (Self, String) {
        let mut raw = Self::connect(gw);
        raw.handshake();
        raw.send(&format!(
            "C > AUTH [BEGIN] PLAIN {}",
            plain(user.me.handle.as_str(), &user.token)
        ));
        match raw.recv() {
            Pdu::Auth { response, .. } => (raw, response),
            other => panic!("expected AUTH [RES], got {other:?}"),
        }
    }

    pub fn handshake(&mut self) {
        self.send("C > INIT [BEGIN] IMPT 1.0");
        assert_eq!(self.recv_text(), "S > INIT [RES] IMPT 1.0\r\n");
        self.send("C > INIT [FINAL] IMPT 1.0");
    }

    /// The token this session uses for `handle` (WHO, an extension).
    pub fn who(&mut self, handle: &str) -> String {
        self.send(&format!("C > WHO [BEGIN] {handle}"));
        match self.recv() {
            Pdu::Who {
                peer: Some(peer), ..
            } => peer.as_str().to_owned(),
            other => panic!("expected WHO [RES], got {other:?}"),
        }
    }
}
