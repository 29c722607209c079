//! End-to-end: the real `chit` binary, as a node (`chit serve` on port 0) and as two wallets,
//! through the README's walkthrough, on every engine.

mod crash;
mod newcomer;
mod offline;
mod upgrade;
mod web;

use std::process::{Child, Command, Stdio};

use chit_ledger_tests::{engines, Engine, TestDb};
use serde_json::Value;

const CHIT: &str = env!("CARGO_BIN_EXE_chit");

/// A `chit serve` process; killed when dropped.
struct Serve {
    child: Child,
    url: String,
    /// The IMPT gateway's address (each test node has its own port).
    impt: String,
}

impl Serve {
    fn start(data_dir: &std::path::Path, database: Option<&str>) -> Self {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ];
        if let Some(url) = database {
            args.extend(["--database", url]);
        }
        Self::start_with(&args)
    }

    fn start_with(args: &[&str]) -> Self {
        let mut cmd = Command::new(CHIT);
        cmd.arg("serve")
            .args(args)
            .args(["--impt", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("start chit serve");
        // Readiness: the node prints its addresses once it is listening. One byte at a time,
        // so nothing after these lines is buffered away from `stop`.
        let mut line = |prefix: &str| {
            let mut text = Vec::new();
            let mut byte = [0u8];
            let out = child.stdout.as_mut().unwrap();
            while std::io::Read::read(out, &mut byte).unwrap() == 1 && byte[0] != b'\n' {
                text.push(byte[0]);
            }
            let text = String::from_utf8(text).unwrap();
            match text.strip_prefix(prefix) {
                Some(rest) => rest.to_owned(),
                None => {
                    // Not left running behind a failed test.
                    let _ = child.kill();
                    panic!("chit serve said {text:?}, not {prefix:?}…")
                }
            }
        };
        let url = line("chit node listening on ");
        // "ADDR" or "ADDR (TLS)".
        let impt = line("IMPT gateway listening on ");
        let impt = impt.split(' ').next().unwrap().to_owned();
        Self { child, url, impt }
    }
}

impl Serve {
    /// SIGKILL: no shutdown; whatever was in flight is cut off.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the node must finish in-flight work and exit cleanly.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut rest).unwrap();
        assert!(status.success(), "chit serve exited with {status}: {rest}");
        assert!(rest.contains("chit node stopped"), "{rest}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chit(node: &Serve, wallet: &std::path::Path, args: &[&str]) -> Result<Value, String> {
    chit_at(&node.url, wallet, args)
}

/// [`chit`] against a node's address, which may have no node behind it now.
fn chit_at(url: &str, wallet: &std::path::Path, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(CHIT)
        .args(["--json", "--node", url, "--wallet"])
        .arg(wallet)
        .args(args)
        .output()
        .unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "errors are one line: {err}");
        assert!(!err.contains("panicked"), "{err}");
        return Err(err);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).map_err(|e| format!("not JSON ({e}): {text}"))
}

