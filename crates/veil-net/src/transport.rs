//! Servers and channels with Veil's limits: bounded messages, idle peers timed out, and a
//! clean stop on Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};

use crate::error::{ConnectProblem, Error, Result};
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

/// A server builder with mutual TLS and the limits set; add services and serve with
/// [`spawn`].
pub fn server(tls: &TlsIdentity, limits: &Limits) -> Result<Server> {
    Server::builder()
        .tls_config(tls.server_config())
        .map_err(Error::TlsConfig)
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
    TcpIncoming::bind(addr).map_err(|source| Error::Listen { addr, source })
}

/// Resolves when the process receives Ctrl-C (SIGINT), or never if no handler can be set.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A server's address: HOST:PORT, where HOST is a DNS name, an IPv4 address or a bracketed
/// IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    host: String,
    port: u16,
}

impl ServerAddr {
    /// The host, without the brackets of an IPv6 address: the name the server's certificate
    /// is expected to carry unless another is given.
    pub fn host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl From<SocketAddr> for ServerAddr {
    fn from(addr: SocketAddr) -> ServerAddr {
        let host = match addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        ServerAddr {
            host,
            port: addr.port(),
        }
    }
}

impl std::fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl std::str::FromStr for ServerAddr {
    type Err = Error;

    /// Parses HOST:PORT with the URI grammar (RFC 3986 authority, no user info).
    fn from_str(text: &str) -> Result<ServerAddr> {
        let bad = |why| Error::BadAddress {
            addr: text.to_string(),
            why,
        };
        if text.contains(['/', '@', '?', '#']) || text.chars().any(char::is_whitespace) {
            return Err(bad("only a host and a port"));
        }
        let authority: tonic::codegen::http::uri::Authority =
            text.parse().map_err(|_| bad("not a host and a port"))?;
        let port = authority.port_u16().ok_or_else(|| bad("no port"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(ServerAddr {
            host: host.to_string(),
            port,
        })
    }
}

/// How [`connect`] tells an unreachable server from a refused certificate: the typed causes
/// under tonic's transport error (an I/O error's kind; a rustls error, directly or inside
/// an I/O error).
fn classify(e: &tonic::transport::Error) -> ConnectProblem {
    use std::io::ErrorKind as Io;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<rustls::Error>() {
            return ConnectProblem::Tls;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return ConnectProblem::Tls;
            }
            match io.kind() {
                Io::ConnectionRefused
                | Io::NotFound
                | Io::AddrNotAvailable
                | Io::HostUnreachable
                | Io::NetworkUnreachable => return ConnectProblem::Unreachable,
                Io::TimedOut => return ConnectProblem::Timeout,
                _ => {}
            }
        }
        cause = c.source();
    }
    ConnectProblem::Other
}

/// A mutually authenticated channel to `addr`, whose certificate must name `server_name`.
pub async fn connect(
    addr: &ServerAddr,
    server_name: &str,
    tls: &TlsIdentity,
    limits: &Limits,
) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .map_err(|_| Error::BadAddress {
            addr: addr.to_string(),
            why: "not a valid URI authority",
        })?
        .tls_config(tls.client_config(server_name))
        .map_err(Error::TlsConfig)?
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.request_timeout)
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(CONNECTION_WINDOW))
        .http2_keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(limits.keepalive)
        .keep_alive_while_idle(true);
    endpoint.connect().await.map_err(|source| Error::Connect {
        addr: addr.to_string(),
        problem: classify(&source),
        source,
    })
}

/// [`connect`], trying again every 200 ms for up to `wait` while the server cannot be
/// reached (it may not be up yet); any other failure (a refused certificate, a timeout) is
/// returned at once.
pub async fn connect_retrying(
    addr: &ServerAddr,
    server_name: &str,
    tls: &TlsIdentity,
    limits: &Limits,
    wait: Duration,
) -> Result<Channel> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match connect(addr, server_name, tls, limits).await {
            Err(Error::Connect {
                problem: ConnectProblem::Unreachable,
                ..
            }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            result => return result,
        }
    }
}

/// A server a client dials: where, the name its certificate must carry, and how long to
/// keep trying while it cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// HOST:PORT.
    pub addr: ServerAddr,
    /// The name the server's certificate must carry (`None`: the host of `addr`).
    pub server_name: Option<String>,
    /// How long to keep trying an unreachable server.
    pub wait: Duration,
}

impl Peer {
    /// The name the server's certificate must carry: `server_name`, else the host.
    pub fn name(&self) -> String {
        self.server_name
            .clone()
            .unwrap_or_else(|| self.addr.host().to_string())
    }

    /// A channel to the peer, authenticated both ways with `tls` (see [`connect_retrying`]).
    pub async fn connect(&self, tls: &TlsIdentity, limits: &Limits) -> Result<Channel> {
        connect_retrying(&self.addr, &self.name(), tls, limits, self.wait).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_parse_as_host_and_port() {
        let a: ServerAddr = "10.0.0.5:7070".parse().unwrap();
        assert_eq!((a.host(), a.port()), ("10.0.0.5", 7070));
        let b: ServerAddr = "fl.example.org:443".parse().unwrap();
        assert_eq!((b.host(), b.port()), ("fl.example.org", 443));
        let c: ServerAddr = "[::1]:9000".parse().unwrap();
        assert_eq!(
            (c.host(), c.port(), c.to_string().as_str()),
            ("::1", 9000, "[::1]:9000")
        );
        for bad in [
            "",
            "host",
            "host:",
            ":80",
            "host:99999",
            "a b:1",
            "https://x:1",
            "u@h:1",
            "h:1/p",
        ] {
            assert!(
                matches!(bad.parse::<ServerAddr>(), Err(Error::BadAddress { .. })),
                "{bad:?}"
            );
        }
    }
}
