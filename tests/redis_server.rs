//! A throwaway `redis-server`: loopback only, free ports, a temporary directory; killed
//! and removed on drop. The one starter the workspace's tests, benchmarks and examples
//! share.
//!
//! ```no_run
//! use herald_tests::redis_server::RedisServer;
//!
//! // In a test: `None` (after saying why on stderr) when `redis-server` is missing and
//! // `CI` is not set; a panic when it is missing on CI.
//! let Some(server) = RedisServer::builder().append_only(true).start() else {
//!     return;
//! };
//! let url = server.url(); // redis://127.0.0.1:PORT
//! # drop(url);
//! ```
//!
//! Options: persistence ([`append_only`](RedisServerBuilder::append_only), else none:
//! a restart comes back empty), TLS ([`tls`](RedisServerBuilder::tls): a certificate
//! authority and server certificate made for the server, see
//! [`TestCertificates`]) and ACL users ([`user`](RedisServerBuilder::user), which
//! turns the `default` user off). The plain port stays open on loopback beside the TLS
//! port, for [`RedisServer::command`] and the readiness check.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::certificates::{CertificateError, TestCertificates};

/// How long a server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// Environment variable naming another `redis-server` binary.
pub const BINARY_ENV: &str = "HERALD_REDIS_SERVER";

/// Why a server could not be started.
#[derive(Debug)]
pub enum StartError {
    /// The `redis-server` binary is not installed.
    Missing {
        /// The binary looked for.
        binary: String,
    },
    /// The TLS certificates could not be made.
    Certificates(CertificateError),
    /// The server's directory could not be made.
    Io(io::Error),
    /// The server did not answer on any port tried; its log says why.
    DidNotStart {
        /// The server's log file.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
}

impl StartError {
    /// Whether a tool the server needs is not installed (`redis-server`, or `openssl`
    /// for TLS), rather than a failure of an installed one.
    pub fn is_missing_tool(&self) -> bool {
        matches!(
            self,
            StartError::Missing { .. } | StartError::Certificates(CertificateError::OpensslMissing)
        )
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Missing { binary } => write!(
                f,
                "`{binary}` is not installed (apt-get install redis-server, or set {BINARY_ENV})"
            ),
            StartError::Certificates(e) => write!(f, "{e}"),
            StartError::Io(e) => write!(f, "cannot make the server's directory: {e}"),
            StartError::DidNotStart { log, tail } => write!(
                f,
                "redis-server did not start (log {}): {}",
                log.display(),
                tail.trim()
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// An ACL user of the server.
#[derive(Clone)]
struct User {
    name: String,
    password: String,
}

/// The options of a [`RedisServer`]; made by [`RedisServer::builder`].
#[derive(Clone)]
#[must_use = "a builder starts nothing until `.start()` or `.launch()`"]
pub struct RedisServerBuilder {
    binary: String,
    append_only: bool,
    tls: bool,
    users: Vec<User>,
}

impl fmt::Debug for RedisServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
        f.debug_struct("RedisServerBuilder")
            .field("binary", &self.binary)
            .field("append_only", &self.append_only)
            .field("tls", &self.tls)
            .field("users", &users)
            .finish()
    }
}

impl RedisServerBuilder {
    /// Keep the data in an append-only file synced on every write, so that a killed
    /// server restarts with what it acknowledged (default: no persistence at all, a
    /// restarted server is empty).
    pub fn append_only(mut self, yes: bool) -> Self {
        self.append_only = yes;
        self
    }

    /// Listen for TLS too, on a port of its own, with a certificate made for this
    /// server (clients are not asked for certificates).
    pub fn tls(mut self, yes: bool) -> Self {
        self.tls = yes;
        self
    }

