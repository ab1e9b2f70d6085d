//! Signals under load, with the real `rota` binary as a process:
//!
//! - `rota demo` (its own nats-server, 20,000 jobs on 200 simulated nodes)
//!   asked to stop with SIGTERM while jobs are being submitted and run
//!   exits within `SHUTDOWN_GRACE` + 2 s, and the nats-server it started is
//!   gone;
//! - `rota run all` against a running server, with a simulated fleet and
//!   thousands of submissions arriving, exits within the same bound with a
//!   success status;
//! - a second SIGTERM ends `rota demo` at once, with `EXIT_FORCED`, and
//!   its nats-server is gone.
//!
//! The tests take turns: each puts two cores under load, and they measure
//! how long a process takes to stop.

use rota_events::Event;
use rota_projections::{CellState, LogEntry};
use rota_shell::PublishWindow;
use rota_shell::access::Identity;
use rota_shell::publish::PUBLISH_WINDOW_MAX;
use rota_shell::shutdown::{EXIT_FORCED, SHUTDOWN_GRACE};
use rota_testkit::{CELL, TestBed, summary};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ROTA: &str = env!("CARGO_BIN_EXE_rota");

/// How long a process started by a test may take to be under load.
const LOAD_BOUND: Duration = Duration::from_secs(30);
/// How long after the signal a process may take to exit: the grace, and
/// time for the exit itself.
const EXIT_BOUND: Duration = SHUTDOWN_GRACE.saturating_add(Duration::from_secs(2));
/// How long after a second signal a process may take to exit.
const FORCED_EXIT_BOUND: Duration = Duration::from_secs(2);
/// How long after the process exits its nats-server may still run.
const SERVER_GONE_BOUND: Duration = Duration::from_secs(2);
/// How long the process may take to say it saw the first signal.
const SIGNAL_SEEN_BOUND: Duration = Duration::from_secs(2);
/// How often the waits below look again.
const POLL: Duration = Duration::from_millis(2);

/// One test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A `rota` process: stdout read line by line, stderr in a file; killed
/// when dropped, also when the test panics.
struct Rota {
    child: Child,
    pid: i32,
    lines: mpsc::Receiver<String>,
    stdout_so_far: Vec<String>,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Rota {
    /// Starts `rota <args>` with no credentials.
    fn spawn(args: &[&str]) -> Rota {
        let mut command = Command::new(ROTA);
        command.args(args);
        Rota::start(command)
    }

    /// Starts `rota <args>` against the bed's server as `identity`.
    fn spawn_on(bed: &TestBed, identity: Identity, args: &[&str]) -> Rota {
        Rota::start(bed.command(ROTA, &identity, args))
    }

    fn start(mut command: Command) -> Rota {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let mut child = command
            .env("ROTA_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {ROTA}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let pid = i32::try_from(child.id()).expect("a pid fits in pid_t");
        Rota {
            child,
            pid,
            lines,
            stdout_so_far: Vec::new(),
            stderr_path,
            _dir: dir,
        }
    }

    /// Reads stdout until `wanted` returns something for a line; panics
    /// naming `what` if the process exits first or `deadline` passes.
    fn wait_for_line<T>(
        &mut self,
        what: &str,
        deadline: Instant,
        mut wanted: impl FnMut(&str) -> Option<T>,
    ) -> T {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = wanted(&line);
                    self.stdout_so_far.push(line);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for {what}; {}", self.output())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the process closed its stdout before {what}; {}",
                        self.output()
                    )
                }
            }
        }
    }

    /// Waits until stderr contains `needle`, or panics after `bound`.
    fn wait_for_stderr(&self, needle: &str, bound: Duration) {
        let deadline = Instant::now() + bound;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "stderr did not say {needle:?} within {bound:?}; {}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid with a valid signal has no
        // memory effects.
        let sent = unsafe { libc::kill(self.pid, signal) };
        assert_eq!(
            sent,
            0,
            "kill({}, {signal}) failed: {}",
            self.pid,
            std::io::Error::last_os_error()
        );
    }

    /// Its exit status if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Waits for the process to exit, blocking the thread; panics after
    /// `bound` naming `what`.
    fn wait_exit(&mut self, what: &str, bound: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < bound,
                "{what} had not exited {bound:?} after the signal; {}",
                self.output()
            );
            std::thread::sleep(POLL);
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The end of what the process wrote, for panic messages.
    fn output(&self) -> String {
        let tail = |text: &str, lines: usize| {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        };
        format!(
            "its stdout ends:\n{}\nits stderr ends:\n{}",
            tail(&self.stdout_so_far.join("\n"), 10),
            tail(&self.stderr(), 20)
        )
    }
}

