//! What a new user runs into, through the real binary and in text mode as people read it:
//! ids they can type, errors that say what to do, history and receipts with the node down,
//! a damaged cache, a lost key file, a second node on the same data, the README's IMPT client.

use std::path::Path;
use std::process::Command;

use super::{chit, Serve, CHIT};

/// A command's outcome as a person sees it (no `--json`, no colour).
struct Run {
    ok: bool,
    out: String,
    err: String,
}

fn run(node: &str, wallet: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(CHIT);
    cmd.args(["--node", node, "--wallet"])
        .arg(wallet)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CHIT_PASSPHRASE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let run = Run {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.err.contains("panicked"), "{}", run.err);
    run
}

/// Two registered wallets; Alice has `EUR:50.00` from the sandbox rail.
fn two_wallets(node: &Serve, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (alice, bob) = (dir.join("alice"), dir.join("bob"));
    chit(node, &alice, &["register", "alice"]).unwrap();
    chit(node, &bob, &["register", "bob"]).unwrap();
    chit(node, &alice, &["link", "sandbox", "DE89370400440532013000"]).unwrap();
    chit(node, &alice, &["topup", "50"]).unwrap();
    (alice, bob)
}

#[test]
fn ids_are_typed_by_prefix_or_short_form_and_mistakes_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, bob) = two_wallets(&node, dir.path());

    // Each command prints the id of what it made, in full under --json and short in text.
    let first = chit(&node, &alice, &["send", "@bob", "5"]).unwrap();
    let first = first["id"].as_str().unwrap().to_owned();
    let second = run(
        &node.url,
        &alice,
        &["send", "@bob", "7", "--note", "tickets"],
        &[],
    );
    assert!(second.ok, "{}", second.err);
    let short = second.out.split("(id ").nth(1).unwrap()[..8].to_owned();
    assert!(
        second.out.contains(&format!("(id {short})")),
        "{}",
        second.out
    );

    // Time-ordered ids share their leading digits: a common prefix is ambiguous, and says so.
    let common = &first[..4];
    let ambiguous = run(&node.url, &bob, &["accept", common], &[]);
    assert!(!ambiguous.ok);
    assert!(
        ambiguous.err.contains("matches 2") && ambiguous.err.contains("type more"),
        "{}",
        ambiguous.err
    );
    // Bob's inbox shows the short forms; the short form (in capitals too) is enough.
    let inbox = run(&node.url, &bob, &["inbox"], &[]);
    assert!(inbox.out.contains(&short), "{}", inbox.out);
    assert!(inbox.out.contains("@alice → you"), "{}", inbox.out);
    let accepted = run(&node.url, &bob, &["accept", &short.to_uppercase()], &[]);
    assert!(accepted.ok, "{}", accepted.err);
    assert!(accepted.out.contains("accepted"), "{}", accepted.out);
    // The first offer by a unique prefix of its full id (now the only one of Bob's that is
    // open); `reject` on it says to decline.
    let reject = run(&node.url, &bob, &["reject", &first[..26]], &[]);
    assert!(!reject.ok);
    assert!(reject.err.contains("decline"), "{}", reject.err);
    assert!(run(&node.url, &bob, &["decline", &first[24..]], &[]).ok);
    let unknown = run(&node.url, &bob, &["accept", "ffffffff"], &[]);
    assert!(
        !unknown.ok && unknown.err.contains("ffffffff"),
        "{}",
        unknown.err
    );

    // Values that begin with `-` are values: a negative amount is an amount error.
    let negative = run(&node.url, &alice, &["send", "@bob", "-5"], &[]);
    assert!(!negative.ok);
    assert!(
        negative.err.contains("amount is positive"),
        "{}",
        negative.err
    );
    // Under --json errors are JSON: one line on stderr, a code and a message, exit code ≠ 0.
    let json = run(&node.url, &alice, &["--json", "send", "@bob", "-5"], &[]);
    assert!(!json.ok);
    let error: serde_json::Value = serde_json::from_str(json.err.trim()).unwrap();
    assert!(error["error"]["code"].is_string(), "{}", json.err);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("amount"));
    // Insufficient funds say what is there.
    let broke = run(&node.url, &alice, &["send", "@bob", "100"], &[]);
    assert!(broke.err.contains("EUR:43.00 available"), "{}", broke.err);

    // auto-accept with no mode shows the mode; serve's help is about the node only.
    let mode = run(&node.url, &bob, &["auto-accept"], &[]);
    assert!(mode.ok && mode.out.contains("off"), "{}", mode.out);
    let help = Command::new(CHIT)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--data-dir") && !help.contains("--wallet"),
        "{help}"
    );
    let cancel = Command::new(CHIT)
        .args(["cancel", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&cancel.stdout).contains("request"));
    node.stop();
}

