//! Veil's limits, on loopback, against real servers built with `transport::server`:
//!
//! * **message size** — the probe service built from `Limits::max_message_bytes` decodes a
//!   request of exactly that many bytes and refuses one byte more with `OutOfRange`, and the
//!   default limit (not tonic's own 4 MiB default) is the one in force;
//! * **idle peers** — connections that never finish the TLS handshake do not stop the server
//!   from serving others, and a peer that completes TLS and HTTP/2's opening but then answers
//!   nothing is pinged and dropped (`Limits::keepalive`);
//! * **names and addresses** — `check_name` admits lowercase DNS names and nothing else,
//!   `pki::issue` refuses a bad name before writing anything (the CA cannot be replaced
//!   through `issue`), a server whose certificate names another party is refused as a TLS
//!   failure, `ServerAddr` refuses anything but HOST:PORT (bracketed IPv6 included), and
//!   `connect_retrying` gives up on a port nobody listens on as `Unreachable` but reaches a
//!   server that comes up while it waits, while a refused certificate is not retried.
//!
//! Nothing here measures time: timeouts are only safety nets, far longer than the behaviour
//! they guard needs, and the assertions are on outcomes and error variants.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::transport::server::TcpIncoming;
use veil_net::error::{ConnectProblem, Error};
use veil_net::pki::{self, Extra};
use veil_net::probe::proto::WhoReply;
use veil_net::transport::{
    Peer, Running, ServerAddr, bind, connect, connect_retrying, server, spawn,
};
use veil_net::{Limits, TlsIdentity, probe};

/// How long anything may take before a test gives up: a safety net against a hang, never
/// a measurement.
const SAFETY: Duration = Duration::from_secs(60);

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(SAFETY, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within the {SAFETY:?} safety net"))
}

/// A CA in `dir`, `coordinator` (also valid for 127.0.0.1) and `hospital-a`.
fn make_pki(dir: &Path) {
    pki::loopback(dir, "coordinator", &["hospital-a"]).unwrap();
}

/// Serves the probe as `coordinator` on `incoming`, with `limits`.
fn serve_on(incoming: TcpIncoming, dir: &Path, limits: &Limits) -> Running {
    let tls = TlsIdentity::load(dir, "coordinator").unwrap();
    let router = server(&tls, limits)
        .unwrap()
        .add_service(probe::service(limits));
    spawn(router, incoming)
}

/// Serves the probe as `coordinator` on a free loopback port.
fn serve(dir: &Path, limits: &Limits) -> (SocketAddr, Running) {
    let incoming = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap();
    (addr, serve_on(incoming, dir, limits))
}

/// A channel to the server at `addr` as `hospital-a`.
async fn channel(addr: SocketAddr, dir: &Path, limits: &Limits) -> Channel {
    let tls = TlsIdentity::load(dir, "hospital-a").unwrap();
    within(
        "connect",
        connect(&addr.into(), "coordinator", &tls, limits),
    )
    .await
    .unwrap()
}

/// A loopback port nobody listens on (it was free a moment ago; nothing else on this
/// machine is expected to take it in between).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn is_connect(err: &Error, expected: ConnectProblem) -> bool {
    matches!(err, Error::Connect { problem, .. } if *problem == expected)
}

// ---------------------------------------------------------------------------------------
// Message size
// ---------------------------------------------------------------------------------------

/// A `WhoRequest` with padding. `WhoRequest` is empty, so the probe has no field that can
/// carry a payload; field 15 is unknown to it, and protobuf decoders skip unknown fields.
/// The server therefore answers a padded request exactly like an empty one, once the
/// message has passed its size check, and the size check is all that can refuse it.
#[derive(Clone, PartialEq, prost::Message)]
struct PaddedWhoRequest {
    #[prost(bytes = "vec", tag = "15")]
    padding: Vec<u8>,
}

/// A padded request whose protobuf encoding is exactly `encoded_len` bytes (the length
/// tonic compares with the limit: the gRPC frame's length prefix).
fn padded(encoded_len: usize) -> PaddedWhoRequest {
    let padding = (0..=encoded_len)
        .rev()
        .find(|&n| 1 + prost::encoding::encoded_len_varint(n as u64) + n == encoded_len)
        .unwrap();
    let request = PaddedWhoRequest {
        padding: vec![0xa5; padding],
    };
    assert_eq!(request.encoded_len(), encoded_len);
    request
}