    /// Adds an ACL user allowed every command and key; the `default` user is turned off
    /// once there is one. The password must not contain whitespace.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push(User {
            name: name.to_owned(),
            password: password.to_owned(),
        });
        self
    }

    /// Starts the server.
    ///
    /// # Errors
    ///
    /// See [`StartError`]; [`StartError::is_missing_tool`] tells a missing binary from
    /// a failure.
    pub fn launch(self) -> Result<RedisServer, StartError> {
        if !installed(&self.binary) {
            return Err(StartError::Missing {
                binary: self.binary,
            });
        }
        let dir = fresh_dir().map_err(StartError::Io)?;
        let mut server = RedisServer {
            options: self,
            port: 0,
            tls_port: None,
            dir,
            certificates: None,
            child: None,
        };
        if server.options.tls {
            let certs = TestCertificates::make(&server.dir).map_err(StartError::Certificates)?;
            server.certificates = Some(certs);
        }
        // A port found free may be taken before the server binds it: try a few.
        for _ in 0..5 {
            server.port = free_port().map_err(StartError::Io)?;
            if server.options.tls {
                server.tls_port = Some(free_port().map_err(StartError::Io)?);
            }
            if server.launch() {
                return Ok(server);
            }
        }
        let log = server.log_path();
        let tail = std::fs::read_to_string(&log)
            .map(|text| last_lines(&text, 5))
            .unwrap_or_default();
        Err(StartError::DidNotStart { log, tail })
    }

    /// Starts the server for a test: `None` when a tool it needs is missing and `CI`
    /// is not set (saying so loudly on stderr); panics when one is missing on CI, or
    /// when the server fails to start.
    pub fn start(self) -> Option<RedisServer> {
        match self.launch() {
            Ok(server) => Some(server),
            Err(e) if e.is_missing_tool() => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{e}; the Redis tests need it on CI (.ci/run installs it)"
                );
                // Straight to the process's stderr: the test harness would hide
                // `eprintln!`.
                let _ = writeln!(
                    io::stderr(),
                    "\n!!! SKIPPED: {e}; this Redis test did not run.\n"
                );
                None
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// A running `redis-server`, killed and its directory removed on drop.
pub struct RedisServer {
    options: RedisServerBuilder,
    port: u16,
    tls_port: Option<u16>,
    dir: PathBuf,
    certificates: Option<TestCertificates>,
    child: Option<Child>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("tls_port", &self.tls_port)
            .field("dir", &self.dir)
            .field("running", &self.child.is_some())
            .field("options", &self.options)
            .finish()
    }
}

impl RedisServer {
    /// Options for a server: no persistence, no TLS, no ACL users, the binary
    /// `redis-server` (or the one [`BINARY_ENV`] names).
    pub fn builder() -> RedisServerBuilder {
        RedisServerBuilder {
            binary: std::env::var(BINARY_ENV).unwrap_or_else(|_| "redis-server".into()),
            append_only: false,
            tls: false,
            users: Vec::new(),
        }
    }

    /// A server without persistence, for a test (see [`RedisServerBuilder::start`]).
    pub fn start() -> Option<RedisServer> {
        RedisServer::builder().start()
    }