impl Drop for Rota {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process as the kernel knows it: its pid and its start time, so that
/// a pid reused by another process is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pid {
    pid: i32,
    start_time: u64,
}

/// What /proc/<pid>/stat says: (command name, state, parent pid, start
/// time).
fn proc_stat(pid: i32) -> Option<(String, char, i32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces and ')'.
    let (head, rest) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 3 (state), 4 (ppid) and 22 (starttime) of proc(5).
    let state = fields.first()?.chars().next()?;
    let ppid = fields.get(1)?.parse().ok()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((comm, state, ppid, start_time))
}

/// The nats-server processes whose parent is `parent`.
fn nats_servers_started_by(parent: i32) -> Vec<Pid> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc is readable") {
        let Some(pid) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        else {
            continue;
        };
        if let Some((comm, _, ppid, start_time)) = proc_stat(pid)
            && ppid == parent
            && comm == "nats-server"
        {
            found.push(Pid { pid, start_time });
        }
    }
    found
}

/// A nats-server a test watches: the process and its temporary store.
#[derive(Debug, Clone)]
struct Server {
    process: Pid,
    store: PathBuf,
}

/// The one nats-server `rota demo` started, with its store: the directory
/// holding the JetStream directory its command line names after `-sd`.
fn the_server_of(demo: &Rota) -> Server {
    let servers = nats_servers_started_by(demo.pid);
    assert_eq!(
        servers.len(),
        1,
        "expected exactly one nats-server child of the demo (pid {}), found {servers:?}",
        demo.pid
    );
    let process = servers[0];
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", process.pid)).unwrap_or_default();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let jetstream = args
        .iter()
        .position(|a| a == "-sd")
        .and_then(|at| args.get(at + 1))
        .unwrap_or_else(|| panic!("the demo's nats-server has no -sd argument: {args:?}"));
    let store = PathBuf::from(jetstream)
        .parent()
        .expect("the JetStream directory is inside the store")
        .to_path_buf();
    assert!(
        store.is_dir(),
        "the server's store {store:?} exists while it runs"
    );
    Server { process, store }
}

/// True while the process runs: it exists, is the same process, and is
/// neither a zombie nor dead. kill(pid, 0) alone would count a zombie
/// (exited, not yet reaped by its new parent) as alive.
fn is_running(process: Pid) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(process.pid, 0) } == -1
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return false;
    }
    match proc_stat(process.pid) {
        Some((_, state, _, start_time)) => {
            start_time == process.start_time && !matches!(state, 'Z' | 'X' | 'x')
        }
        None => false,
    }
}

/// Waits until `server` no longer runs, or panics after
/// [`SERVER_GONE_BOUND`]; then checks that its store was removed, which
/// the process that started it does before it exits.
fn assert_server_gone(server: &Server, what: &str) -> Duration {
    let started = Instant::now();
    let store = &server.store;
    let store_left = store.exists();
    let server = server.process;
    while is_running(server) {
        if started.elapsed() >= SERVER_GONE_BOUND {
            // Not left behind by the test either.
            // SAFETY: kill(2) with a valid signal has no memory effects; the
            // start time was checked just now, so the pid is still the server.
            unsafe { libc::kill(server.pid, libc::SIGKILL) };
            let _ = std::fs::remove_dir_all(store);
            panic!(
                "the nats-server (pid {}) that {what} started still ran {SERVER_GONE_BOUND:?} after it exited (the test has killed it and removed its store)",
                server.pid
            );
        }
        std::thread::sleep(POLL);
    }
    if store_left {
        let _ = std::fs::remove_dir_all(store);
        panic!(
            "{what} left the temporary store {store:?} of its nats-server behind (the test has removed it)"
        );
    }
    started.elapsed()
}

/// A progress line of `rota demo`: "[  1.0s] submitted   5217  pending
/// 5216  running      1  finished ...". Returns (submitted, running).
fn progress(line: &str) -> Option<(u64, u64)> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let count = |label: &str| {
        let at = words.iter().position(|w| *w == label)?;
        words.get(at + 1)?.parse::<u64>().ok()
    };
    Some((count("submitted")?, count("running")?))
}

