//! Test support: a private `redis-server` per test, on a free loopback port.
//!
//! Never touches the Redis on 6379. Without `redis-server` on PATH the Redis tests are skipped
//! with one loud line, or fail when `CI=true`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_sessions_native::redis::{self as core_redis, Connection, RedisSettings};
use mcp_sessions_native::stream::redis::{Inbound, InboundSink};
use parking_lot::Mutex;

/// A private redis-server; killed on drop.
pub struct RedisServer {
    pub port: u16,
    /// TLS port when started with [`RedisServer::start_tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
    extra_args: Vec<String>,
}

fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Starts a private redis-server, or returns `None` (after one loud line) when there is none
/// and `CI` is not `true`.
pub fn redis_or_skip() -> Option<RedisServer> {
    if !redis_server_available() {
        let env = |name: &str, value: &str| std::env::var(name).is_ok_and(|v| v == value);
        if env("MCP_TEST_SKIP_REDIS", "1") && !env("CI", "true") {
            // Straight to stderr: libtest captures eprintln! of a passing test, and a skip must
            // be seen.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"!!!!! SKIPPING Redis test (MCP_TEST_SKIP_REDIS=1): redis-server not found on PATH !!!!!\n",
            );
            return None;
        }
        panic!("redis-server is not on PATH: install it (apt-get install redis-server) to run the Redis tests, or set MCP_TEST_SKIP_REDIS=1 to skip them (never in CI)");
    }
    Some(RedisServer::start())
}

fn free_port() -> u16 {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind("127.0.0.1:0") {
            if let Ok(addr) = listener.local_addr() {
                if addr.port() != 6379 {
                    return addr.port();
                }
            }
        }
    }
    panic!("no free loopback port for redis-server");
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().expect("valid addr"),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(n) => buf[..n].starts_with(b"+PONG"),
        Err(_) => false,
    }
}

impl RedisServer {
    fn start() -> Self {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("mcp-redis-test-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut server = RedisServer {
            port,
            tls_port: None,
            dir,
            child: None,
            extra_args: Vec::new(),
        };
        server.spawn();
        server
    }

    /// A server that also listens with TLS, using a throwaway CA made with `openssl`.
    /// Returns the server and the CA certificate (PEM), or `None` (skip) without openssl.
    pub fn start_tls() -> Option<(Self, Vec<u8>)> {
        let port = free_port();
        let tls_port = free_port();
        let dir = std::env::temp_dir().join(format!("mcp-redis-tls-{}-{port}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let sh = |script: &str| {
            Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        let ok = sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=mcp-test-ca \
             && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost \
             && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext \
             && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext");
        if !ok {
            if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
                panic!("openssl could not make test certificates (CI=true)");
            }
            eprintln!(
                "!!!!! SKIPPING Redis TLS test: openssl could not make test certificates !!!!!"
            );
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        let ca = std::fs::read(dir.join("ca.crt")).expect("read ca.crt");
        let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let extra_args = vec![
            "--tls-port".to_string(),
            tls_port.to_string(),
            "--tls-cert-file".to_string(),
            path("server.crt"),
            "--tls-key-file".to_string(),
            path("server.key"),
            "--tls-ca-cert-file".to_string(),
            path("ca.crt"),
            "--tls-auth-clients".to_string(),
            "no".to_string(),
        ];
        let mut server = RedisServer {
            port,
            tls_port: Some(tls_port),
            dir,
            child: None,
            extra_args,
        };
        server.spawn();
        Some((server, ca))
    }

    fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = Command::new("redis-server")
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&self.dir)
                .args(&self.extra_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            self.child = Some(child);
            while Instant::now() < deadline {
                if ping(self.port) {
                    return;
                }
                if let Some(c) = self.child.as_mut() {
                    if let Ok(Some(_)) = c.try_wait() {
                        break; // exited (port still busy?): retry
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Settings with short limits so failure tests stay fast.
    pub fn settings(&self) -> RedisSettings {
        let mut s = RedisSettings::from_url(self.url());
        s.connect_timeout = Duration::from_millis(500);
        s.response_timeout = Duration::from_secs(2);
        s.command_timeout = Duration::from_secs(2);
        s.reconnect_retries = 3;
        s.reconnect_min_delay = Duration::from_millis(50);
        s.reconnect_max_delay = Duration::from_millis(500);
        s
    }

    pub async fn conn(&self) -> Connection {
        core_redis::connect(&self.settings())
            .await
            .expect("connect to private redis")
    }

    pub async fn subscriber(&self) -> core_redis::Subscriber {
        core_redis::connect_subscriber(&self.settings())
            .await
            .expect("connect subscriber")
    }

    /// Kills the server (like a crash).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn start_again(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Collects what a stream manager hands to its sink.
#[derive(Clone, Default)]
pub struct Collector {
    pub items: Arc<Mutex<Vec<Inbound>>>,
    pub batches: Arc<Mutex<Vec<usize>>>,
}

impl Collector {
    pub fn sink(&self) -> InboundSink {
        let items = self.items.clone();
        let batches = self.batches.clone();
        Arc::new(move |batch: Vec<Inbound>| {
            // Barriers are dropped and acknowledgements made in order, as the bindings do.
            let batch: Vec<Inbound> = batch
                .into_iter()
                .filter_map(|i| match i {
                    Inbound::Barrier(_) => None,
                    Inbound::Delivered(d) => {
                        d.acknowledge();
                        None
                    }
                    other => Some(other),
                })
                .collect();
            if batch.is_empty() {
                return;
            }
            batches.lock().push(batch.len());
            items.lock().extend(batch);
        })
    }

    pub fn snapshot(&self) -> Vec<Inbound> {
        self.items.lock().clone()
    }

    pub fn messages_for(&self, sid: &str) -> Vec<String> {
        self.items
            .lock()
            .iter()
            .filter_map(|i| match i {
                Inbound::Message {
                    session_id,
                    payload,
                } if session_id == sid => Some(payload.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits until `pred` holds for the collected items (true) or `limit` passes (false).
    pub async fn wait_for(&self, limit: Duration, pred: impl Fn(&[Inbound]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if pred(&self.items.lock()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Runs a raw command on `conn` (test-side inspection of Redis).
pub async fn raw<T: redis::FromRedisValue>(conn: &Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    conn.query(&cmd, || args.join(" "))
        .await
        .expect("raw redis command")
}
