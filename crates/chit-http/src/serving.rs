//! The HTTP server loop: accept, admit ([`crate::admission`]), serve HTTP/1.1 with deadlines,
//! shut down gracefully. `axum::serve` has no header deadline, no idle deadline and no
//! per-address bound, so a few thousand silent sockets took the whole API away; this loop keeps
//! every one of those explicit.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::admission::{Admission, Connection, Limits, Ticket};
use crate::ApiError;

/// Serves `router` on `listener` until `shutdown` resolves; in-flight requests finish first.
/// Connections are admitted by `limits` (see [`crate::admission`]); `counted` is told the
/// counts whenever they change.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    counted: impl Fn(&Admission) + Send + Sync + 'static,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let admission = Admission::new(limits);
    let counted = Arc::new(counted);
    let (stop, stopping) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admitted = tokio::select! {
            admitted = admission.admit(peer.ip()) => admitted,
            () = &mut shutdown => break,
        };
        counted(&admission);
        match admitted {
            Some(ticket) => {
                let (router, stopping, admission, counted) = (
                    router.clone(),
                    stopping.clone(),
                    admission.clone(),
                    counted.clone(),
                );
                tokio::spawn(async move {
                    serve_connection(stream, peer, ticket, router, limits, stopping).await;
                    counted(&admission);
                });
            }
            None => refuse(stream, limits),
        }
    }
    drop(stopping);
    let _ = stop.send(());
    // Every connection holds a receiver; all are gone once the last one has finished.
    stop.closed().await;
    Ok(())
}

/// EMFILE and the like: wait a little instead of spinning (as hyper's own server does).
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if !matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        tracing::warn!(error = %e, "accept failed; retrying in a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Tells a client whose address holds too many connections why, then closes.
fn refuse(stream: TcpStream, limits: Limits) {
    let error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_connections",
        &format!(
            "this address has {} connections open, the most one address may hold; close one and retry",
            limits.per_address_max
        ),
    );
    let body = serde_json::to_string(&error.body()).expect("serialisable");
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    // Best effort and never waiting: a fresh socket's send buffer takes this whole.
    let _ = stream.try_write(reply.as_bytes());
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    router: Router,
    limits: Limits,
    mut stopping: tokio::sync::watch::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let connection = ticket.connection().clone();
    let io = TokioIo::new(Guarded { stream, ticket });
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        let busy = connection.begin_request();
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(connection.clone());
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        let response = tower_service::Service::call(&mut router, request);
        async move {
            let _busy = busy;
            Ok::<_, std::convert::Infallible>(
                match tokio::time::timeout(limits.request_timeout, response).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        &format!(
                            "a request may take {} s at most",
                            limits.request_timeout.as_secs()
                        ),
                    )
                    .into_response(),
                },
            )
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut serving = std::pin::pin!(http.serve_connection(io, service).with_upgrades());
    tokio::select! {
        _ = serving.as_mut() => return,
        _ = stopping.changed() => serving.as_mut().graceful_shutdown(),
    }
    let _ = serving.await;
}

/// An admitted socket: holds its place in the table for as long as it lives (through a
/// WebSocket upgrade too), and fails at once when the table closes it to make room.
struct Guarded {
    stream: TcpStream,
    ticket: Ticket,
}

impl Guarded {
    fn displaced(&self, cx: &Context<'_>) -> bool {
        let connection: &Connection = self.ticket.connection();
        connection.register(cx.waker());
        connection.is_closed()
    }
}

fn displaced_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "closed to make room for another connection",
    )
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.displaced(cx) {
            return Poll::Ready(Err(displaced_error()));
        }
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.displaced(cx) {
            return Poll::Ready(Err(displaced_error()));
        }
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.displaced(cx) {
            return Poll::Ready(Err(displaced_error()));
        }
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
