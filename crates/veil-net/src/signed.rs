//! Statements signed with a party's TLS key, checked against the deployment's CA: how a
//! party vouches for a message that a third party relays (the federated coordinator
//! forwards the clients' secure-aggregation keys and their views of who survived, and must
//! not be able to forge either).
//!
//! A [`Signer`] signs `context ‖ 0x00 ‖ message` with the key of `DIR/NAME.key` (ECDSA P-256
//! for Veil's PKI; any key rustls' aws-lc-rs provider can sign with) and attaches its
//! certificate. A [`Verifier`] holds the CA: it accepts a [`Signed`] statement only if the
//! certificate chains to the CA, is valid now for client authentication, and its key
//! verifies the signature over the same context and message; it then says whose it is (the
//! certificate's first DNS name, the party's name everywhere in Veil). The context keeps a
//! signature made for one purpose from being taken for another.

use std::sync::Arc;

use rustls::SignatureScheme;
use rustls::crypto::aws_lc_rs;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};

use crate::error::{Error, PeerProblem, Result};
use crate::tls::TlsIdentity;

/// A statement's signature and the signer's certificate (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The signer's certificate, DER.
    pub certificate: Vec<u8>,
    /// The signature over the context and message.
    pub signature: Vec<u8>,
}

/// Signs statements as one party; cheap to clone.
#[derive(Clone)]
pub struct Signer {
    name: String,
    certificate: Vec<u8>,
    key: Arc<dyn SigningKey>,
    verifier: Verifier,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Checks signed statements against the deployment's CA; cheap to clone.
#[derive(Debug, Clone)]
pub struct Verifier {
    ca: Arc<Vec<u8>>,
}

const SCHEMES: [SignatureScheme; 4] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
];

fn framed(context: &str, message: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + 1 + message.len());
    m.extend_from_slice(context.as_bytes());
    m.push(0);
    m.extend_from_slice(message);
    m
}

fn der(pem: &[u8]) -> Result<Vec<u8>> {
    CertificateDer::from_pem_slice(pem)
        .map(|c| c.as_ref().to_vec())
        .map_err(|_| Error::Peer(PeerProblem::Unreadable))
}

impl TlsIdentity {
    /// A signer for statements as this party, and (through it) a verifier for the others'.
    pub fn signer(&self) -> Result<Signer> {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem())
            .map_err(|_| Error::Peer(PeerProblem::CannotSign))?;
        let key = aws_lc_rs::sign::any_supported_type(&key)
            .map_err(|_| Error::Peer(PeerProblem::CannotSign))?;
        Ok(Signer {
            name: self.name().to_string(),
            certificate: der(self.cert_pem())?,
            key,
            verifier: self.verifier()?,
        })
    }

    /// A verifier for statements signed by parties of this identity's CA.
    pub fn verifier(&self) -> Result<Verifier> {
        Ok(Verifier {
            ca: Arc::new(der(self.ca_pem())?),
        })
    }
}

impl Signer {
    /// The party's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs `message` for `context`.
    pub fn sign(&self, context: &str, message: &[u8]) -> Result<Signed> {
        let signer = self
            .key
            .choose_scheme(&SCHEMES)
            .ok_or(Error::Peer(PeerProblem::CannotSign))?;
        let signature = signer
            .sign(&framed(context, message))
            .map_err(|_| Error::Peer(PeerProblem::CannotSign))?;
        Ok(Signed {
            certificate: self.certificate.clone(),
            signature,
        })
    }