/// Calls the probe's `Who` with a padded request of `encoded_len` bytes. The generated
/// `ProbeClient` only sends `WhoRequest`, so this speaks to the same method through
/// tonic's generic client.
async fn padded_who(channel: Channel, encoded_len: usize) -> Result<String, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<PaddedWhoRequest, WhoReply>::default();
    let path = PathAndQuery::from_static("/veil.net.v1.Probe/Who");
    let reply = grpc
        .unary(tonic::Request::new(padded(encoded_len)), path, codec)
        .await?;
    Ok(reply.into_inner().peer)
}

// What this exercises: the *server's* decoding limit, which `probe::service(&limits)` sets
// from `Limits::max_message_bytes`; that is Veil's wiring. The client side is not tested
// here on purpose: `connect` builds a channel, which has no message limit of its own, and
// `probe::who` builds its `ProbeClient` without `max_decoding_message_size`, so a client
// refusing a large reply would exercise tonic's default (4 MiB), not Veil's `Limits`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_max_message_bytes_is_refused_and_one_at_the_bound_is_served() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let limits = Limits {
        max_message_bytes: 1024,
        ..Limits::default()
    };
    let (addr, running) = serve(dir.path(), &limits);
    let channel = channel(addr, dir.path(), &limits).await;

    // Exactly at the bound: decoded, and answered like any probe.
    let at = within("a request at the bound", padded_who(channel.clone(), 1024)).await;
    assert_eq!(at.unwrap(), "hospital-a");
    // One byte over: refused before it is decoded. tonic reports an over-long message
    // with OutOfRange (ResourceExhausted is what it gives for a compressed message that
    // inflates past the limit; the probe's requests are not compressed).
    let over = within(
        "a request over the bound",
        padded_who(channel.clone(), 1025),
    )
    .await;
    let status = over.unwrap_err();
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    // The refusal ends that call, not the connection or the server.
    let after = within("a probe after the refusal", probe::who(channel)).await;
    assert_eq!(after.unwrap(), "hospital-a");
    running.stop(Duration::from_secs(1)).await;
}

// The default `Limits` is applied too, not tonic's own default decoding limit of 4 MiB: a
// 5 MiB request, which a service left at tonic's default would refuse, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limit_is_veil_s_and_admits_messages_over_tonic_s_default() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let limits = Limits::default();
    assert!(limits.max_message_bytes > 5 << 20);
    let (addr, running) = serve(dir.path(), &limits);
    let channel = channel(addr, dir.path(), &limits).await;
    let reply = within("a 5 MiB request", padded_who(channel, 5 << 20)).await;
    assert_eq!(reply.unwrap(), "hospital-a");
    running.stop(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------
// Idle peers
// ---------------------------------------------------------------------------------------

/// Limits with a short keep-alive, so that a silent peer is dropped within a second or two.
fn short_keepalive() -> Limits {
    Limits {
        keepalive: Duration::from_millis(500),
        ..Limits::default()
    }
}

// Veil's server sets no TLS handshake timeout (`TlsIdentity::server_config` does not call
// tonic's `ServerTlsConfig::timeout`, and HTTP/2 keep-alive starts only once a connection
// has sent HTTP/2's preface), so a connection that never finishes its handshake is not
// closed by the server, and this test does not claim it is. What it checks is that such
// connections do not stop the server from serving others: tonic handshakes each
// connection on a task of its own, not in the accept loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_the_tls_handshake_do_not_block_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let limits = short_keepalive();
    let (addr, running) = serve(dir.path(), &limits);

    let mut stalled = Vec::new();
    for i in 0..16 {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        if i % 2 == 1 {
            // The header of a TLS handshake record announcing 512 bytes, and one of them:
            // the server waits for the rest, which never comes.
            tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .unwrap();
        }
        stalled.push(tcp);
    }
    // With all of them still open, a real client is served, and so is a second one.
    for _ in 0..2 {
        let channel = channel(addr, dir.path(), &limits).await;
        let reply = within("a probe beside stalled handshakes", probe::who(channel)).await;
        assert_eq!(reply.unwrap(), "hospital-a");
    }
    drop(stalled);
    running.stop(Duration::from_secs(1)).await;
}

