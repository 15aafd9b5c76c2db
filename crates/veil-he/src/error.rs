//! What can go wrong with homomorphic encryption.
//!
//! Keys and ciphertexts that do not fit say how ([`KeyProblem`], [`CiphertextProblem`]); a
//! model that cannot be evaluated says which part and why; a peer that breaks the inference
//! protocol is a [`Error::Protocol`]. Each answers [`Error::kind`].

use veil_core::ErrorKind;

/// An error from veil-he.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key is malformed, missing, of another key set or scheme, or could not be made.
    #[error("invalid key: {0}")]
    Key(KeyProblem),
    /// A ciphertext is not one for this key or these parameters, or cannot be combined with
    /// another.
    #[error("invalid ciphertext: {0}")]
    Ciphertext(CiphertextProblem),
    /// A value or parameter is out of the range the scheme can handle.
    #[error("out of range: {what}: {why}")]
    OutOfRange {
        /// The value or parameter.
        what: &'static str,
        /// What is wrong and what is accepted.
        why: String,
    },
    /// A model has a part homomorphic evaluation cannot compute.
    #[error("the model cannot be evaluated under encryption: {why}")]
    Unevaluable {
        /// The part and the reason.
        why: String,
    },
    /// A peer broke the inference protocol.
    #[error("the peer broke the inference protocol: {why}")]
    Protocol {
        /// What it did.
        why: String,
    },
    /// The client stopped waiting (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
    /// The model's own computations failed (a prediction's output link).
    #[error(transparent)]
    Ml(#[from] veil_ml::Error),
    /// The connection or TLS setup failed.
    #[error(transparent)]
    Net(#[from] veil_net::Error),
    /// A key file could not be read or written, or the data cannot be used.
    #[error(transparent)]
    Io(#[from] veil_core::Error),
}

/// What is wrong with a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// A key (file) that does not parse or is inconsistent.
    #[error("{0}")]
    Malformed(String),
    /// A key-set directory of the other scheme.
    #[error("{dir} holds a key set of the other scheme ({file}): use {flag}")]
    OtherScheme {
        /// The directory.
        dir: String,
        /// The other scheme's file found there.
        file: &'static str,
        /// The flag that selects it.
        flag: &'static str,
    },
    /// Keys (or a ciphertext and a key) of different key sets.
    #[error("{0} of another key set")]
    OtherKeySet(&'static str),
    /// Keys made for other parameters.
    #[error("{what} for N = {theirs}, in a job for N = {ours}")]
    OtherDegree {
        /// Which keys.
        what: &'static str,
        /// Their ring degree.
        theirs: usize,
        /// The job's.
        ours: usize,
    },
    /// A rotation without its Galois key.
    #[error("no Galois key for a rotation by {0}")]
    NoRotation(i64),
    /// A multiplication without a relinearisation key.
    #[error("no relinearisation key (a model that squares needs one)")]
    NoRelinearisation,
    /// A feature-packed job before the client registered its rotation keys.
    #[error("no rotation keys registered for this key set: register them")]
    NotRegistered,
    /// Key generation failed (no prime found, a degenerate factorisation).
    #[error("key generation: {0}")]
    Generation(&'static str),
}

impl KeyProblem {
    /// What kind of failure this is: a key file that does not parse is bad input, a key of
    /// another set or for other parameters is the wrong key.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KeyProblem::Malformed(_) => ErrorKind::Data,
            KeyProblem::Generation(_) => ErrorKind::Internal,
            KeyProblem::OtherScheme { .. }
            | KeyProblem::OtherKeySet(_)
            | KeyProblem::OtherDegree { .. }
            | KeyProblem::NoRotation(_)
            | KeyProblem::NoRelinearisation
            | KeyProblem::NotRegistered => ErrorKind::WrongKey,
        }
    }
}

/// What is wrong with a ciphertext.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CiphertextProblem {
    /// Bytes that are not a ciphertext (or key) of Veil's format.
    #[error("not a valid Veil CKKS object: {0}")]
    Malformed(String),
    /// Another kind of object than the one expected.
    #[error("a {found}, not a {want}")]
    Kind {
        /// What the bytes hold.
        found: String,
        /// What was expected.
        want: String,
    },
    /// Made for other parameters.
    #[error("made for other parameters: {0}")]
    OtherParameters(String),
    /// Encrypted under another key set.
    #[error("encrypted under another key set")]
    OtherKeySet,
    /// Operands at different levels or scales.
    #[error("operands that do not fit together: {0}")]
    Unlike(String),
    /// A Paillier value that is not a unit of Z_n² for the key.
    #[error("not an element of Z_n² for this key ({0})")]
    NotInGroup(&'static str),
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Key(problem) => problem.kind(),
            Error::Ciphertext(_) => ErrorKind::Data,
            Error::OutOfRange { .. } => ErrorKind::Usage,
            Error::Unevaluable { .. } => ErrorKind::ModelFile,
            Error::Protocol { .. } | Error::Interrupted => ErrorKind::Network,
            Error::Ml(e) => e.kind(),
            Error::Net(e) => e.kind(),
            Error::Io(e) => e.kind(),
        }
    }

    /// An [`Error::OutOfRange`].
    pub fn out_of_range(what: &'static str, why: impl Into<String>) -> Error {
        Error::OutOfRange {
            what,
            why: why.into(),
        }
    }

    /// An [`Error::Protocol`].
    pub fn protocol(why: impl Into<String>) -> Error {
        Error::Protocol { why: why.into() }
    }

    /// An [`Error::Unevaluable`].
    pub fn unevaluable(why: impl Into<String>) -> Error {
        Error::Unevaluable { why: why.into() }
    }
}

/// Results of veil-he.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_that_does_not_parse_is_bad_input_not_the_wrong_key() {
        let malformed = Error::Key(KeyProblem::Malformed("no PEM block".into()));
        assert_eq!(malformed.kind(), ErrorKind::Data);
        assert_eq!(
            Error::Key(KeyProblem::OtherKeySet("a Galois key")).kind(),
            ErrorKind::WrongKey
        );
        assert_eq!(
            Error::Key(KeyProblem::Generation("no prime")).kind(),
            ErrorKind::Internal
        );
    }
}
