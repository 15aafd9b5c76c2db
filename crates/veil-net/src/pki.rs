//! A development PKI, in the manner of mkcert: one certificate authority per directory, and
//! certificates it issues to named parties.
//!
//! `init` creates `ca.pem` and `ca.key` (ECDSA P-256, valid ten years, path length 0: it can
//! issue only end-entity certificates). `issue` creates `NAME.pem` and `NAME.key`, valid for
//! both TLS server and client authentication (one certificate per party, whichever role it
//! plays), with NAME as the first DNS subject alternative name — the name peers
//! authenticate it as — plus any extra DNS names and IP addresses. Keys are written with
//! mode 0600, every file atomically, and nothing is overwritten without `force`.
//!
//! This is for development and for closed deployments whose operators exchange `ca.pem` out
//! of band. The CA key can mint any identity: keep it off the machines that run parties.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use veil_core::atomic::{Visibility, write_atomic_bytes_with};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The subject of every Veil development CA (issuing reproduces it, so the CA certificate
/// need not be parsed; trust rests on the key, not the name).
const CA_NAME: &str = "Veil development CA";

/// The files of a PKI directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PkiFiles {
    /// The certificate (`.pem`).
    #[serde(rename = "certificate")]
    pub cert: PathBuf,
    /// Its private key (`.key`, PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
}

impl PkiFiles {
    /// `DIR/NAME.pem` and `DIR/NAME.key`.
    pub fn of(dir: &Path, name: &str) -> PkiFiles {
        PkiFiles {
            cert: dir.join(format!("{name}.pem")),
            key: dir.join(format!("{name}.key")),
        }
    }
}

/// Checks that `name` is a lowercase DNS name (labels of 1–63 letters, digits and inner
/// hyphens), so that it can be a certificate's subject name and a file name.
pub fn check_name(name: &str) -> Result<()> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() > 253 || name == "ca" || !name.split('.').all(label_ok) {
        return Err(Error::InvalidName {
            name: name.to_string(),
        });
    }
    Ok(())
}

fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    dn.push(DnType::OrganizationName, "Veil");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    Ok(params)
}

fn cert_error(e: rcgen::Error) -> Error {
    Error::Certificate(e)
}

fn write_pair(files: &PkiFiles, cert_pem: &str, key_pem: &str) -> Result<()> {
    // The key first: a certificate without its key is useless, a key without its
    // certificate harmless.
    write_atomic_bytes_with(&files.key, Visibility::Secret, key_pem.as_bytes())?;
    write_atomic_bytes_with(&files.cert, Visibility::Public, cert_pem.as_bytes())?;
    Ok(())
}

fn refuse_overwrite(files: &PkiFiles, force: bool) -> Result<()> {
    if !force && (files.cert.exists() || files.key.exists()) {
        return Err(Error::Exists {
            path: files.cert.display().to_string(),
        });
    }
    Ok(())
}

/// Creates a certificate authority in `dir` (created if missing): `ca.pem` and `ca.key`.
pub fn init(dir: &Path, force: bool) -> Result<PkiFiles> {
    std::fs::create_dir_all(dir).map_err(|e| veil_core::Error::io(dir, e))?;
    let files = PkiFiles::of(dir, "ca");
    refuse_overwrite(&files, force)?;
    let key = KeyPair::generate().map_err(cert_error)?;
    let cert = ca_params()?.self_signed(&key).map_err(cert_error)?;
    write_pair(&files, &cert.pem(), &Zeroizing::new(key.serialize_pem()))?;
    Ok(files)
}

/// What a certificate may be used for (its extended key usages, RFC 5280 §4.2.1.12). A
/// client's certificate that is not valid for server authentication cannot impersonate a
/// server, whatever names it carries (review F-27).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    /// A party that only dials others (a federated client, a clinic).
    Client,
    /// A party that only serves (a coordinator, a scoring service).
    Server,
    /// A party that does both (MPC peers), and the default.
    #[default]
    Both,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Role, String> {
        match s {
            "client" => Ok(Role::Client),
            "server" => Ok(Role::Server),
            "both" => Ok(Role::Both),
            other => Err(format!(
                "unknown role {other:?}: use client, server or both"
            )),
        }
    }
}

