//! # veil-net — mutual TLS, a development PKI, and gRPC plumbing
//!
//! Level 1 of the Veil workspace, shared by the network roles above it (the federated
//! coordinator and its clients, MPC parties, the encrypted-inference service).
//!
//! * [`pki`] — a CA per directory (`ca.pem`, `ca.key`) and certificates it issues to named
//!   parties (`NAME.pem`, `NAME.key`), usable as server and as client (rcgen, ECDSA P-256);
//! * [`tls`] — mutual TLS on by default (rustls through tonic): each side presents its
//!   certificate and trusts exactly `ca.pem`; a peer's identity is read from its verified
//!   certificate;
//! * [`transport`] — servers and channels with bounded messages, request timeouts,
//!   keep-alives that drop idle peers, and a clean stop on Ctrl-C;
//! * [`probe`] — a connection check answering "who am I to you".
//!
//! Protocol buffers are compiled at build time by `protox`, in Rust, so no system `protoc`
//! is needed.
//!
//! ## Threat model
//!
//! The network is the attacker's: it may read, drop, replay and inject traffic, and open
//! connections of its own. TLS 1.3/1.2 with mutual authentication keeps it from reading or
//! changing messages and from talking to a server without a certificate from the
//! deployment's CA. Whoever holds `ca.key` can mint any identity: it belongs with the
//! operator, not on the machines that run parties. Within the deployment, authentication
//! says who a peer is, not that it is honest; the protocols above (secure aggregation,
//! MPC) carry their own guarantees against dishonest peers.

pub mod error;
pub mod pki;
pub mod probe;
pub mod signed;
pub mod tls;
pub mod transport;

pub use error::{Error, Result};
pub use tls::TlsIdentity;
pub use transport::Limits;
