//! The HTTP front door under a flood: silent and one-byte-a-second sockets from many
//! addresses, more than the node will hold, while a logged-in user and a health check keep
//! working. Loopback is all of 127.0.0.0/8, so each flood address is a real source address.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use chit_http::admission::Limits;

use super::*;

/// Sends one request on `stream` and reads the answer, or `None` if none came within `wait`
/// (or the node closed the connection).
fn ask(stream: &mut TcpStream, request: &str, wait: Duration) -> Option<String> {
    if stream.write_all(request.as_bytes()).is_err() {
        return None;
    }
    read_reply(stream, wait)
}

fn read_reply(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: chit\r\n\r\n";

fn balance_request(token: &str) -> String {
    format!("GET /v1/balance HTTP/1.1\r\nHost: chit\r\nAuthorization: Bearer {token}\r\n\r\n")
}

/// Whether the node has closed `stream` (EOF or reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_flood_of_silent_and_slow_sockets_leaves_users_and_health_checks_served() {
    let node = TestNode::start_with_limits(
        Engine::Sqlite,
        Limits {
            max: 40,
            per_address_max: 10,
            ..Limits::default()
        },
    );
    let (alice_c, _alice) = node.user("alice");
    let token = alice_c.token().unwrap().to_owned();
    // Alice's connection shows her session before the flood.
    let mut alice = connect_from(&node.url, "127.0.0.1");
    let ok = |reply: Option<String>| reply.is_some_and(|r| r.starts_with("HTTP/1.1 200"));
    assert!(ok(ask(
        &mut alice,
        &balance_request(&token),
        Duration::from_secs(5)
    )));

    // 12 addresses × 10 silent sockets, and 10 more that trickle a header a byte at a time:
    // three times what the node holds.
    let mut silent = Vec::new();
    for a in 1..=12 {
        for _ in 0..10 {
            silent.push(connect_from(&node.url, &format!("127.0.3.{a}")));
        }
    }
    let mut slow: Vec<TcpStream> = (0..10)
        .map(|_| connect_from(&node.url, "127.0.4.1"))
        .collect();
    for (i, byte) in HEALTHZ.bytes().take(12).enumerate() {
        for s in &mut slow {
            let _ = s.write_all(&[byte]);
        }
        if i % 4 == 0 {
            // Users keep working meanwhile, on the connection they had and on new ones.
            assert!(ok(ask(
                &mut alice,
                &balance_request(&token),
                Duration::from_secs(5)
            )));
            let mut check = connect_from(&node.url, "127.0.0.2");
            assert!(ok(ask(&mut check, HEALTHZ, Duration::from_secs(5))));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // An address at its share makes room from its own strangers: one more silent socket
    // from 127.0.3.12 closes that address's oldest.
    let _extra = connect_from(&node.url, "127.0.3.12");
    // An address whose every place is a logged-in connection is told so, in JSON, and let go.
    let mut users: Vec<TcpStream> = (0..10)
        .map(|_| connect_from(&node.url, "127.0.5.1"))
        .collect();
    for user in &mut users {
        assert!(ok(ask(
            user,
            &balance_request(&token),
            Duration::from_secs(5)
        )));
    }
    let mut extra = connect_from(&node.url, "127.0.5.1");
    let reply = read_reply(&mut extra, Duration::from_secs(5)).unwrap_or_default();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(
        reply.contains(r#""code":"too_many_connections""#),
        "{reply}"
    );

    // The SDK, on its own connections, still works, and alice's socket was never displaced.
    assert!(alice_c.balances().is_ok());
    assert!(ok(ask(
        &mut alice,
        &balance_request(&token),
        Duration::from_secs(5)
    )));
    let (status, text) = raw(&node.metrics_url, "GET", "/metrics", None, b"");
    assert_eq!(status, 200);
    let shed = |reason: &str| -> u64 {
        let prefix = format!("chit_http_connections_shed_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(shed("displaced") >= 90, "{text}");
    assert!(shed("address_full") >= 1, "{text}");
}

#[test]
fn silent_and_trickling_sockets_are_closed_at_the_header_deadline() {
    let node = TestNode::start_with_limits(
        Engine::Sqlite,
        Limits {
            header_read_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
    );
    let mut silent = connect_from(&node.url, "127.0.0.1");
    let mut trickle = connect_from(&node.url, "127.0.0.1");
    let started = Instant::now();
    let writer = {
        let mut trickle = trickle.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in HEALTHZ.bytes().take(20) {
                if trickle.write_all(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    assert!(closed_within(&mut silent, Duration::from_secs(10)));
    assert!(closed_within(&mut trickle, Duration::from_secs(10)));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "closed after {took:?}");
    writer.join().unwrap();
    // A kept-alive connection that goes quiet is closed too, after its answer.
    let mut kept = connect_from(&node.url, "127.0.0.1");
    assert!(ask(&mut kept, HEALTHZ, Duration::from_secs(5)).is_some());
    assert!(closed_within(&mut kept, Duration::from_secs(10)));
}

#[test]
fn when_every_place_is_a_logged_in_user_s_a_newcomer_waits_for_one_to_close() {
    let node = TestNode::start_with_limits(
        Engine::Sqlite,
        Limits {
            max: 2,
            ..Limits::default()
        },
    );
    // The login itself takes connections; they are the SDK's and close when it is dropped.
    let token = {
        let (client, _) = node.user("alice");
        client.token().unwrap().to_owned()
    };
    let ok = |reply: Option<String>| reply.is_some_and(|r| r.starts_with("HTTP/1.1 200"));
    let wait = Duration::from_secs(5);
    let connect = || {
        let started = Instant::now();
        loop {
            let mut stream = connect_from(&node.url, "127.0.0.1");
            if ok(ask(&mut stream, &balance_request(&token), wait)) {
                return stream;
            }
            assert!(started.elapsed() < wait, "no place for a user");
        }
    };
    let first = connect();
    let mut second = connect();
    // Both places are a user's: the third is accepted by the kernel but waits.
    let mut third = connect_from(&node.url, "127.0.0.1");
    assert_eq!(ask(&mut third, HEALTHZ, Duration::from_millis(500)), None);
    assert!(ok(ask(&mut second, &balance_request(&token), wait)));
    drop(first);
    let reply = read_reply(&mut third, wait).unwrap_or_default();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn a_session_token_in_the_address_works_only_for_a_websocket() {
    let node = TestNode::start(Engine::Sqlite);
    let (client, _) = node.user("alice");
    let token = client.token().unwrap();
    let (status, body) = raw(
        &node.url,
        "GET",
        &format!("/v1/balance?token={token}"),
        None,
        b"",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("token_in_query"), "{body}");
    let (socket, _) = tungstenite::connect(format!(
        "{}/v1/events?token={token}",
        node.url.replace("http://", "ws://")
    ))
    .expect("a WebSocket may carry its token in the address");
    drop(socket);
}

#[test]
fn a_user_s_event_channel_goes_when_their_last_socket_closes() {
    let node = TestNode::start(Engine::Sqlite);
    node.node
        .throttles()
        .set(chit_node::throttle::Budgets::unlimited());
    let ws = node.url.replace("http://", "ws://");
    for i in 0..100 {
        let (client, _) = node.user(&format!("user{i}"));
        let token = client.token().unwrap();
        let url = format!("{ws}/v1/events?token={token}");
        let (mut first, _) = tungstenite::connect(&url).unwrap();
        let (mut second, _) = tungstenite::connect(&url).unwrap();
        first.close(None).unwrap();
        let _ = first.read();
        second.close(None).unwrap();
        let _ = second.read();
    }
    // The node notices each close on its own task: give the last ones a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while node.node.hub().channels() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(node.node.hub().channels(), 0);
}
