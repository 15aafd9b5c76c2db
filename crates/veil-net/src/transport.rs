//! Servers and channels with Veil's limits: bounded messages, idle peers timed out, and a
//! clean stop on Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

use crate::error::{Error, Result};
use crate::tls::TlsIdentity;

/// Limits every Veil server and client applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message accepted, in bytes (services set it on their generated servers
    /// and clients with `max_decoding_message_size`).
    pub max_message_bytes: usize,
    /// How long a request may take before it is cancelled.
    pub request_timeout: Duration,
    /// HTTP/2 keep-alive pings: a peer that answers none within this time is dropped.
    pub keepalive: Duration,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message_bytes: 64 << 20,
            request_timeout: Duration::from_secs(120),
            keepalive: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// HTTP/2 flow-control windows. The protocol's default of 64 KiB makes a sender wait for
/// the receiver's acknowledgement every 64 KiB, which caps a stream of megabyte ciphertexts
/// at a few tens of MB/s even on loopback; with these a stream can have 8 MiB in flight.
const STREAM_WINDOW: u32 = 8 << 20;
const CONNECTION_WINDOW: u32 = 16 << 20;

fn transport(e: impl std::fmt::Display) -> Error {
    // tonic's transport errors hide the cause (e.g. the TLS alert) behind "transport error";
    // the source chain is printed by the caller.
    Error::Transport(e.to_string())
}

/// A server builder with mutual TLS and the limits set; add services and serve with
/// [`spawn`].
pub fn server(tls: &TlsIdentity, limits: &Limits) -> Result<Server> {
    Server::builder()
        .tls_config(tls.server_config())
        .map_err(transport)
        .map(|s| {
            s.timeout(limits.request_timeout)
                .initial_stream_window_size(Some(STREAM_WINDOW))
                .initial_connection_window_size(Some(CONNECTION_WINDOW))
                .http2_keepalive_interval(Some(limits.keepalive))
                .http2_keepalive_timeout(Some(limits.keepalive))
                .tcp_keepalive(Some(limits.keepalive))
        })
}

/// A server running in the background until [`Running::stop`].
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::result::Result<(), tonic::transport::Error>>,
}

/// Serves `router` on `incoming` in the background.
pub fn spawn(router: tonic::transport::server::Router, incoming: TcpIncoming) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            })
            .await
    });
    Running { stop, task }
}

impl Running {
    /// Stops accepting connections and waits up to `grace` for open streams to end.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(grace, self.task).await;
    }
}

/// Binds `addr` (port 0 picks a free one); the listener reports the address it got.
pub fn bind(addr: SocketAddr) -> Result<TcpIncoming> {
    TcpIncoming::bind(addr).map_err(|e| Error::Transport(format!("cannot listen on {addr}: {e}")))
}

/// Resolves when the process receives Ctrl-C (SIGINT), or never if no handler can be set.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A mutually authenticated channel to `addr` (host:port), whose certificate must name
/// `server_name`.
pub async fn connect(
    addr: &str,
    server_name: &str,
    tls: &TlsIdentity,
    limits: &Limits,
) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .map_err(|e| Error::Transport(format!("{addr}: {e}")))?
        .tls_config(tls.client_config(server_name))
        .map_err(transport)?
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.request_timeout)
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .http2_keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(limits.keepalive)
        .keep_alive_while_idle(true);
    endpoint
        .connect()
        .await
        .map_err(|e| Error::Transport(format!("{addr}: {}", with_causes(&e))))
}

/// An error's message followed by those of its causes (tonic's say only "transport error"
/// and keep the TLS alert or I/O error underneath), each once.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    append_causes(e.to_string(), e.source())
}

fn append_causes(
    mut message: String,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// An [`Error::Transport`] for a failed call: what was being done, the status's message and
/// whatever lies under it.
pub fn call_failed(what: &str, status: &tonic::Status) -> Error {
    let message = format!("{what}: {}", status.message());
    Error::Transport(append_causes(message, std::error::Error::source(status)))
}