// HTTP/2 frame types and flags (RFC 9113 §6).
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

fn frame_header(length: u32, kind: u8, flags: u8) -> [u8; 9] {
    let len = length.to_be_bytes();
    [len[1], len[2], len[3], kind, flags, 0, 0, 0, 0]
}

/// What a silent peer saw before the connection ended.
#[derive(Debug)]
struct Silence {
    /// The server sent at least one PING (not an acknowledgement).
    pinged: bool,
    /// The server closed or reset the connection (false: the safety net ran out first).
    closed: bool,
}

/// A peer with a valid client certificate that completes the TLS handshake and HTTP/2's
/// opening (the connection preface, and the acknowledgement of the server's SETTINGS, RFC
/// 9113 §3.4 and §6.5.3), then never writes again: in particular it never answers a PING.
/// It reads until the server closes the connection, or half the safety net runs out (so
/// that a server that never drops it fails the assertions, not the outer safety net).
fn silent_http2_peer(addr: SocketAddr, dir: &Path) -> Silence {
    let read = |file: &str| std::fs::read(dir.join(file)).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&read("ca.pem")).unwrap())
        .unwrap();
    let chain = CertificateDer::pem_slice_iter(&read("hospital-a.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&read("hospital-a.key")).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("coordinator").unwrap();
    let tls = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    // Reads wake up now and then to look at the safety net.
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut stream = rustls::StreamOwned::new(tls, tcp);
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .unwrap();
    stream.write_all(&frame_header(0, SETTINGS, 0)).unwrap();
    stream.flush().unwrap();

    let deadline = Instant::now() + SAFETY / 2;
    let mut pinged = false;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        while buffer.len() >= 9 {
            let length = u32::from_be_bytes([0, buffer[0], buffer[1], buffer[2]]) as usize;
            if buffer.len() < 9 + length {
                break;
            }
            let (kind, flags) = (buffer[3], buffer[4]);
            if kind == SETTINGS && flags & ACK == 0 {
                let acked = stream
                    .write_all(&frame_header(0, SETTINGS, ACK))
                    .and_then(|()| stream.flush());
                if acked.is_err() {
                    return Silence {
                        pinged,
                        closed: true,
                    };
                }
            }
            if kind == PING && flags & ACK == 0 {
                pinged = true;
            }
            buffer.drain(..9 + length);
        }
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Silence {
                    pinged,
                    closed: true,
                };
            }
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if Instant::now() > deadline {
                    return Silence {
                        pinged,
                        closed: false,
                    };
                }
            }
            // A reset, or the TCP connection ending without TLS's close_notify.
            Err(_) => {
                return Silence {
                    pinged,
                    closed: true,
                };
            }
        }
    }
}

// `Limits::keepalive` is the HTTP/2 keep-alive interval and timeout of the server: a peer
// that stops answering is pinged and dropped. This peer is well-behaved in everything but
// PINGs, so the PING it saw before the connection ended is what dropped it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_answering_pings_is_dropped_and_others_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let limits = short_keepalive();
    let (addr, running) = serve(dir.path(), &limits);

    let pki_dir: PathBuf = dir.path().to_path_buf();
    let silence = within(
        "the silent peer",
        tokio::task::spawn_blocking(move || silent_http2_peer(addr, &pki_dir)),
    )
    .await
    .unwrap();
    assert!(silence.pinged, "{silence:?}");
    assert!(silence.closed, "{silence:?}");

    let channel = channel(addr, dir.path(), &limits).await;
    let reply = within("a probe after the silent peer", probe::who(channel)).await;
    assert_eq!(reply.unwrap(), "hospital-a");
    running.stop(Duration::from_secs(1)).await;
}

// ---------------------------------------------------------------------------------------
// Names and addresses
// ---------------------------------------------------------------------------------------