#[test]
fn conversations_read_back_and_a_refund_reads_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, bob) = two_wallets(&node, dir.path());
    chit(&node, &alice, &["say", "@bob", "lunch?"]).unwrap();
    let offer = chit(&node, &alice, &["send", "@bob", "12.50", "--note", "lunch"]).unwrap();
    let offer = offer["id"].as_str().unwrap();
    chit(&node, &bob, &["accept", offer]).unwrap();
    chit(&node, &bob, &["say", "@alice", "thanks!"]).unwrap();

    let chats = run(&node.url, &alice, &["chats"], &[]);
    assert!(
        chats.out.contains("@bob") && chats.out.contains("2 new"),
        "{}",
        chats.out
    );
    let thread = run(&node.url, &alice, &["thread", "@bob"], &[]);
    let lines: Vec<&str> = thread.out.lines().collect();
    assert!(
        lines[0].contains("you → @bob") && lines[0].contains("lunch?"),
        "{}",
        thread.out
    );
    assert!(
        lines[1].contains("[accepted]"),
        "the offer with its state now: {}",
        thread.out
    );
    assert!(lines.last().unwrap().contains("@bob → you") && thread.out.contains("thanks!"));
    // Read now: no longer new.
    let chats = run(&node.url, &alice, &["chats"], &[]);
    assert!(!chats.out.contains("new"), "{}", chats.out);

    // Bob gives it back: the receipt says refund, history has the line with the balance.
    let refund = run(&node.url, &bob, &["refund", &offer[24..]], &[]);
    assert!(
        refund.ok && refund.out.contains("refunded"),
        "{}",
        refund.err
    );
    let again = run(&node.url, &bob, &["refund", &offer[24..]], &[]);
    assert!(!again.ok && again.err.contains("already"), "{}", again.err);
    let receipt = run(
        &node.url,
        &alice,
        &["receipt", &offer[24..], "--verify"],
        &[],
    );
    assert!(
        receipt.out.contains("@bob refunded EUR:12.50 to @alice"),
        "{}",
        receipt.out
    );
    assert!(receipt.out.contains("signature valid"), "{}", receipt.out);
    let history = run(&node.url, &alice, &["history"], &[]);
    let refund_line = history.out.lines().find(|l| l.contains("refund ")).unwrap();
    assert!(refund_line.contains("EUR:50.00"), "{}", history.out);
    node.stop();
}

#[test]
fn history_and_receipts_work_with_the_node_down() {
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, bob) = two_wallets(&node, dir.path());
    let offer = chit(&node, &alice, &["send", "@bob", "5"]).unwrap();
    let offer = offer["id"].as_str().unwrap().to_owned();
    chit(&node, &bob, &["accept", &offer]).unwrap();
    chit(&node, &alice, &["history"]).unwrap();
    let url = node.url.clone();
    node.stop();

    let history = run(&url, &alice, &["history", "--format", "csv"], &[]);
    assert!(history.ok, "{}", history.err);
    let rows: Vec<&str> = history.out.lines().collect();
    assert!(
        rows[1].contains(",top_up,in,sandbox,50.00,EUR,EUR:50.00,50.00,"),
        "{}",
        history.out
    );
    assert!(
        rows[2].contains(",offer,out,@bob,-5.00,EUR,EUR:5.00,45.00,accepted"),
        "{}",
        history.out
    );
    let receipt = run(&url, &alice, &["receipt", &offer[24..], "--verify"], &[]);
    assert!(
        receipt.ok && receipt.out.contains("signature valid"),
        "{}",
        receipt.err
    );
    let balance = run(&url, &alice, &["balance"], &[]);
    assert!(!balance.ok);
    assert!(
        balance.err.contains("cannot reach the node at") && balance.err.contains("chit serve"),
        "{}",
        balance.err
    );
}

