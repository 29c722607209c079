//! The node's connection limit: connections beyond it wait to be accepted and are served as
//! soon as another closes; none is refused or dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::*;

/// Sends `GET /healthz` on a kept-alive connection and waits up to `wait` for the answer.
fn healthz(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: chit\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(n) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Ok(_) => None,
        Err(e)
            if e.kind() == std::io::ErrorKind::WouldBlock
                || e.kind() == std::io::ErrorKind::TimedOut =>
        {
            None
        }
        Err(e) => panic!("read: {e}"),
    }
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let node = TestNode::start_with_connections_max(Engine::Sqlite, 2);
    let address = node.url.trim_start_matches("http://").to_owned();
    let answered = |reply: Option<String>| reply.is_some_and(|r| r.starts_with("HTTP/1.1 200"));
    let mut first = TcpStream::connect(&address).unwrap();
    let mut second = TcpStream::connect(&address).unwrap();
    assert!(answered(healthz(&mut first, Duration::from_secs(5))));
    assert!(answered(healthz(&mut second, Duration::from_secs(5))));
    // The third connection is queued by the kernel but not accepted: its request waits.
    let mut third = TcpStream::connect(&address).unwrap();
    assert_eq!(healthz(&mut third, Duration::from_millis(500)), None);
    // Both open connections still work meanwhile.
    assert!(answered(healthz(&mut second, Duration::from_secs(5))));
    drop(first);
    let mut buf = [0u8; 1024];
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = third.read(&mut buf).unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("ok"), "{reply}");
}
