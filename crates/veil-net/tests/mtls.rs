//! Mutual TLS on loopback: a party of the deployment's CA is served and learns its
//! authenticated name; a certificate from another CA is refused on either side, and so is a
//! server certificate that does not name the server dialled.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use veil_net::error::ConnectProblem;
use veil_net::pki;
use veil_net::transport::{Running, bind, connect, server, spawn};
use veil_net::{Limits, TlsIdentity, probe};

fn make_pki(dir: &Path) {
    pki::loopback(dir, "coordinator", &["hospital-a"]).unwrap();
}

/// Serves the probe as `coordinator` of the PKI in `dir`; returns its address and a stop.
async fn serve(dir: &Path) -> (String, Running) {
    serve_as(dir, "coordinator").await
}

/// Serves the probe as party `name` of the PKI in `dir`.
async fn serve_as(dir: &Path, name: &str) -> (String, Running) {
    let limits = Limits::default();
    let tls = TlsIdentity::load(dir, name).unwrap();
    let incoming = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = incoming.local_addr().unwrap().to_string();
    let router = server(&tls, &limits)
        .unwrap()
        .add_service(probe::service(&limits));
    (addr, spawn(router, incoming))
}

async fn who(addr: &str, server_name: &str, dir: &Path, name: &str) -> veil_net::Result<String> {
    let tls = TlsIdentity::load(dir, name)?;
    let channel = connect(&addr.parse()?, server_name, &tls, &Limits::default()).await?;
    probe::who(channel).await
}

/// A refusal by the server: TLS 1.3 finishes the client's side of the handshake before the
/// server has judged its certificate, so the refusal reaches the client as a failed
/// handshake or as a failed first call, depending on timing; never as an unreachable server.
fn refused(err: &veil_net::Error) -> bool {
    match err {
        veil_net::Error::Connect { problem, .. } => *problem != ConnectProblem::Unreachable,
        veil_net::Error::Call { .. } => true,
        _ => false,
    }
}

/// A refusal by the client during the handshake (the server's certificate does not check out).
fn handshake_refused(err: &veil_net::Error) -> bool {
    matches!(
        err,
        veil_net::Error::Connect {
            problem: ConnectProblem::Tls,
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_the_ca_s_parties_and_refuses_everyone_else() {
    let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    make_pki(ours.path());
    make_pki(theirs.path());
    let (addr, stop) = serve(ours.path()).await;

    // A party of the same CA gets through and is known by its certificate's name.
    assert_eq!(
        who(&addr, "coordinator", ours.path(), "hospital-a")
            .await
            .unwrap(),
        "hospital-a"
    );
    // A client whose certificate comes from another CA (while it trusts ours, so that the
    // refusal is the server's): the server refuses it.
    let mixed = tempfile::tempdir().unwrap();
    for (from, file) in [
        (ours.path(), "ca.pem"),
        (theirs.path(), "hospital-a.pem"),
        (theirs.path(), "hospital-a.key"),
    ] {
        std::fs::copy(from.join(file), mixed.path().join(file)).unwrap();
    }
    let err = who(&addr, "coordinator", mixed.path(), "hospital-a")
        .await
        .unwrap_err();
    assert!(refused(&err), "{err}");
    // A server whose certificate comes from another CA: the client refuses it during the
    // handshake.
    let (their_addr, their_stop) = serve(theirs.path()).await;
    let err = who(&their_addr, "coordinator", ours.path(), "hospital-a")
        .await
        .unwrap_err();
    assert!(handshake_refused(&err), "{err}");
    // A server certificate that does not name the server dialled.
    let err = who(&addr, "hospital-b", ours.path(), "hospital-a")
        .await
        .unwrap_err();
    assert!(handshake_refused(&err), "{err}");
    stop.stop(Duration::from_secs(1)).await;
    their_stop.stop(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_serves_and_dials_only_in_its_role() {
    // The loopback PKI issues clients' certificates for client authentication only: a
    // client cannot pose as a server, even to a peer that dials its very name (F-27).
    let dir = tempfile::tempdir().unwrap();
    make_pki(dir.path());
    let extra = pki::Extra {
        role: pki::Role::Server,
        ..pki::Extra::default()
    };
    pki::issue(dir.path(), "scorer", &extra, false).unwrap();
    let (impostor, stop) = serve_as(dir.path(), "hospital-a").await;
    let err = who(&impostor, "hospital-a", dir.path(), "coordinator")
        .await
        .unwrap_err();
    assert!(handshake_refused(&err), "{err}");
    // A server-only certificate cannot dial as a client either.
    let (addr, stop2) = serve(dir.path()).await;
    let err = who(&addr, "coordinator", dir.path(), "scorer")
        .await
        .unwrap_err();
    assert!(refused(&err), "{err}");
    // Both roles (the default of `veil pki issue`), as the coordinator's: serves and dials.
    assert_eq!(
        who(&addr, "coordinator", dir.path(), "coordinator")
            .await
            .unwrap(),
        "coordinator"
    );
    stop.stop(Duration::from_secs(1)).await;
    stop2.stop(Duration::from_secs(1)).await;
}

#[test]
fn loading_an_identity_that_is_not_there_says_how_to_make_it() {
    let dir = tempfile::tempdir().unwrap();
    pki::init(dir.path(), false).unwrap();
    let err = TlsIdentity::load(dir.path(), "hospital-a").unwrap_err();
    assert!(err.to_string().contains("veil pki issue"), "{err}");
    assert!(TlsIdentity::load(dir.path(), "Not A Name").is_err());
}
