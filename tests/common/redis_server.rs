//! A redis-server of the test's own, on a free loopback port, stopped when dropped.
//!
//! When `redis-server` is not installed, [`RedisServer::start`] prints one line saying the test
//! was skipped and how to install it, and returns `None`; with `SHOPIFY_SESSIONS_REQUIRE_REDIS=1`
//! (as `.ci/run` sets) it panics instead, so CI always runs the Redis tests.

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    extra_args: Vec<String>,
    /// Speaks TLS only, on `port`.
    tls: bool,
}

impl RedisServer {
    /// A running server, or `None` (with a line on stderr) when the machine has none to run.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// A server started with extra arguments (e.g. `["--cluster-enabled", "yes"]`).
    pub fn start_with(extra_args: &[&str]) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var_os("SHOPIFY_SESSIONS_REQUIRE_REDIS").is_none(),
                "SHOPIFY_SESSIONS_REQUIRE_REDIS is set but redis-server is not installed"
            );
            skipped(
                "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; \
                 macOS: brew install redis)",
            );
            return None;
        }
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            dir: tempfile::tempdir().unwrap(),
            extra_args: extra_args.iter().map(|arg| (*arg).to_owned()).collect(),
            tls: false,
        };
        server.run();
        Some(server)
    }

    /// A server that speaks only TLS, with this certificate and key (PEM files); its
    /// [`url`](Self::url) is `rediss://`.
    pub fn start_tls(certificate: &Path, key: &Path) -> Option<Self> {
        let mut args = vec!["--tls-cert-file", path_str(certificate), "--tls-key-file"];
        args.extend([path_str(key), "--tls-auth-clients", "no"]);
        let mut server = Self::start_with(&[])?;
        server.stop();
        server.extra_args = args.into_iter().map(str::to_owned).collect();
        server.tls = true;
        server.run();
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// A plain connection, to look at or damage what a storage wrote.
    pub fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// Kills the server (its data is gone: nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    fn run(&mut self) {
        let port = self.port.to_string();
        let ports: &[&str] = if self.tls {
            &["--port", "0", "--tls-port", &port]
        } else {
            &["--port", &port]
        };
        let child = Command::new("redis-server")
            .args(ports)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server could not be started");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().unwrap())
            {
                panic!(
                    "redis-server exited at start ({status}) with {:?}; a build without TLS does \
                     not take --tls-port",
                    self.extra_args
                );
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)) else {
            return false;
        };
        if self.tls {
            // Listening is enough; speaking TLS here would take a client of its own.
            return true;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        // Any answer will do: a server that wants a password answers `-NOAUTH ...`.
        let mut answer = [0; 1];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && matches!(&answer, b"+" | b"-")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a temporary path in UTF-8")
}

/// Says on the terminal that a test was skipped, and why. Written to stderr directly: the test
/// harness captures `eprintln!` and shows it only for failing tests.
pub fn skipped(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a Redis test")
        .to_owned();
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}
