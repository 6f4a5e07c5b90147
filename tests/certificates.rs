//! Certificates for TLS tests, made with the `openssl` command line: a certificate
//! authority of the test's own and a server certificate it signed for `127.0.0.1` and
//! `localhost`. Nothing here is secret or lasts: the files live in a directory of the
//! test and go with it.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why certificates could not be made.
#[derive(Debug)]
pub enum CertificateError {
    /// The `openssl` command line is not installed.
    OpensslMissing,
    /// `openssl` ran and failed; `step` says which step, `output` what it printed.
    Openssl {
        /// What was being made.
        step: &'static str,
        /// What `openssl` wrote on stderr.
        output: String,
    },
    /// A file could not be read or written.
    Io(io::Error),
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateError::OpensslMissing => {
                write!(f, "`openssl` is not installed (apt-get install openssl)")
            }
            CertificateError::Openssl { step, output } => {
                write!(f, "openssl failed to make the {step}: {}", output.trim())
            }
            CertificateError::Io(e) => write!(f, "certificate files: {e}"),
        }
    }
}

impl std::error::Error for CertificateError {}

impl From<io::Error> for CertificateError {
    fn from(e: io::Error) -> Self {
        CertificateError::Io(e)
    }
}

/// The PEM files of a test certificate authority and of a server certificate it signed.
#[derive(Clone, Debug)]
pub struct TestCertificates {
    /// The authority's certificate: what a client trusts.
    pub ca_cert: PathBuf,
    /// The server's certificate (for `127.0.0.1` and `localhost`).
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
}

impl TestCertificates {
    /// Whether the `openssl` command line is installed.
    pub fn openssl_available() -> bool {
        Command::new("openssl")
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Makes a fresh authority and server certificate in `dir` (which must exist):
    /// P-256 keys, valid for two days.
    ///
    /// # Errors
    ///
    /// [`CertificateError::OpensslMissing`] without `openssl`, otherwise what failed.
    pub fn make(dir: &Path) -> Result<TestCertificates, CertificateError> {
        if !TestCertificates::openssl_available() {
            return Err(CertificateError::OpensslMissing);
        }
        let certs = TestCertificates {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
        };
        let ca_key = dir.join("ca.key");
        let request = dir.join("server.csr");
        let extensions = dir.join("server.ext");
        std::fs::write(
            &extensions,
            "basicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )?;
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl("certificate authority", |c| {
            c.args(["req", "-x509", "-nodes", "-days", "2"])
                .args(ec)
                .args(["-subj", "/CN=herald test authority", "-keyout"])
                .arg(&ca_key)
                .arg("-out")
                .arg(&certs.ca_cert);
        })?;
        openssl("server key and request", |c| {
            c.args(["req", "-nodes"])
                .args(ec)
                .args(["-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(&certs.server_key)
                .arg("-out")
                .arg(&request);
        })?;
        openssl("server certificate", |c| {
            c.args(["x509", "-req", "-days", "2", "-in"])
                .arg(&request)
                .arg("-CA")
                .arg(&certs.ca_cert)
                .arg("-CAkey")
                .arg(&ca_key)
                .args(["-CAcreateserial", "-out"])
                .arg(&certs.server_cert)
                .arg("-extfile")
                .arg(&extensions);
        })?;
        Ok(certs)
    }

    /// The authority's certificate, PEM.
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub fn ca_pem(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.ca_cert)
    }
}

/// Runs one `openssl` command that `args` describes.
fn openssl(step: &'static str, args: impl FnOnce(&mut Command)) -> Result<(), CertificateError> {
    let mut cmd = Command::new("openssl");
    args(&mut cmd);
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(CertificateError::Openssl {
            step,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}
