//! Finding and starting a local nats-server: the demo's embedded default and
//! the test harness's throwaway server.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started server may take to accept connections.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(15);

/// The environment variable that names a nats-server binary to use.
pub const SERVER_PATH_ENV: &str = "ROTA_NATS_SERVER";

/// A nats-server process on a loopback port with a temporary store. Dropping
/// it kills the process and removes the store, also when a test panics.
pub struct NatsServer {
    child: Child,
    pub url: String,
    pub port: u16,
    store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts the best suitable nats-server found on a free loopback port.
    pub fn start() -> Result<NatsServer, String> {
        let binary = find_nats_server()?;
        NatsServer::start_binary(&binary)
    }

    /// Starts `binary` on a free loopback port with a temporary store.
    pub fn start_binary(binary: &Path) -> Result<NatsServer, String> {
        let store = tempfile::Builder::new()
            .prefix("rota-nats-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary store: {e}"))?;
        let port = free_loopback_port()?;
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = NatsServer {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            port,
            store,
        };
        server.wait_until_accepting()?;
        Ok(server)
    }

    /// The temporary store directory.
    pub fn store(&self) -> &Path {
        self.store.path()
    }

    fn wait_until_accepting(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nats-server exited at start with {status}"));
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "nats-server did not accept connections on port {} within {SERVER_START_TIMEOUT:?}",
            self.port
        ))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_loopback_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

/// Finds a nats-server new enough for Rota: `$ROTA_NATS_SERVER`, then
/// `.venv/bin/nats-server` in the current directory or any ancestor of it or
/// of the running executable, then `PATH`.
pub fn find_nats_server() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os(SERVER_PATH_ENV) {
        candidates.push(PathBuf::from(path));
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(dir) = std::env::current_dir() {
        roots.extend(dir.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    candidates.extend(roots.iter().map(|root| root.join(".venv/bin/nats-server")));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("nats-server")));
    }
    let mut too_old = Vec::new();
    for candidate in candidates.iter().filter(|c| c.is_file()) {
        match server_version(candidate) {
            Some(version)
                if crate::log::version_at_least(&version, crate::log::SERVER_VERSION_MIN) =>
            {
                return Ok(candidate.clone());
            }
            Some(version) => too_old.push(format!("{} is {version}", candidate.display())),
            None => too_old.push(format!("{} did not report a version", candidate.display())),
        }
    }
    let seen = if too_old.is_empty() {
        String::new()
    } else {
        format!(" (found, but unusable: {})", too_old.join("; "))
    };
    Err(format!(
        "no nats-server {}.{} or newer was found{seen}; to install the pinned one, {}",
        crate::log::SERVER_VERSION_MIN.0,
        crate::log::SERVER_VERSION_MIN.1,
        crate::log::INSTALL_HINT
    ))
}

/// The version a nats-server binary reports, like "2.15.1".
fn server_version(binary: &Path) -> Option<String> {
    let output = Command::new(binary).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace()
        .find(|word| word.starts_with('v') && word[1..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|word| word.trim_start_matches('v').to_string())
}