/// Starts `rota demo` on 20,000 jobs submitted over 2 s to 200 nodes and
/// waits until it is under load: jobs submitted and some running. Returns
/// the demo and its nats-server.
fn demo_under_load() -> (Rota, Server) {
    let mut demo = Rota::spawn(&[
        "demo",
        "--jobs",
        "20000",
        "--nodes",
        "200",
        "--submit-over-s",
        "2",
    ]);
    let deadline = Instant::now() + LOAD_BOUND;
    let url = demo.wait_for_line("the demo to start its nats-server", deadline, |line| {
        let rest = line.strip_prefix("rota demo: started ")?;
        let url = rest.split(" on ").nth(1)?.split_whitespace().next()?;
        Some(url.to_string())
    });
    let server = the_server_of(&demo);
    let (submitted, running) = demo.wait_for_line(
        "a progress line with jobs submitted and running",
        deadline,
        |line| progress(line).filter(|&(submitted, running)| submitted > 0 && running > 0),
    );
    eprintln!(
        "demo (pid {}) with its nats-server (pid {}) on {url}: {submitted} submitted, {running} running",
        demo.pid, server.process.pid
    );
    (demo, server)
}

/// The demo's own deadline, well before the workload can finish.
const DEMO_TIMEOUT_S: u64 = 3;

#[test]
fn the_demo_gives_up_at_its_timeout_under_load_and_stops_its_server() {
    let _turn = SERIAL.blocking_lock();
    // Twenty nodes cannot run 20,000 jobs in three seconds.
    let timeout = DEMO_TIMEOUT_S.to_string();
    let mut demo = Rota::spawn(&[
        "demo",
        "--jobs",
        "20000",
        "--nodes",
        "20",
        "--submit-over-s",
        "2",
        "--timeout-s",
        &timeout,
    ]);
    let deadline = Instant::now() + LOAD_BOUND;
    demo.wait_for_line("the demo to start its nats-server", deadline, |line| {
        line.starts_with("rota demo: started ").then_some(())
    });
    let server = the_server_of(&demo);
    let bound = Duration::from_secs(DEMO_TIMEOUT_S) + EXIT_BOUND;
    let (status, took) = demo.wait_exit("rota demo past its --timeout-s", bound);
    assert_server_gone(&server, "rota demo");
    eprintln!(
        "rota demo gave up {:.0} ms after its server started, with {status}",
        took.as_secs_f64() * 1000.0
    );
    assert_eq!(
        status.code(),
        Some(1),
        "a failure, not a success or a signal; {}",
        demo.output()
    );
    assert!(
        demo.stderr()
            .contains(&format!("did not finish within {DEMO_TIMEOUT_S} s")),
        "it says why; {}",
        demo.output()
    );
}

#[test]
fn sigterm_stops_the_demo_under_load_within_the_grace_and_its_server_with_it() {
    let _turn = SERIAL.blocking_lock();
    let (mut demo, server) = demo_under_load();
    demo.signal(libc::SIGTERM);
    let (status, took) = demo.wait_exit("rota demo", EXIT_BOUND);
    let server_gone = assert_server_gone(&server, "rota demo");
    eprintln!(
        "rota demo exited with {status} {:.0} ms after SIGTERM; its nats-server was gone {:.0} ms later",
        took.as_secs_f64() * 1000.0,
        server_gone.as_secs_f64() * 1000.0
    );
    assert!(
        status.code().is_some(),
        "rota demo died of the signal ({status}) instead of handling it; {}",
        demo.output()
    );
    assert!(
        demo.stderr().contains("shutting down on signal"),
        "{}",
        demo.output()
    );
}

#[test]
fn a_second_sigterm_ends_the_demo_under_load_at_once_and_its_server_with_it() {
    let _turn = SERIAL.blocking_lock();
    let (mut demo, server) = demo_under_load();
    demo.signal(libc::SIGTERM);
    // Two signals in quick succession may reach the handler as one; the
    // second counts once the first has been seen.
    demo.wait_for_stderr("shutting down on signal", SIGNAL_SEEN_BOUND);
    assert!(
        demo.exited().is_none(),
        "rota demo stopped before the second signal could be sent, so this run tests nothing; {}",
        demo.output()
    );
    demo.signal(libc::SIGTERM);
    let (status, took) = demo.wait_exit("rota demo, signalled twice,", FORCED_EXIT_BOUND);
    let server_gone = assert_server_gone(&server, "rota demo");
    eprintln!(
        "rota demo exited with {status} {:.0} ms after the second SIGTERM; its nats-server was gone {:.0} ms later",
        took.as_secs_f64() * 1000.0,
        server_gone.as_secs_f64() * 1000.0
    );
    assert_eq!(
        status.code(),
        Some(EXIT_FORCED),
        "the second signal forces the exit with EXIT_FORCED; {}",
        demo.output()
    );
}

/// Submissions `rota run all` gets while it is signalled.
const RUN_JOBS: usize = 10_000;
const RUN_RATE_PER_S: u64 = 2500;
/// The simulated fleet of the `rota run all` test.
const RUN_NODES: usize = 100;
/// Jobs placed before the signal: the services are deciding.
const BOUND_BEFORE_SIGNAL: usize = 200;