#[test]
fn the_walkthrough_runs_through_the_cli() {
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(engine);
        let database = (engine == Engine::Postgres).then_some(db.location.as_str());
        let node = Serve::start(&dir.path().join("node"), database);
        let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));

        chit(&node, &alice, &["register", "alice"]).unwrap();
        chit(&node, &bob, &["register", "bob"]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in ["keys.json", "session.json"] {
                let mode = std::fs::metadata(alice.join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file} must be private");
            }
            let mode = std::fs::metadata(dir.path().join("node/node.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "node.key must be private");
        }
        let refused = chit(&node, &alice, &["topup", "EUR:100"]).unwrap_err();
        assert!(refused.contains("link an account"), "{refused}");
        assert!(chit(&node, &alice, &["link", "sandbox", "DE00 1234"])
            .unwrap_err()
            .contains("not a valid IBAN"));
        let linked = chit(
            &node,
            &alice,
            &["link", "sandbox", "DE89 3704 0044 0532 0130 00"],
        )
        .unwrap();
        assert_eq!(linked["reference"], "…3000");
        let b = chit(&node, &alice, &["topup", "EUR:100"]).unwrap();
        assert_eq!(b["balance"], "EUR:100.00", "{engine:?}");
        chit(&node, &alice, &["say", "@bob", "hi bob"]).unwrap();
        let sent = chit(
            &node,
            &alice,
            &[
                "send",
                "@bob",
                "12.50",
                "--note",
                "lunch",
                "--expires",
                "1h",
            ],
        )
        .unwrap();
        let id = sent["id"].as_str().unwrap().to_owned();
        let b = chit(&node, &alice, &["balance"]).unwrap();
        assert_eq!(
            (b["balance"].as_str(), b["available"].as_str()),
            (Some("EUR:100.00"), Some("EUR:87.50"))
        );

        let inbox = chit(&node, &bob, &["inbox"]).unwrap();
        let items = inbox["items"].as_array().unwrap();
        assert_eq!(items[0]["kind"], "text");
        assert_eq!(items[0]["text"], "hi bob");
        assert_eq!(items[1]["kind"], "offer");
        assert_eq!(
            (items[1]["amount"].as_str(), items[1]["state"].as_str()),
            (Some("EUR:12.50"), Some("pending"))
        );
        assert_eq!(items[1]["note"], "lunch");
        assert_eq!(items[1]["from"], "@alice");

        let accepted = chit(&node, &bob, &["accept", &id]).unwrap();
        assert_eq!(accepted["state"], "accepted");
        assert!(accepted["receipt"]["signature"].is_string());
        assert_eq!(
            chit(&node, &bob, &["balance"]).unwrap()["balance"],
            "EUR:12.50"
        );
        assert_eq!(
            chit(&node, &alice, &["balance"]).unwrap()["balance"],
            "EUR:87.50"
        );
        let err = chit(&node, &bob, &["accept", &id]).unwrap_err();
        assert!(err.contains("already settled"), "{err}");

        // Declined and cancelled offers give the money back.
        let second = chit(&node, &alice, &["send", "@bob", "5"]).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            chit(&node, &bob, &["decline", &second]).unwrap()["state"],
            "declined"
        );
        let third = chit(&node, &alice, &["send", "@bob", "5"]).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            chit(&node, &alice, &["cancel", &third]).unwrap()["state"],
            "cancelled"
        );
        assert_eq!(
            chit(&node, &alice, &["balance"]).unwrap()["available"],
            "EUR:87.50"
        );

        // Clear one-line errors for bad input; nothing changes.
        assert!(chit(&node, &alice, &["send", "@bob", "1e3"])
            .unwrap_err()
            .contains("exponent"));
        assert!(chit(&node, &alice, &["send", "@nobody", "1"])
            .unwrap_err()
            .contains("no user"));
        assert!(chit(&node, &alice, &["send", "@bob", "1000"])
            .unwrap_err()
            .contains("insufficient funds"));
        assert!(chit(&node, &dir.path().join("nobody"), &["balance"])
            .unwrap_err()
            .contains("no wallet"));
        assert_eq!(
            chit(&node, &alice, &["whoami"]).unwrap()["handle"],
            "@alice"
        );

        // Invoices: a template, Pay now, Reject, Pay later.
        chit(
            &node,
            &bob,
            &[
                "template",
                "add",
                "rent",
                "EUR:20",
                "--note",
                "flat share",
                "--expires",
                "2d",
            ],
        )
        .unwrap();
        let listed = chit(&node, &bob, &["template", "list"]).unwrap();
        assert_eq!(listed["templates"]["rent"]["amount"], "EUR:20");
        let rent = chit(&node, &bob, &["request", "@alice", "--template", "rent"]).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let inbox = chit(&node, &alice, &["inbox"]).unwrap();
        let item = inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == rent.as_str())
            .unwrap()
            .clone();
        assert_eq!(
            (
                item["kind"].as_str(),
                item["amount"].as_str(),
                item["note"].as_str()
            ),
            (Some("request"), Some("EUR:20.00"), Some("flat share"))
        );
        let paid = chit(&node, &alice, &["pay", &rent]).unwrap();
        assert_eq!(paid["state"], "paid", "{engine:?}");
        assert!(chit(&node, &alice, &["pay", &rent])
            .unwrap_err()
            .contains("already paid"));
        let junk = chit(&node, &bob, &["request", "@alice", "3"]).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            chit(&node, &alice, &["reject", &junk]).unwrap()["state"],
            "rejected"
        );
        let later = chit(&node, &bob, &["request", "@alice", "1"]).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            chit(&node, &alice, &["pay", &later, "--at", "1h"]).unwrap()["state"],
            "scheduled"
        );
        assert!(chit(&node, &alice, &["pay", &later, "--at", "tomorrow"])
            .unwrap_err()
            .contains("bad time"));
        assert_eq!(
            chit(&node, &alice, &["balance"]).unwrap()["balance"],
            "EUR:67.50"
        );

        // The receipt verifies offline against the pinned node key.
        let r = chit(&node, &alice, &["receipt", &rent, "--verify"]).unwrap();
        assert_eq!(
            (r["verified"].as_bool(), r["amount"].as_str()),
            (Some(true), Some("EUR:20.00"))
        );

        // History as CSV: every money movement and payment, with its state and the balance
        // after each line that moved money, from Alice's side.
        let out = Command::new(CHIT)
            .args(["--node", &node.url, "--wallet"])
            .arg(&alice)
            .args(["history", "--format", "csv"])
            .output()
            .unwrap();
        let csv = String::from_utf8(out.stdout).unwrap();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("time,id,short_id,kind,direction,counterparty,amount,currency,amount_text,balance_after,state,note")
        );
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 7, "{csv}");
        assert!(
            rows[0].contains(",top_up,in,sandbox,100.00,EUR,EUR:100.00,100.00,completed,"),
            "{csv}"
        );
        assert!(
            rows.iter().any(|r| r.contains(&rent)
                && r.ends_with(",request,out,@bob,-20.00,EUR,EUR:20.00,67.50,paid,flat share")),
            "{csv}"
        );
        assert!(
            rows.iter()
                .any(|r| r.ends_with(",offer,out,@bob,-12.50,EUR,EUR:12.50,87.50,accepted,lunch")),
            "{csv}"
        );
        assert!(
            rows.iter()
                .any(|r| r.contains(&later) && r.ends_with(",-1.00,EUR,EUR:1.00,,scheduled,")),
            "{csv}"
        );
        // Times are ISO 8601 with their offset.
        assert!(rows.iter().all(|r| r[..25].ends_with("+00:00")), "{csv}");

        // The operator's audit, while the node runs: every signature, balance and payment.
        let node_dir = dir.path().join("node");
        let mut audit = Command::new(CHIT);
        audit
            .args(["admin", "audit", "--json", "--data-dir"])
            .arg(&node_dir);
        if let Some(url) = database {
            audit.args(["--database", url]);
        }
        let out = audit.output().unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(out.status.success(), "{engine:?}: {report}");
        assert_eq!(report["clean"], true, "{report}");
        assert!(report["payments"].as_u64().unwrap() >= 4, "{report}");
        assert!(
            report["signatures_checked"].as_u64().unwrap() >= 8,
            "{report}"
        );
        node.stop();
        let nowhere = Command::new(CHIT)
            .args(["admin", "audit", "--data-dir"])
            .arg(dir.path().join("none"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&nowhere.stderr);
        assert!(
            !nowhere.status.success() && err.contains("no node.key"),
            "{err}"
        );
    }
}

