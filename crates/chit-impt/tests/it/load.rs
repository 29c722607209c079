//! A thousand IMPT sessions against one node at once: 500 pairs each settle a payment, and
//! every one of the thousand sessions gets its TRANS_SUCCESS.

use chit_ledger_tests::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};

use super::*;

const PAIRS: usize = 500;

async fn session(
    addr: SocketAddr,
    handle: String,
    token: String,
) -> (
    tokio::io::Lines<AsyncBufReader<tokio::net::tcp::OwnedReadHalf>>,
    tokio::net::tcp::OwnedWriteHalf,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = AsyncBufReader::new(read).lines();
    let auth = plain(&handle, &token);
    write
        .write_all(
            format!("C > INIT [BEGIN] IMPT 1.0\r\nC > INIT [FINAL] IMPT 1.0\r\nC > AUTH [BEGIN] PLAIN {auth}\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "S > INIT [RES] IMPT 1.0"
    );
    let auth = lines.next_line().await.unwrap().unwrap();
    assert!(auth.starts_with("S > AUTH [RES] PLAIN "), "{auth}");
    (lines, write)
}

async fn next(
    lines: &mut tokio::io::Lines<AsyncBufReader<tokio::net::tcp::OwnedReadHalf>>,
) -> String {
    tokio::time::timeout(Duration::from_secs(120), lines.next_line())
        .await
        .expect("a line within two minutes")
        .unwrap()
        .expect("the session stays open")
}

#[test]
fn a_thousand_sessions_lose_no_confirmation() {
    let gw = Gateway::start(Engine::Sqlite);
    let users: Vec<(User, User)> = (0..PAIRS)
        .map(|i| {
            (
                gw.user(&format!("payer{i}"), Some("EUR:10.00"), ALL),
                gw.user(&format!("payee{i}"), None, ALL),
            )
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = gw.impt;
    let confirmations = runtime.block_on(async move {
        // All thousand sessions are open before any payment starts.
        let mut opened = Vec::new();
        for (payer, payee) in &users {
            let p = session(addr, payer.me.handle.to_string(), payer.token.clone()).await;
            let q = session(addr, payee.me.handle.to_string(), payee.token.clone()).await;
            opened.push((p, q, payee.me.handle.to_string()));
        }
        let tasks: Vec<_> = opened
            .into_iter()
            .map(|((mut pl, mut pw), (mut ql, mut qw), payee)| {
                tokio::spawn(async move {
                    pw.write_all(format!("C > WHO [BEGIN] {payee}\r\n").as_bytes())
                        .await
                        .unwrap();
                    let who = next(&mut pl).await;
                    let payee_t = who.rsplit(' ').next().unwrap().to_owned();
                    pw.write_all(
                        format!("C > PAYSND [BEGIN] {payee_t} chit 1 0000000001\r\n").as_bytes(),
                    )
                    .await
                    .unwrap();
                    let offer = next(&mut ql).await;
                    let parts: Vec<&str> = offer.split(' ').collect();
                    assert_eq!(parts[2], "PAYSND", "{offer}");
                    let (payer_t, rid) = (parts[4].to_owned(), parts[7].to_owned());
                    qw.write_all(format!("C > PAYACCEPT [RES] {payer_t} {rid}\r\n").as_bytes())
                        .await
                        .unwrap();
                    let mut got = 0;
                    for line in [next(&mut ql).await, next(&mut pl).await] {
                        assert!(line.starts_with("S > TRANS_SUCCESS [FINAL]"), "{line}");
                        got += 1;
                    }
                    got
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(confirmations, 2 * PAIRS);
    let audit = gw.node.ledger().audit().unwrap();
    assert!(audit.is_clean(), "{audit:?}");
}