fn run_job(i: usize) -> Event {
    rota_testkit::small_job(["acme", "globex"][i % 2], &format!("sig-{i:05}"), 1000)
}

/// Publishes `jobs` at [`RUN_RATE_PER_S`], open loop, counting what it sent
/// in `sent`.
async fn submit(log: rota_shell::CellLog, jobs: Vec<Event>, sent: Arc<AtomicUsize>) {
    let mut window: PublishWindow<()> = PublishWindow::new(&log.client, PUBLISH_WINDOW_MAX);
    let mut slices = tokio::time::interval(Duration::from_millis(10));
    let started = tokio::time::Instant::now();
    let mut next = 0;
    let mut acked = 0;
    while acked < jobs.len() {
        let due = ((started.elapsed().as_micros() as u64 * RUN_RATE_PER_S / 1_000_000) as usize
            + 1)
        .min(jobs.len());
        while next < due && window.has_room() {
            window.send(&jobs[next], ()).await.expect("submission sent");
            next += 1;
            sent.store(next, Ordering::SeqCst);
        }
        tokio::select! {
            _ = slices.tick(), if next < jobs.len() => {}
            done = window.next_acked() => {
                done.result.expect("submission stored");
                acked += 1;
            }
        }
    }
}

/// Folds the log until `done`, or panics naming `what` after `bound`.
async fn fold_until(
    bed: &TestBed,
    what: &str,
    bound: Duration,
    done: impl Fn(&CellState) -> bool,
) -> CellState {
    let deadline = tokio::time::Instant::now() + bound;
    let mut state = CellState::new(CELL);
    let mut entries = bed.log.entries(1, Vec::new()).await.expect("reader");
    while !done(&state) {
        match tokio::time::timeout_at(deadline, entries.next()).await {
            Ok(Some(item)) => {
                let entry: LogEntry = item.expect("readable log").0;
                state.apply(&entry);
            }
            Ok(None) => panic!("the log ended while waiting for {what}"),
            Err(_) => panic!(
                "timed out after {bound:?} waiting for {what}; nodes {}, jobs by state {:?}",
                state.nodes.len(),
                summary(&state)
            ),
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_rota_run_all_under_load_gracefully_within_the_grace() {
    let _turn = SERIAL.lock().await;
    let bed = TestBed::start().await;
    let nodes = RUN_NODES.to_string();
    let _fleet = Rota::spawn_on(
        &bed,
        Identity::Fleet,
        &["sim-fleet", "--nodes", &nodes, "--time-scale", "100"],
    );
    let mut services = Rota::spawn_on(&bed, Identity::Services, &["run", "all"]);
    fold_until(&bed, "the fleet to register", LOAD_BOUND, |s| {
        s.nodes.len() == RUN_NODES
    })
    .await;

    let sent = Arc::new(AtomicUsize::new(0));
    let load_started = Instant::now();
    let submitter = tokio::spawn(submit(
        bed.gateway.clone(),
        (0..RUN_JOBS).map(run_job).collect(),
        sent.clone(),
    ));
    let what = format!("{BOUND_BEFORE_SIGNAL} jobs to be placed");
    let state = fold_until(&bed, &what, LOAD_BOUND, |s| {
        s.jobs.values().filter(|j| j.bindings > 0).count() >= BOUND_BEFORE_SIGNAL
    })
    .await;
    let sent_at_signal = sent.load(Ordering::SeqCst);
    let signalled_after = load_started.elapsed();
    services.signal(libc::SIGTERM);
    // The process is watched from this thread; the runtime's other worker
    // keeps the in-process submitter going meanwhile.
    let (status, took) =
        tokio::task::block_in_place(|| services.wait_exit("rota run all", EXIT_BOUND));
    eprintln!(
        "rota run all exited with {status} {:.0} ms after SIGTERM, sent {:.1} s after the load began with {sent_at_signal} of {RUN_JOBS} jobs submitted and {:?} by state",
        took.as_secs_f64() * 1000.0,
        signalled_after.as_secs_f64(),
        summary(&state)
    );
    assert!(
        sent_at_signal < RUN_JOBS,
        "every submission had been sent before the signal, so it did not arrive under load"
    );
    assert!(
        status.success(),
        "rota run all did not stop gracefully ({status}); {}",
        services.output()
    );
    tokio::time::timeout(Duration::from_secs(20), submitter)
        .await
        .expect("the submitter ended within 20 s")
        .expect("every submission was stored");
}
