//! Finding and starting a local nats-server: the demo's embedded default and
//! the test harness's throwaway server.
//!
//! The server picks its own free port (`-p -1`) and reports it in a ports
//! file. Choosing a port here and handing it over would leave a gap in which
//! another process, or another test's server, can take the same port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a freshly started server may take to accept connections.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(15);

/// The environment variable that names a nats-server binary to use.
pub const SERVER_PATH_ENV: &str = "ROTA_NATS_SERVER";

/// How much of the server's own log an error quotes, in lines.
const SERVER_LOG_TAIL_LINES: usize = 20;

/// How often the start-up wait looks for the ports file.
const PORTS_FILE_POLL: Duration = Duration::from_millis(20);

/// A nats-server process on a loopback port with a temporary store. Dropping
/// it kills the process and removes the store, also when a test panics.
pub struct NatsServer {
    child: Child,
    pub url: String,
    pub port: u16,
    store: tempfile::TempDir,
    /// How it was started, so that it can be started again on its store.
    binary: PathBuf,
    config: Option<PathBuf>,
    extra_args: Vec<String>,
}

impl NatsServer {
    /// Starts the best suitable nats-server found on a free loopback port.
    pub fn start() -> Result<NatsServer, String> {
        let binary = find_nats_server()?;
        NatsServer::start_binary(&binary)
    }

    /// Starts the best suitable nats-server found with the configuration
    /// file `config` (as `rota auth init` writes), on a free loopback port
    /// with a temporary store.
    pub fn start_with_config(config: &Path) -> Result<NatsServer, String> {
        let binary = find_nats_server()?;
        NatsServer::start_binary_with(&binary, Some(config), &[])
    }

    /// Starts `binary` on a loopback port of its choosing, with a temporary
    /// store, and waits until it listens.
    pub fn start_binary(binary: &Path) -> Result<NatsServer, String> {
        NatsServer::start_binary_with(binary, None, &[])
    }

    /// Starts `binary` as [`NatsServer::start_binary`] does, with the
    /// configuration file `config` if given and `extra_args` after the
    /// others (a cluster's name and routes, say).
    pub fn start_binary_with(
        binary: &Path,
        config: Option<&Path>,
        extra_args: &[String],
    ) -> Result<NatsServer, String> {
        let store = tempfile::Builder::new()
            .prefix("rota-nats-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary store: {e}"))?;
        let child = spawn_server(binary, config, extra_args, store.path())?;
        // Owned before the wait, so that dropping it on a failed start kills
        // the process.
        let mut server = NatsServer {
            child,
            url: String::new(),
            port: 0,
            store,
            binary: binary.to_path_buf(),
            config: config.map(Path::to_path_buf),
            extra_args: extra_args.to_vec(),
        };
        server.url = server.wait_for_client_url()?;
        server.port = port_of(&server.url)?;
        Ok(server)
    }

    /// Kills the server at once (SIGKILL), keeping its store, as a crash
    /// would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        started_servers().remove(&self.child.id());
    }

    /// Starts the server again on its store, after [`NatsServer::kill`];
    /// it listens for clients on a new port.
    pub fn restart(&mut self) -> Result<(), String> {
        remove_ports_files(self.store.path());
        self.child = spawn_server(
            &self.binary,
            self.config.as_deref(),
            &self.extra_args,
            self.store.path(),
        )?;
        self.url = self.wait_for_client_url()?;
        self.port = port_of(&self.url)?;
        Ok(())
    }

    /// The temporary store directory.
    pub fn store(&self) -> &Path {
        self.store.path()
    }

    /// The server's own log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(server_log_path(self.store.path())).unwrap_or_default()
    }

    /// The last lines of the server's own log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(SERVER_LOG_TAIL_LINES)..].join("\n")
    }

    /// Waits for the ports file, which the server writes once it listens
    /// for clients, and returns the client URL it names.
    fn wait_for_client_url(&mut self) -> Result<String, String> {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "nats-server exited at start with {status}; its log ends:\n{}",
                    self.log_tail()
                ));
            }
            if let Some(url) = ports_file_client_url(self.store.path()) {
                return Ok(url);
            }
            std::thread::sleep(PORTS_FILE_POLL);
        }
        Err(format!(
            "nats-server did not report a client port within {SERVER_START_TIMEOUT:?}; its log ends:\n{}",
            self.log_tail()
        ))
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        started_servers().remove(&self.child.id());
    }
}

