//! Mutual TLS from a PKI directory: each party presents `DIR/NAME.pem` and trusts exactly
//! `DIR/ca.pem`, on both sides of every connection.
//!
//! A server requires a client certificate that chains to the trust anchor (rustls'
//! `WebPkiClientVerifier`, through tonic); a client checks that the server's certificate
//! chains to it and names the server it dialled. A certificate from another CA is refused
//! during the handshake, on either side, before any request is read. Who the peer is comes
//! from its verified certificate ([`peer_name`], [`authenticate`]), never from what it says
//! in a message.

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, DnsName, ServerName};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use zeroize::Zeroizing;

use crate::error::{Error, PeerProblem, Result};
use crate::pki::{PkiFiles, check_name};

/// A party's TLS identity and trust anchor, loaded from a PKI directory.
pub struct TlsIdentity {
    name: String,
    ca: Vec<u8>,
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path, what: &'static str, hint: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Missing {
        path: path.display().to_string(),
        what,
        hint: hint.to_string(),
        source,
    })
}

/// A party's TLS key: missing, as [`read`] says, or refused when others may read it (F-24).
fn secret_key(path: &Path, hint: &str) -> Result<Zeroizing<Vec<u8>>> {
    let missing = |source| Error::Missing {
        path: path.display().to_string(),
        what: "this party's key",
        hint: hint.to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(missing)?;
    veil_core::secret_file::check(&file, path)?;
    let mut key = Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(&mut file, &mut key).map_err(missing)?;
    Ok(key)
}

impl TlsIdentity {
    /// Loads `DIR/ca.pem`, `DIR/NAME.pem` and `DIR/NAME.key`.
    pub fn load(dir: &Path, name: &str) -> Result<TlsIdentity> {
        check_name(name)?;
        let own = PkiFiles::of(dir, name);
        let issue_hint = format!(
            "issue it with `veil pki issue {} --name {name}`",
            dir.display()
        );
        let ca_path: PathBuf = dir.join("ca.pem");
        Ok(TlsIdentity {
            name: name.to_string(),
            ca: read(
                &ca_path,
                "the trust anchor",
                "copy the CA's ca.pem here (never its ca.key)",
            )?,
            cert: read(&own.cert, "this party's certificate", &issue_hint)?,
            key: secret_key(&own.key, &issue_hint)?,
        })
    }

    /// The name this party's certificate was issued to.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn key_pem(&self) -> &[u8] {
        &self.key
    }

    pub(crate) fn cert_pem(&self) -> &[u8] {
        &self.cert
    }

    pub(crate) fn ca_pem(&self) -> &[u8] {
        &self.ca
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert, self.key.as_slice())
    }

    /// The server side: present this identity, require a client certificate from the CA.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity())
            .client_ca_root(Certificate::from_pem(&self.ca))
            .client_auth_optional(false)
    }

    /// The client side: present this identity, trust only the CA, and expect the server's
    /// certificate to name `server_name`.
    pub fn client_config(&self, server_name: &str) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(self.identity())
            .domain_name(server_name)
    }
}

fn peer_certificate<T>(request: &tonic::Request<T>) -> Result<CertificateDer<'static>> {
    request
        .peer_certs()
        .and_then(|certs| certs.first().cloned())
        .ok_or(Error::Peer(PeerProblem::NoCertificate))
}

/// The certificate (DER) the caller of `request` authenticated with.
pub fn peer_certificate_der<T>(request: &tonic::Request<T>) -> Result<Vec<u8>> {
    Ok(peer_certificate(request)?.as_ref().to_vec())
}

/// The name the caller of `request` authenticated as: the first DNS name of its verified
/// certificate (Veil's PKI puts the party's name there).
pub fn peer_name<T>(request: &tonic::Request<T>) -> Result<String> {
    let der = peer_certificate(request)?;
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|_| Error::Peer(PeerProblem::Unreadable))?;
    cert.valid_dns_names()
        .next()
        .map(str::to_string)
        .ok_or(Error::Peer(PeerProblem::NoName))
}

/// Checks that the caller's verified certificate is valid for `claimed`: a party that
/// claims another's name is refused.
pub fn authenticate<T>(request: &tonic::Request<T>, claimed: &str) -> Result<()> {
    let der = peer_certificate(request)?;
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|_| Error::Peer(PeerProblem::Unreadable))?;
    let name = DnsName::try_from(claimed.to_string()).map_err(|_| Error::InvalidName {
        name: claimed.to_string(),
    })?;
    cert.verify_is_valid_for_subject_name(&ServerName::DnsName(name))
        .map_err(|_| Error::Peer(PeerProblem::NotIssuedTo(claimed.to_string())))
}