#[test]
fn check_name_accepts_lowercase_dns_names_and_refuses_the_rest() {
    let label = |c: char, n: usize| c.to_string().repeat(n);
    // 63 + 1 + 63 + 1 + 63 + 1 + 57 = 249 bytes.
    let long_name = [
        label('a', 63),
        label('b', 63),
        label('c', 63),
        label('d', 57),
    ]
    .join(".");
    for good in [
        "a",
        "7",
        "hospital-a",
        "node-7.site-2",
        "coordinator.example",
        "x--y",
        "ca.example",
        &label('a', 63),
        &long_name,
    ] {
        assert!(pki::check_name(good).is_ok(), "{good:?} was refused");
    }
    let over_long = [
        label('a', 63),
        label('b', 63),
        label('c', 63),
        label('d', 62),
    ]
    .join(".");
    assert_eq!(over_long.len(), 254);
    for bad in [
        // The CA's own files.
        "ca",
        // Path separators and traversal.
        "a/b",
        "../x",
        "a\\b",
        "/abs",
        // Uppercase.
        "Hospital",
        "HOSPITAL-A",
        // Empty labels.
        "",
        ".",
        "a..b",
        ".a",
        "a.",
        // Hyphens at the ends of a label.
        "-a",
        "a-",
        "a.-b",
        // Anything but letters, digits and hyphens.
        "a_b",
        "a b",
        "a\u{0}b",
        "hôpital",
        "a:1",
        // A label of 64 characters, alone or within a name.
        &label('a', 64),
        &format!("x.{}.y", label('a', 64)),
        // A name over 253 bytes.
        &over_long,
    ] {
        assert!(
            matches!(pki::check_name(bad), Err(Error::InvalidName { .. })),
            "{bad:?} was not refused as an invalid name"
        );
    }
}

#[test]
fn issuing_to_a_bad_name_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::init(dir.path(), false).unwrap();
    let ca_pem = std::fs::read(&ca.cert).unwrap();
    let ca_key = std::fs::read(&ca.key).unwrap();
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();

    // `ca` even with force: issuing cannot replace the CA.
    for bad in ["ca", "../escape", "Hospital", "a..b", "", "a/b"] {
        for force in [false, true] {
            let result = pki::issue(dir.path(), bad, &Extra::default(), force);
            assert!(
                matches!(result, Err(Error::InvalidName { .. })),
                "{bad:?}: {result:?}"
            );
        }
    }
    // A good name with a bad extra DNS name is refused too, before its files exist.
    let extra = Extra {
        dns: vec!["Not A Name".into()],
        ..Extra::default()
    };
    let result = pki::issue(dir.path(), "hospital-a", &extra, false);
    assert!(
        matches!(result, Err(Error::InvalidName { ref name }) if name == "Not A Name"),
        "{result:?}"
    );

    assert_eq!(listing(), before);
    assert_eq!(std::fs::read(&ca.cert).unwrap(), ca_pem);
    assert_eq!(std::fs::read(&ca.key).unwrap(), ca_key);
    assert!(!dir.path().parent().unwrap().join("escape.pem").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_certificate_names_another_party_is_refused_as_a_tls_failure() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let limits = Limits::default();
    let (addr, running) = serve(dir.path(), &limits);
    let tls = TlsIdentity::load(dir.path(), "hospital-a").unwrap();
    let server_addr = ServerAddr::from(addr);

    // `hospital-a` is a name the same CA did issue, to another party; `coordinator.example`
    // is a name nobody holds. Either way the server's certificate (`coordinator`) does not
    // name it, and the client refuses the server during the handshake.
    for expected in ["hospital-a", "coordinator.example"] {
        let result = within(
            "a dial expecting another name",
            connect(&server_addr, expected, &tls, &limits),
        )
        .await;
        let err = result.unwrap_err();
        assert!(is_connect(&err, ConnectProblem::Tls), "{expected}: {err:?}");
    }

    // A `Peer` without a server name expects the host it dials: the loopback certificate
    // is valid for 127.0.0.1, so it is served.
    let peer = Peer {
        addr: server_addr.clone(),
        server_name: None,
        wait: Duration::from_secs(5),
    };
    let channel = within("a peer by address", peer.connect(&tls, &limits))
        .await
        .unwrap();
    let reply = within("a probe to a peer by address", probe::who(channel)).await;
    assert_eq!(reply.unwrap(), "hospital-a");

    // A refused certificate is not retried: with an hour to wait, the refusal still comes
    // back at once (well within the safety net) as a TLS failure.
    let wrong = Peer {
        addr: server_addr,
        server_name: Some("hospital-a".into()),
        wait: Duration::from_secs(3600),
    };
    let err = within("a refused certificate", wrong.connect(&tls, &limits))
        .await
        .unwrap_err();
    assert!(is_connect(&err, ConnectProblem::Tls), "{err:?}");
    running.stop(Duration::from_secs(1)).await;
}