#[test]
fn serve_reads_a_config_file_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chit.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\ncurrencies = [\"EUR/2\", \"JPY/0\"]\ndefault_currency = \"JPY\"\nconnections_max = 64\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let info = |node: &Serve| -> Value {
        let mut client = chit_client::Client::new(&node.url, None);
        serde_json::to_value(client.node_info().unwrap()).unwrap()
    };
    let node = Serve::start_with(&["--config", config.to_str().unwrap()]);
    let seen = info(&node);
    assert_eq!(seen["default_currency"], "JPY");
    assert_eq!(seen["currencies"][1]["decimals"], 0);
    assert!(
        data.join("node.key").exists(),
        "data_dir came from the file"
    );
    node.stop();
    let node = Serve::start_with(&[
        "--config",
        config.to_str().unwrap(),
        "--default-currency",
        "EUR",
    ]);
    assert_eq!(
        info(&node)["default_currency"],
        "EUR",
        "a flag beats the file"
    );
    node.stop();
    std::fs::write(&config, "listen = 5\n").unwrap();
    let out = Command::new(CHIT)
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("config"), "{err}");
    let out = Command::new(CHIT)
        .args(["serve", "--connections-max", "0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("connections_max must be at least 1"),
        "{err}"
    );
}

/// One line from the IMPT gateway.
fn impt_line(reader: &mut impl std::io::BufRead) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