impl Role {
    fn usages(self) -> Vec<ExtendedKeyUsagePurpose> {
        match self {
            Role::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            Role::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            Role::Both => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        }
    }
}

/// What to put in an issued certificate besides its name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// More DNS names.
    pub dns: Vec<String>,
    /// IP addresses (for peers reached by address, e.g. 127.0.0.1 in tests).
    pub ips: Vec<IpAddr>,
    /// What the certificate may be used for.
    pub role: Role,
}

/// Issues `DIR/NAME.pem` and `DIR/NAME.key`, signed by the CA in `dir`.
pub fn issue(dir: &Path, name: &str, extra: &Extra, force: bool) -> Result<PkiFiles> {
    check_name(name)?;
    for dns in &extra.dns {
        check_name(dns)?;
    }
    let ca = PkiFiles::of(dir, "ca");
    let missing = |source| Error::Missing {
        path: ca.key.display().to_string(),
        what: "the CA's key",
        hint: format!("create a CA first with `veil pki init {}`", dir.display()),
        source,
    };
    let file = std::fs::File::open(&ca.key).map_err(missing)?;
    veil_core::secret_file::check(&file, &ca.key)?;
    let ca_key_pem = Zeroizing::new(std::io::read_to_string(file).map_err(missing)?);
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(cert_error)?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let files = PkiFiles::of(dir, name);
    refuse_overwrite(&files, force)?;

    let mut sans = vec![SanType::DnsName(name.try_into().map_err(cert_error)?)];
    for dns in &extra.dns {
        sans.push(SanType::DnsName(
            dns.as_str().try_into().map_err(cert_error)?,
        ));
    }
    sans.extend(extra.ips.iter().map(|ip| SanType::IpAddress(*ip)));
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    params.subject_alt_names = sans;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = extra.role.usages();
    params.use_authority_key_identifier_extension = true;
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let key = KeyPair::generate().map_err(cert_error)?;
    let cert = params.signed_by(&key, &issuer).map_err(cert_error)?;
    write_pair(&files, &cert.pem(), &Zeroizing::new(key.serialize_pem()))?;
    Ok(files)
}

/// A throwaway PKI for parties on one machine (tests, the demo, `veil fl simulate`): a new
/// CA in `dir`, a certificate for `server` that is also valid for 127.0.0.1, and a client's
/// certificate (not valid for serving) for each of `clients`. `dir` should be new (a temporary directory): a CA or certificate
/// already in it is never replaced ([`Error::Exists`]).
pub fn loopback(dir: &Path, server: &str, clients: &[&str]) -> Result<()> {
    init(dir, false)?;
    let local = Extra {
        ips: vec![IpAddr::from(std::net::Ipv4Addr::LOCALHOST)],
        ..Extra::default()
    };
    issue(dir, server, &local, false)?;
    let client_only = Extra {
        role: Role::Client,
        ..Extra::default()
    };
    for client in clients {
        issue(dir, client, &client_only, false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_dns_names() {
        for good in ["hospital-a", "coordinator.example", "a", "node-7.site-2"] {
            check_name(good).unwrap();
        }
        for bad in [
            "", "Hospital", "-a", "a-", "a..b", "a/b", "../x", "ca", "a b",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn init_and_issue_write_the_files_and_refuse_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        // Issuing without a CA says how to make one.
        let err = issue(dir.path(), "a", &Extra::default(), false).unwrap_err();
        assert!(err.to_string().contains("veil pki init"), "{err}");
        let ca = init(dir.path(), false).unwrap();
        let ca_pem = std::fs::read_to_string(&ca.cert).unwrap();
        assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(init(dir.path(), false).is_err());
        let extra = Extra {
            dns: vec!["a.example".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            role: Role::Both,
        };
        let a = issue(dir.path(), "a", &extra, false).unwrap();
        assert!(issue(dir.path(), "a", &extra, false).is_err());
        issue(dir.path(), "a", &extra, true).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for key in [&ca.key, &a.key] {
                let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", key.display());
            }
        }
        // The CA was not replaced by the failed init, nor by a throwaway PKI.
        assert!(matches!(
            loopback(dir.path(), "server", &["client"]),
            Err(Error::Exists { .. })
        ));
        assert_eq!(std::fs::read_to_string(&ca.cert).unwrap(), ca_pem);
    }
}