/// The process ids and stores of the servers this process started and has
/// not yet stopped, for a forced exit that skips the destructors.
fn started_servers() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<u32, PathBuf>> {
    static STARTED: std::sync::Mutex<std::collections::BTreeMap<u32, PathBuf>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    STARTED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a forced exit waits for a killed server to end before it
/// removes the server's store anyway.
const KILLED_SERVER_WAIT: Duration = Duration::from_secs(1);

/// Kills every server this process started and has not stopped, waits for
/// each (at most [`KILLED_SERVER_WAIT`]) and removes its temporary store:
/// called on a forced exit, which runs no destructors, so neither the
/// server nor its store is left behind.
pub fn kill_started_servers() {
    let servers = std::mem::take(&mut *started_servers());
    for pid in servers.keys() {
        if let Ok(pid) = i32::try_from(*pid) {
            // SAFETY: kill(2) with a pid of our own child and a valid signal
            // has no memory effects.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    let deadline = Instant::now() + KILLED_SERVER_WAIT;
    for (pid, store) in &servers {
        if let Ok(pid) = i32::try_from(*pid) {
            reap_until(pid, deadline);
        }
        let _ = std::fs::remove_dir_all(store);
    }
}

/// Waits for our child `pid` to end, until `deadline`.
fn reap_until(pid: i32, deadline: Instant) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) on our own child, writing only to `status`.
        let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        // The child ended (its pid), or it is not ours to wait for (-1).
        if reaped != 0 || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(PORTS_FILE_POLL);
    }
}

/// Asks the kernel to kill the server when the thread that started it ends,
/// so that not even a SIGKILL of this process leaves the server behind; and
/// puts it in a process group of its own, so that a Ctrl-C at the terminal
/// (which signals the whole foreground group) reaches only this process,
/// which stops its services before it stops the server.
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only prctl(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts a server process on `store`, listening for clients on a
/// loopback port of its choosing that it reports in a ports file there.
fn spawn_server(
    binary: &Path,
    config: Option<&Path>,
    extra_args: &[String],
    store: &Path,
) -> Result<Child, String> {
    let mut command = Command::new(binary);
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    command
        .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
        .arg(store.join("jetstream"))
        .arg("--ports_file_dir")
        .arg(store)
        .arg("-l")
        .arg(server_log_path(store))
        .args(extra_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    die_with_parent(&mut command);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    started_servers().insert(child.id(), store.to_path_buf());
    Ok(child)
}

/// Removes the ports files a server that no longer runs left in `dir`, so
/// that the wait for a restarted one reads its own.
fn remove_ports_files(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|ext| ext == "ports") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Where the server writes its own log, inside its store.
fn server_log_path(store: &Path) -> PathBuf {
    store.join("nats-server.log")
}

/// The first client URL in the ports file the server wrote into `dir`
/// (named after its executable and pid), once that file is complete.
fn ports_file_client_url(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    let ports_file = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "ports"))?;
    let text = std::fs::read_to_string(ports_file).ok()?;
    let ports: serde_json::Value = serde_json::from_str(&text).ok()?;
    ports["nats"][0].as_str().map(str::to_string)
}

/// The port of a client URL like "nats://127.0.0.1:4222".
fn port_of(url: &str) -> Result<u16, String> {
    url.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .ok_or_else(|| format!("nats-server reported a client URL without a port: {url:?}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_url_is_read_only_from_a_complete_ports_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ports_file_client_url(dir.path()), None);
        let file = dir.path().join("nats-server_42.ports");
        std::fs::write(&file, r#"{"nats":["nats://127.0"#).unwrap();
        assert_eq!(ports_file_client_url(dir.path()), None);
        std::fs::write(&file, r#"{"nats":["nats://127.0.0.1:35909"]}"#).unwrap();
        let url = ports_file_client_url(dir.path()).unwrap();
        assert_eq!(url, "nats://127.0.0.1:35909");
        assert_eq!(port_of(&url), Ok(35909));
    }

    #[test]
    fn a_url_without_a_port_is_an_error_that_names_it() {
        let error = port_of("nats://localhost").unwrap_err();
        assert!(error.contains("\"nats://localhost\""), "{error}");
    }
}