#[test]
fn server_addresses_are_host_and_port_only() {
    for (text, host, port) in [
        ("127.0.0.1:7070", "127.0.0.1", 7070),
        ("coordinator.example:443", "coordinator.example", 443),
        ("[::1]:9000", "::1", 9000),
        ("[2001:db8::7]:65535", "2001:db8::7", 65535),
    ] {
        let addr: ServerAddr = text.parse().unwrap();
        assert_eq!((addr.host(), addr.port()), (host, port), "{text}");
        // What it prints parses back to itself.
        assert_eq!(addr.to_string(), text);
        assert_eq!(addr.to_string().parse::<ServerAddr>().unwrap(), addr);
    }
    // A socket address converts with the brackets IPv6 needs, and reads back.
    let v6: SocketAddr = "[::1]:7070".parse().unwrap();
    let from = ServerAddr::from(v6);
    assert_eq!(
        (from.host(), from.to_string().as_str()),
        ("::1", "[::1]:7070")
    );
    assert_eq!("[::1]:7070".parse::<ServerAddr>().unwrap(), from);

    for bad in [
        "",
        "coordinator",
        "coordinator:",
        ":7070",
        "coordinator:65536",
        "coordinator:port",
        "coordinator:-1",
        "[::1]",
        "[::1:7070",
        "::1:7070",
        "a b:1",
        "coordinator:1 ",
        " coordinator:1",
        "https://coordinator:1",
        "user@coordinator:1",
        "coordinator:1/path",
        "coordinator:1?q",
        "coordinator:1#f",
    ] {
        let result = bad.parse::<ServerAddr>();
        assert!(
            matches!(result, Err(Error::BadAddress { .. })),
            "{bad:?}: {result:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_retrying_gives_up_on_a_port_nobody_listens_on_as_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let tls = TlsIdentity::load(dir.path(), "hospital-a").unwrap();
    let addr = ServerAddr::from(free_port());
    let wait = Duration::from_millis(300);
    let result = within(
        "connect_retrying to nobody",
        connect_retrying(&addr, "coordinator", &tls, &Limits::default(), wait),
    )
    .await;
    let err = result.unwrap_err();
    assert!(is_connect(&err, ConnectProblem::Unreachable), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_retrying_reaches_a_server_that_starts_during_its_wait() {
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let limits = Limits::default();
    let addr = free_port();
    // Nobody is there yet.
    let tls = TlsIdentity::load(dir.path(), "hospital-a").unwrap();
    let first = within(
        "a first dial",
        connect(&addr.into(), "coordinator", &tls, &limits),
    )
    .await;
    assert!(
        is_connect(first.as_ref().unwrap_err(), ConnectProblem::Unreachable),
        "{first:?}"
    );

    let dialing = tokio::spawn(async move {
        connect_retrying(&addr.into(), "coordinator", &tls, &limits, SAFETY).await
    });
    // Not a measurement: only lets the dialler fail a few times before the server is up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let running = serve_on(bind(addr).unwrap(), dir.path(), &limits);

    let channel = within("connect_retrying while the server starts", dialing)
        .await
        .unwrap()
        .unwrap();
    let reply = within("a probe to the late server", probe::who(channel)).await;
    assert_eq!(reply.unwrap(), "hospital-a");
    running.stop(Duration::from_secs(1)).await;
}