    /// The plain port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis://USER:PASSWORD@127.0.0.1:PORT`.
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("redis://{user}:{password}@127.0.0.1:{}", self.port)
    }

    /// The TLS port, when the server has one.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
    }

    /// `rediss://127.0.0.1:TLS_PORT`, when the server has TLS.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port.map(|p| format!("rediss://127.0.0.1:{p}"))
    }

    /// `rediss://USER:PASSWORD@127.0.0.1:TLS_PORT`, when the server has TLS.
    pub fn tls_url_as(&self, user: &str, password: &str) -> Option<String> {
        self.tls_port
            .map(|p| format!("rediss://{user}:{password}@127.0.0.1:{p}"))
    }

    /// The certificates of a TLS server (its authority is what a client trusts).
    pub fn certificates(&self) -> Option<&TestCertificates> {
        self.certificates.as_ref()
    }

    /// The server's directory (its log, append-only file and certificates).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the server process runs (it was not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server as a crash would (`SIGKILL`: no shutdown save; an append-only
    /// file synced on every write keeps what it acknowledged).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same ports and directory (killing it first if it
    /// runs). Without persistence it comes back empty.
    ///
    /// # Panics
    ///
    /// When it does not start again.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..5 {
            if self.launch() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "redis-server did not restart on port {} (log {})",
            self.port,
            self.log_path().display()
        );
    }

    /// Sends one command on the plain port (authenticated as the first ACL user, if
    /// any) and returns the first line of its reply, or the content of a bulk string:
    /// `+PONG`, `:1`, `*3`, an entry id.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> io::Result<String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        if let Some(user) = self.options.users.first() {
            writer.write_all(&encode(&["AUTH", &user.name, &user.password]))?;
            let reply = read_reply(&mut reader)?;
            if reply != "+OK" {
                return Ok(reply);
            }
        }
        writer.write_all(&encode(args))?;
        read_reply(&mut reader)
    }

    /// Sends one command on the plain port (authenticated as [`command`](Self::command)
    /// is) and returns every string, number and status of its reply, nested arrays
    /// flattened in order (a nil is an empty string): `XRANGE s - +` gives `id,
    /// field, value, ...` for each entry.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or its reply is cut short.
    pub fn command_flat(&self, args: &[&str]) -> io::Result<Vec<String>> {
        let stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        if let Some(user) = self.options.users.first() {
            writer.write_all(&encode(&["AUTH", &user.name, &user.password]))?;
            read_reply(&mut reader)?;
        }
        writer.write_all(&encode(args))?;
        // Elements still to read: an array's header adds its length (no recursion).
        let mut left: u64 = 1;
        let mut out = Vec::new();
        while left > 0 {
            left -= 1;
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let line = line.trim_end();
            if let Some(n) = line.strip_prefix('*').or_else(|| line.strip_prefix('%')) {
                let n: i64 = n.parse().unwrap_or(0);
                let pairs = if line.starts_with('%') { 2 } else { 1 };
                left += u64::try_from(n).unwrap_or(0) * pairs;
            } else if let Some(n) = line.strip_prefix('$') {
                match n.parse::<usize>() {
                    Ok(len) => {
                        let mut body = vec![0; len + 2];
                        reader.read_exact(&mut body)?;
                        body.truncate(len);
                        out.push(String::from_utf8_lossy(&body).into_owned());
                    }
                    Err(_) => out.push(String::new()), // $-1: nil
                }
            } else {
                out.push(line.get(1..).unwrap_or_default().to_owned());
            }
        }
        Ok(out)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Starts the process and waits until it answers; false when it did not.
    fn launch(&mut self) -> bool {
        let log = std::fs::File::create(self.log_path()).ok();
        let mut cmd = Command::new(&self.options.binary);
        cmd.args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", ""])
            .arg("--dir")
            .arg(&self.dir);
        if self.options.append_only {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if let (Some(port), Some(certs)) = (self.tls_port, &self.certificates) {
            cmd.arg("--tls-port")
                .arg(port.to_string())
                .arg("--tls-cert-file")
                .arg(&certs.server_cert)
                .arg("--tls-key-file")
                .arg(&certs.server_key)
                .arg("--tls-ca-cert-file")
                .arg(&certs.ca_cert)
                .args(["--tls-auth-clients", "no"]);
        }
        if !self.options.users.is_empty() {
            cmd.args(["--user", "default", "off"]);
        }
        for user in &self.options.users {
            cmd.args(["--user", &user.name, "on"])
                .arg(format!(">{}", user.password))
                .args(["~*", "&*", "+@all"]);
        }
        cmd.stdin(Stdio::null())
            .stdout(log.map_or_else(Stdio::null, Stdio::from))
            .stderr(Stdio::null());
        let Ok(mut child) = cmd.spawn() else {
            return false;
        };
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return false; // exited: a port was taken, most likely
            }
            if self.command(&["PING"]).is_ok_and(|r| r == "+PONG") {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn installed(binary: &str) -> bool {
    Command::new(binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A new empty directory under the system's temporary directory.
fn fresh_dir() -> io::Result<PathBuf> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "herald-redis-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One command in RESP.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The first line of a reply, or the content of a bulk string.
fn read_reply(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_owned();
    match line.strip_prefix('$').map(str::parse::<usize>) {
        Some(Ok(len)) => {
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        _ => Ok(line),
    }
}