#[test]
fn a_damaged_cache_is_set_aside_and_lost_keys_come_back_from_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, _bob) = two_wallets(&node, dir.path());
    std::fs::write(alice.join("session.json"), "{ not json").unwrap();
    let balance = run(&node.url, &alice, &["balance"], &[]);
    assert!(
        balance.ok && balance.out.contains("EUR:50.00"),
        "{}",
        balance.err
    );
    assert!(balance.err.contains("set aside"), "a note: {}", balance.err);
    assert!(alice.join("session.json.damaged").exists());

    // A backup, then the keys file is lost: the error says how to restore.
    let backup = dir.path().join("alice.backup");
    let pass = [("CHIT_PASSPHRASE", "correct horse battery staple")];
    let made = run(
        &node.url,
        &alice,
        &["key", "export", backup.to_str().unwrap()],
        &pass,
    );
    assert!(made.ok, "{}", made.err);
    let again = run(
        &node.url,
        &alice,
        &["key", "export", backup.to_str().unwrap()],
        &pass,
    );
    assert!(
        !again.ok && again.err.contains("exists"),
        "never overwritten: {}",
        again.err
    );
    std::fs::write(alice.join("keys.json"), "{ damaged").unwrap();
    let lost = run(&node.url, &alice, &["balance"], &[]);
    assert!(
        !lost.ok && lost.err.contains("chit key import"),
        "{}",
        lost.err
    );
    let restored = dir.path().join("alice-again");
    let wrong = [("CHIT_PASSPHRASE", "not the passphrase at all")];
    let refused = run(
        &node.url,
        &restored,
        &["key", "import", backup.to_str().unwrap()],
        &wrong,
    );
    assert!(
        !refused.ok && refused.err.contains("passphrase"),
        "{}",
        refused.err
    );
    let import = run(
        &node.url,
        &restored,
        &["key", "import", backup.to_str().unwrap()],
        &pass,
    );
    assert!(import.ok, "{}", import.err);
    let balance = run(&node.url, &restored, &["balance"], &[]);
    assert!(
        balance.ok && balance.out.contains("EUR:50.00"),
        "{}",
        balance.err
    );
    node.stop();
}

#[test]
fn the_node_is_found_by_host_port_and_a_different_node_is_named() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let other = Serve::start(&dir.path().join("other"), None);
    let (alice, _bob) = two_wallets(&node, dir.path());
    let host_port = node.url.trim_start_matches("http://");
    let balance = run(host_port, &alice, &["balance"], &[]);
    assert!(
        balance.ok && balance.out.contains("EUR:50.00"),
        "{}",
        balance.err
    );
    let wrong = run(&other.url, &alice, &["balance"], &[]);
    assert!(!wrong.ok);
    assert!(
        wrong.err.contains("not the node this wallet registered at"),
        "{}",
        wrong.err
    );

    // The home page: what this is and where the API is.
    let mut http = std::net::TcpStream::connect(host_port).unwrap();
    write!(
        http,
        "GET / HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("text/html") && page.contains("/v1/openapi.json"),
        "{page}"
    );
    node.stop();
    other.stop();
}

#[test]
fn a_second_node_on_the_same_data_or_a_taken_port_is_refused_before_it_announces() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Serve::start(&data, None);
    let second = Command::new(CHIT)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--impt",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another chit serve"), "{err}");
    assert!(!String::from_utf8_lossy(&second.stdout).contains("listening"));
    node.stop();

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let out = Command::new(CHIT)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--impt",
            &port,
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("IMPT gateway") && err.contains(&port), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening"),
        "announced nothing"
    );
    let bad_currency = Command::new(CHIT)
        .args(["serve", "--currency", "EUR", "--data-dir"])
        .arg(dir.path().join("fresh"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad_currency.stderr);
    assert!(
        !bad_currency.status.success() && err.contains("EUR/2"),
        "{err}"
    );
}

#[test]
fn the_readme_impt_client_accepts_an_offer_made_while_it_was_away() {
    let dir = tempfile::tempdir().unwrap();
    let node = Serve::start(&dir.path().join("node"), None);
    let (alice, bob) = two_wallets(&node, dir.path());
    let token = chit(
        &node,
        &bob,
        &["token", "create", "--scope", "decide", "--label", "phone"],
    )
    .unwrap();
    chit(&node, &alice, &["send", "@bob", "3"]).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/impt.py");
    let out = Command::new("python3")
        .args([script, "bob", token["token"].as_str().unwrap()])
        .args(["--gateway", &node.impt, "--accept", "--wait", "2"])
        .output()
        .expect("python3 (the README's IMPT example needs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("S > PAYSND [BEGIN]") && text.contains("EUR:3.00"),
        "{text}"
    );
    assert!(text.contains("S > TRANS_SUCCESS [FINAL]"), "{text}");
    let balance = chit(&node, &bob, &["balance"]).unwrap();
    assert_eq!(balance["balance"], "EUR:3.00");
    node.stop();
}
