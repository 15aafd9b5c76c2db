//! What can go wrong with homomorphic encryption.

/// An error from veil-he.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key is malformed, of an unsupported size, or could not be generated.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A ciphertext is not one for this key or these parameters.
    #[error("invalid ciphertext: {0}")]
    InvalidCiphertext(String),
    /// A value or parameter is out of the range the scheme can handle.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// A model has a part homomorphic evaluation cannot compute.
    #[error("the model cannot be evaluated under encryption: {0}")]
    Unevaluable(String),
    /// A peer broke the inference protocol, or the connection failed.
    #[error("{0}")]
    Protocol(String),
    /// The connection or TLS setup failed.
    #[error(transparent)]
    Net(#[from] veil_net::Error),
    /// A key file could not be read or written.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
}

/// Results of veil-he.
pub type Result<T, E = Error> = std::result::Result<T, E>;