    /// The verifier for the same CA.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

/// Checks only that `signed.certificate`'s key signed `message` for `context`: for a
/// certificate already verified otherwise (the TLS peer's own, which the handshake chained to
/// the CA).
pub fn check_signature(context: &str, message: &[u8], signed: &Signed) -> Result<()> {
    let der = CertificateDer::from(signed.certificate.as_slice());
    let cert =
        webpki::EndEntityCert::try_from(&der).map_err(|_| Error::Peer(PeerProblem::Unreadable))?;
    signature_verifies(&cert, &framed(context, message), &signed.signature)
}

fn signature_verifies(cert: &webpki::EndEntityCert<'_>, framed: &[u8], sig: &[u8]) -> Result<()> {
    let algorithms = aws_lc_rs::default_provider().signature_verification_algorithms;
    if algorithms
        .all
        .iter()
        .any(|alg| cert.verify_signature(*alg, framed, sig).is_ok())
    {
        Ok(())
    } else {
        Err(Error::Peer(PeerProblem::BadSignature))
    }
}

/// Whether `certificate` (DER) would authenticate a server dialled as `server` (a DNS name
/// or an IP address): how a client tells the coordinator's own certificate apart from its
/// peers'.
pub fn names_server(certificate: &[u8], server: &str) -> bool {
    let der = CertificateDer::from(certificate);
    let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    rustls_pki_types::ServerName::try_from(server)
        .is_ok_and(|name| cert.verify_is_valid_for_subject_name(&name).is_ok())
}

impl Verifier {
    /// The name of the party whose certificate, issued by the CA and valid now, signed
    /// `message` for `context`; an error otherwise.
    pub fn verify(&self, context: &str, message: &[u8], signed: &Signed) -> Result<String> {
        let ca = CertificateDer::from(self.ca.as_slice());
        let anchor = webpki::anchor_from_trusted_cert(&ca)
            .map_err(|_| Error::Peer(PeerProblem::Untrusted))?;
        let der = CertificateDer::from(signed.certificate.as_slice());
        let cert = webpki::EndEntityCert::try_from(&der)
            .map_err(|_| Error::Peer(PeerProblem::Unreadable))?;
        let algorithms = aws_lc_rs::default_provider().signature_verification_algorithms;
        cert.verify_for_usage(
            algorithms.all,
            &[anchor],
            &[],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|_| Error::Peer(PeerProblem::Untrusted))?;
        signature_verifies(&cert, &framed(context, message), &signed.signature)?;
        cert.valid_dns_names()
            .next()
            .map(str::to_string)
            .ok_or(Error::Peer(PeerProblem::NoName))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_verifies_only_as_signed_by_a_party_of_the_same_ca() {
        let ours = tempfile::tempdir().unwrap();
        let theirs = tempfile::tempdir().unwrap();
        crate::pki::loopback(ours.path(), "coordinator", &["hospital-a"]).unwrap();
        crate::pki::loopback(theirs.path(), "coordinator", &["hospital-a"]).unwrap();
        let a = TlsIdentity::load(ours.path(), "hospital-a").unwrap();
        let signer = a.signer().unwrap();
        let check = TlsIdentity::load(ours.path(), "coordinator")
            .unwrap()
            .verifier()
            .unwrap();
        let signed = signer.sign("veil test", b"the roster").unwrap();
        assert_eq!(
            check.verify("veil test", b"the roster", &signed).unwrap(),
            "hospital-a"
        );
        // Another message, another context, a flipped bit: refused.
        assert!(check.verify("veil test", b"the rooster", &signed).is_err());
        assert!(check.verify("veil other", b"the roster", &signed).is_err());
        let mut bent = signed.clone();
        let last = bent.signature.len() - 1;
        bent.signature[last] ^= 1;
        assert!(check.verify("veil test", b"the roster", &bent).is_err());
        // A party of another CA, even with the same name: refused.
        let stranger = TlsIdentity::load(theirs.path(), "hospital-a")
            .unwrap()
            .signer()
            .unwrap()
            .sign("veil test", b"the roster")
            .unwrap();
        assert!(matches!(
            check.verify("veil test", b"the roster", &stranger),
            Err(Error::Peer(PeerProblem::Untrusted))
        ));
        // Our certificate with the stranger's signature: refused.
        let swapped = Signed {
            certificate: signed.certificate.clone(),
            signature: stranger.signature,
        };
        assert!(check.verify("veil test", b"the roster", &swapped).is_err());
        // Which certificate names the coordinator.
        assert!(names_server(&signed.certificate, "hospital-a"));
        assert!(!names_server(&signed.certificate, "coordinator"));
        // The signature alone (the certificate vouched for elsewhere).
        check_signature("veil test", b"the roster", &signed).unwrap();
        assert!(check_signature("veil test", b"the roster", &swapped).is_err());
    }
}