#[test]
fn an_offer_from_the_cli_is_accepted_over_impt_with_a_cli_token() {
    use std::io::{BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, bob) = (dir.path().join("alice"), dir.path().join("bob"));
    chit(&node, &alice, &["register", "alice"]).unwrap();
    chit(&node, &bob, &["register", "bob"]).unwrap();
    chit(
        &node,
        &alice,
        &["link", "sandbox", "DE89370400440532013000"],
    )
    .unwrap();
    chit(&node, &alice, &["topup", "EUR:20"]).unwrap();
    let token = chit(
        &node,
        &bob,
        &["token", "create", "--scope", "decide", "--label", "phone"],
    )
    .unwrap();
    let (token, key) = (
        token["token"].as_str().unwrap(),
        token["key"].as_str().unwrap(),
    );
    let listed = chit(&node, &bob, &["token", "list"]).unwrap();
    assert_eq!(listed["keys"][0]["key"], key);
    assert_eq!(listed["keys"][0]["label"], "phone");

    // Bob's IMPT client logs in with the token (SASL PLAIN: NUL bob NUL token, base64).
    let stream = std::net::TcpStream::connect(&node.impt).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let plain = chit_impt::gateway::sasl_plain("bob", token);
    write!(
        writer,
        "C > INIT [BEGIN] IMPT 1.0\r\nC > INIT [FINAL] IMPT 1.0\r\nC > AUTH [BEGIN] PLAIN {plain}\r\n"
    )
    .unwrap();
    assert_eq!(impt_line(&mut reader), "S > INIT [RES] IMPT 1.0");
    assert!(impt_line(&mut reader).starts_with("S > AUTH [RES] PLAIN "));

    chit(&node, &alice, &["send", "@bob", "3", "--note", "coffee"]).unwrap();
    let offer = impt_line(&mut reader);
    let parts: Vec<&str> = offer.split(' ').collect();
    assert_eq!(&parts[..4], ["S", ">", "PAYSND", "[BEGIN]"], "{offer}");
    assert_eq!(parts[6], "EUR:3.00");
    write!(writer, "C > PAYACCEPT [RES] {} {}\r\n", parts[4], parts[7]).unwrap();
    assert_eq!(
        impt_line(&mut reader),
        format!("S > TRANS_SUCCESS [FINAL] {} {}", parts[4], parts[7])
    );
    let balance = chit(&node, &bob, &["balance"]).unwrap();
    assert_eq!(balance["balance"], "EUR:3.00");

    // Revoked from the CLI: the token no longer logs in.
    chit(&node, &bob, &["token", "revoke", key]).unwrap();
    let stream = std::net::TcpStream::connect(&node.impt).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    write!(
        writer,
        "C > INIT [BEGIN] IMPT 1.0\r\nC > INIT [FINAL] IMPT 1.0\r\nC > AUTH [BEGIN] PLAIN {plain}\r\n"
    )
    .unwrap();
    impt_line(&mut reader);
    assert_eq!(
        impt_line(&mut reader),
        "S > ERR_INIT [FINAL] - \"authentication error\""
    );
    node.stop();
}

#[test]
fn serve_speaks_impt_over_tls_with_a_certificate_from_files() {
    use std::io::{BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());
    let data = dir.path().join("node");
    let node = Serve::start_with(&[
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--impt-tls-cert",
        cert_arg,
        "--impt-tls-key",
        key_arg,
    ]);
    let bob = dir.path().join("bob");
    chit(&node, &bob, &["register", "bob"]).unwrap();
    let token = chit(&node, &bob, &["token", "create"]).unwrap();
    let token = token["token"].as_str().unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = std::net::TcpStream::connect(&node.impt).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let tls = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut stream = BufReader::new(rustls::StreamOwned::new(tls, tcp));
    let plain = chit_impt::gateway::sasl_plain("bob", token);
    write!(
        stream.get_mut(),
        "C > INIT [BEGIN] IMPT 1.0\r\nC > INIT [FINAL] IMPT 1.0\r\nC > AUTH [BEGIN] PLAIN {plain}\r\n"
    )
    .unwrap();
    stream.get_mut().flush().unwrap();
    assert_eq!(impt_line(&mut stream), "S > INIT [RES] IMPT 1.0");
    assert!(impt_line(&mut stream).starts_with("S > AUTH [RES] PLAIN "));
    node.stop();

    // Half a TLS setting, or a file that is not what it should be: one line, no node.
    let refused = |args: &[&str]| -> String {
        let out = Command::new(CHIT)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    };
    let err = refused(&["--impt-tls-cert", cert_arg]);
    assert!(err.contains("needs both"), "{err}");
    let err = refused(&["--impt-tls-cert", key_arg, "--impt-tls-key", key_arg]);
    assert!(err.contains("no PEM certificate"), "{err}");
    let err = refused(&[
        "--impt",
        "off",
        "--impt-tls-cert",
        cert_arg,
        "--impt-tls-key",
        key_arg,
    ]);
    assert!(err.contains("gateway is off"), "{err}");
}
