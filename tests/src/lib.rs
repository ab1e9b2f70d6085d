//! The harness for Rota's end-to-end tests (the files in `tests/e2e`).
//!
//! Every test starts its own throwaway nats-server on a free loopback port
//! with a temporary store ([`TestBed::start`]), with authorization and TLS
//! on: every part of a test connects as its own identity, under the
//! permissions `rota auth init` would write. Dropping the bed stops the
//! services and kills the server, also when the test panics. Tests wait on
//! the folded log ([`TestBed::wait_for`]) with a deadline, never on sleeps.

pub mod forgeries;

use rota_events::{
    Body, Event, JobSubmitted, NodeRegistered, Resources, Writer, derived_event_id, writer_of,
};
use rota_projections::{CellState, LogEntry};
use rota_shell::access::{Credentials, Identity, SERVICES};
use rota_shell::access_files::LocalAccess;
use rota_shell::clock::{ClockConfig, run_clock};
use rota_shell::nats_server::NatsServer;
use rota_shell::nodes::NodeSpec;
use rota_shell::service::{ServiceConfig, run_service};
use rota_shell::signing::{Signer, outgoing};
use rota_shell::{CellLog, Shutdown};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// How long a test waits for the log to reach an expected state.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

/// The cell every test uses.
pub const CELL: &str = "default";

/// Tenants whose credentials every bed has, for tests that run `rota
/// submit` or an outside client as a tenant.
pub const TEST_TENANTS: [&str; 5] = ["acme", "beta", "mallory", "pyclient", "web-team"];

/// Nodes whose agents have credentials of their own in every bed.
pub const TEST_AGENT_NODES: [&str; 2] = ["worker-1", "worker-2"];

/// Every identity a bed's server has a user for: those of every cell, each
/// service, [`TEST_TENANTS`] and the agents of [`TEST_AGENT_NODES`].
pub fn bed_identities() -> Vec<Identity> {
    let mut identities = Identity::of_every_cell();
    identities.extend(SERVICES.iter().map(|s| Identity::Service(s.to_string())));
    identities.extend(TEST_TENANTS.iter().map(|t| Identity::Tenant(t.to_string())));
    identities.extend(
        TEST_AGENT_NODES
            .iter()
            .map(|n| Identity::Agent(n.to_string())),
    );
    identities
}

/// A nats-server, connections to the cell's log as the parts a test plays,
/// and any in-process services.
///
/// The server enforces the cell's permissions, over TLS, as under `rota
/// auth init`'s configuration: each part connects as its own identity, and
/// each `rota` process a test starts gets its identity's credentials
/// ([`TestBed::command`]). A bed without authorization
/// ([`TestBed::start_without_authorization`]) stands for events injected
/// past the server, to show what the fold alone does with them.
pub struct TestBed {
    /// The auditor's connection: reads the whole log and, on a bed with
    /// authorization, may write nothing.
    pub log: CellLog,
    /// The deciding services' connection, which the in-process services
    /// share.
    pub services: CellLog,
    /// The fleet's: registers every node and reports for it.
    pub fleet: CellLog,
    /// A gateway's: submits and cancels for any tenant.
    pub gateway: CellLog,
    /// The operator's: sets policy and tenants.
    pub operator: CellLog,
    pub shutdown: Shutdown,
    tasks: JoinSet<()>,
    // Declared after the connections: dropped after the services have been
    // told to stop.
    pub server: NatsServer,
    // Declared last: a server restarted by a test reads its configuration
    // again, so the files outlive it.
    access: Option<LocalAccess>,
}

impl TestBed {
    /// Starts a throwaway nats-server with a user and permissions for every
    /// one of [`bed_identities`], over TLS, provisions the cell's stream and
    /// sets the users' keys as its roster.
    pub async fn start() -> TestBed {
        let access =
            LocalAccess::generate(CELL, bed_identities(), None).unwrap_or_else(|e| panic!("{e}"));
        let server =
            NatsServer::start_with_config(access.config()).unwrap_or_else(|e| panic!("{e}"));
        TestBed::connect_parts(server, Some(access)).await
    }

    /// Starts a throwaway nats-server that lets every client write anything,
    /// and provisions the cell's stream: for tests of what the fold does
    /// with events that came past the server's permissions.
    pub async fn start_without_authorization() -> TestBed {
        let server = NatsServer::start().unwrap_or_else(|e| panic!("{e}"));
        TestBed::connect_parts(server, None).await
    }

    async fn connect_parts(server: NatsServer, access: Option<LocalAccess>) -> TestBed {
        let connect = |identity: Identity| connect_to(&server, access.as_ref(), identity);
        // The services' connection provisions the stream; the others find it.
        let services = connect(Identity::Services).await;
        let (log, fleet, gateway, operator) = tokio::join!(
            connect(Identity::Auditor),
            connect(Identity::Fleet),
            connect(Identity::Gateway),
            connect(Identity::Operator)
        );
        // With users, the operator sets their keys as the cell's roster
        // first, so that every event after it is signed and checked.
        if let Some(access) = &access {
            access
                .set_roster(&operator)
                .await
                .unwrap_or_else(|e| panic!("setting the roster: {e}"));
        }
        TestBed {
            log,
            services,
            fleet,
            gateway,
            operator,
            shutdown: Shutdown::new(),
            tasks: JoinSet::new(),
            server,
            access,
        }
    }

    /// A new connection as `identity`.
    pub async fn connect(&self, identity: Identity) -> CellLog {
        connect_to(&self.server, self.access.as_ref(), identity).await
    }

    /// Whether the server enforces permissions.
    pub fn has_authorization(&self) -> bool {
        self.access.is_some()
    }

    /// A command that runs the `rota` binary at `binary` against this bed's
    /// server as `identity`: its credentials and the bed's authority in
    /// `NATS_CREDS` and `NATS_CA`, `--nats` after the arguments given.
    pub fn command(
        &self,
        binary: &str,
        identity: &Identity,
        args: &[&str],
    ) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command.args(args).args(["--nats", self.url()]);
        command.env_remove("NATS_CREDS").env_remove("NATS_CA");
        if let Some(access) = &self.access {
            let files = &access.files;
            let creds = files.creds_file(identity).unwrap_or_else(|e| panic!("{e}"));
            command
                .env("NATS_CREDS", creds)
                .env("NATS_CA", &files.tls.ca);
        }
        command
    }

    /// Runs `rota <args>` as `identity` and waits for it.
    pub fn rota(&self, binary: &str, identity: &Identity, args: &[&str]) -> std::process::Output {
        self.command(binary, identity, args)
            .output()
            .expect("rota runs")
    }

    /// Starts `rota <args>` as `identity`, with stderr captured.
    pub fn spawn(&self, binary: &str, identity: &Identity, args: &[&str]) -> RotaProcess {
        RotaProcess::start(self.command(binary, identity, args))
    }

    /// The environment an outside client needs to connect as `identity`:
    /// its seed file and the bed's authority, when the bed has
    /// authorization.
    pub fn client_files(
        &self,
        identity: &Identity,
    ) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
        self.access.as_ref().map(|access| {
            let files = &access.files;
            let creds = files.creds_file(identity).unwrap_or_else(|e| panic!("{e}"));
            (creds, files.tls.ca.clone())
        })
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// The key `identity` signs with in this bed (which has authorization).
    pub fn signer(&self, identity: &Identity) -> Signer {
        let access = self.access.as_ref().expect("a bed with authorization");
        let creds = access
            .files
            .creds_file(identity)
            .unwrap_or_else(|e| panic!("{e}"));
        Signer::of(&Credentials::load(&creds).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Runs the named decision services in this process.
    pub fn run_named(&mut self, services: &[&str]) {
        for service in services {
            let core = rota_replay::standard_core(CELL, service).expect("known service");
            let mut config = ServiceConfig::new(format!("{service}-test"));
            config.lease_timeout = Duration::from_millis(500);
            self.run_core(core, config);
        }
    }

    /// Runs a service core in this process, as instance `instance`.
    pub fn run_core(
        &mut self,
        core: Box<dyn rota_projections::ServiceCore>,
        config: ServiceConfig,
    ) {
        let (log, shutdown) = (self.services.clone(), self.shutdown.clone());
        self.tasks.spawn(async move {
            run_service(log, core, config, shutdown)
                .await
                .expect("service loop failed");
        });
    }

    /// Runs every deciding service (and the clock, if asked) in this
    /// process.
    pub fn run_services(&mut self, with_clock: bool) {
        self.run_named(&rota_replay::DECIDING_SERVICES);
        if with_clock {
            let (log, shutdown) = (self.services.clone(), self.shutdown.clone());
            self.tasks.spawn(async move {
                run_clock(log, ClockConfig::default(), shutdown)
                    .await
                    .expect("clock failed");
            });
        }
    }

    /// Stops the in-process services and waits for them.
    pub async fn stop_services(&mut self) {
        self.shutdown.trigger();
        while let Some(joined) = self.tasks.join_next().await {
            joined.expect("a service task panicked");
        }
    }

    /// Folds the log until `done` holds for the state, or panics with
    /// `what` after [`WAIT_TIMEOUT`].
    pub async fn wait_for(&self, what: &str, done: impl Fn(&CellState) -> bool) -> CellState {
        let mut state = CellState::new(CELL);
        let mut entries = self.log.entries(1, Vec::new()).await.expect("reader");
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        loop {
            if done(&state) {
                return state;
            }
            match tokio::time::timeout_at(deadline, entries.next()).await {
                Ok(Some(item)) => state.apply(&item.expect("readable log").0),
                Ok(None) => panic!("the log ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {WAIT_TIMEOUT:?} waiting for {what}; state: {:?}",
                    summary(&state)
                ),
            }
        }
    }

    /// Every entry of the log so far.
    pub async fn entries(&self) -> Vec<LogEntry> {
        self.log.read_all().await.expect("readable log")
    }

    /// Registers `count` nodes named `node-00000`... as the fleet.
    pub async fn register_nodes(&self, count: usize, capacity: Resources) {
        let mut pipeline = self.fleet.pipeline();
        for i in 0..count {
            let name = format!("node-{i:05}");
            let event = Event::new(
                derived_event_id(&format!("test-registration/{name}")),
                CELL,
                Body::NodeRegistered(NodeRegistered {
                    node: name,
                    capacity,
                    labels: BTreeMap::new(),
                    ..Default::default()
                }),
            );
            pipeline.push(&event).await.expect("publish");
        }
        pipeline.flush().await.expect("acks");
    }

    /// The connection of the part that writes events of `type_name`:
    /// clients' through the gateway, agents' through the fleet, decisions
    /// and leases through the services, policy through the operator.
    pub fn writer_connection(&self, type_name: &str) -> &CellLog {
        match writer_of(type_name) {
            Writer::Client => &self.gateway,
            Writer::Agent => &self.fleet,
            Writer::Operator => &self.operator,
            Writer::Service(_) | Writer::Clock | Writer::AnyService => &self.services,
        }
    }

    /// Publishes `events`, pipelined, each through the connection of the
    /// part that writes it ([`TestBed::writer_connection`]), in order.
    pub async fn submit(&self, events: &[Event]) {
        let mut start = 0;
        while start < events.len() {
            let type_name = events[start].body.type_name();
            let connection = self.writer_connection(type_name);
            let run = events[start..]
                .iter()
                .take_while(|e| {
                    std::ptr::eq(self.writer_connection(e.body.type_name()), connection)
                })
                .count();
            let mut pipeline = connection.pipeline();
            for event in &events[start..start + run] {
                pipeline.push(event).await.expect("publish");
            }
            pipeline.flush().await.expect("acks");
            start += run;
        }
    }
}

async fn connect_to(
    server: &NatsServer,
    access: Option<&LocalAccess>,
    identity: Identity,
) -> CellLog {
    let connected = match access {
        Some(access) => access.connect(&server.url, CELL, &identity).await,
        None => CellLog::connect(&server.url, CELL).await,
    };
    connected.unwrap_or_else(|e| {
        panic!(
            "{} cannot connect: {e}; the server's log ends:\n{}",
            identity.name(),
            server.log_tail()
        )
    })
}

impl Drop for TestBed {
    fn drop(&mut self) {
        self.shutdown.trigger();
        self.tasks.abort_all();
    }
}

/// Publishes `event` on `via`'s connection as a writer past the server's
/// permissions would: unsigned, or signed by `signer` rather than by the
/// connection's own key. Returns its stream sequence.
pub async fn inject(via: &CellLog, event: &Event, signer: Option<&Signer>) -> u64 {
    let out = outgoing(event, signer);
    via.publish_raw(&out.subject, out.headers, out.payload)
        .await
        .unwrap_or_else(|e| panic!("injecting {}: {e}", event.body.type_name()))
}

/// Asserts that every event of `entries` but a tenant's is signed by a
/// key that the cell's roster names for an identity that may write it.
pub fn assert_signed_by_writers(entries: &[LogEntry]) {
    let mut state = CellState::new(CELL);
    for entry in entries {
        state.apply(entry);
    }
    assert!(state.roster.is_set(), "the cell has a roster");
    for entry in entries {
        let Ok(event) = &entry.event else { continue };
        if event.body.writer() == Writer::Client {
            continue;
        }
        let signer = entry
            .signer
            .as_ref()
            .unwrap_or_else(|| panic!("entry {} ({}) is unsigned", entry.seq, entry.subject));
        let identity = state
            .roster
            .identity_of(signer)
            .unwrap_or_else(|| panic!("entry {}: {signer} is not in the roster", entry.seq));
        assert!(
            identity.may_publish(event, &entry.subject),
            "entry {} ({}) is signed by {}, which may not write it",
            entry.seq,
            entry.subject,
            identity.name()
        );
    }
}

/// A small job for load: half a core and 256 MiB, running `duration_ms` on
/// a simulated node.
pub fn small_job(tenant: &str, id: &str, duration_ms: u64) -> Event {
    let body = Body::JobSubmitted(Arc::new(JobSubmitted {
        job: id.to_string(),
        resources: Resources {
            cpu_milli: 500,
            memory_bytes: 256 << 20,
            ..Default::default()
        },
        duration_ms: Some(duration_ms),
        ..Default::default()
    }));
    Event::new(id, CELL, body).with_tenant(tenant)
}

/// A job submission for `tenant` with the given request.
pub fn job(tenant: &str, id: &str, resources: Resources, command: &[&str]) -> Event {
    let body = Body::JobSubmitted(Arc::new(JobSubmitted {
        job: id.to_string(),
        name: None,
        command: command.iter().map(|s| s.to_string()).collect(),
        resources,
        duration_ms: Some(60_000),
        walltime_s: None,
        priority: 0,
        labels: BTreeMap::new(),
        ..Default::default()
    }));
    Event::new(id, CELL, body).with_tenant(tenant)
}

/// A small request: half a core and 256 MiB.
pub fn small() -> Resources {
    Resources {
        cpu_milli: 500,
        memory_bytes: 256 << 20,
        gpus: 0,
        ..Default::default()
    }
}

/// Counts of jobs by state, for timeout messages.
pub fn summary(state: &CellState) -> BTreeMap<&'static str, usize> {
    let mut counts = BTreeMap::new();
    for job in state.jobs.values() {
        *counts.entry(job.state.as_str()).or_insert(0) += 1;
    }
    counts
}

/// Every job.bound event in the log that took effect or not, by job.
pub fn bound_events(entries: &[LogEntry]) -> BTreeMap<String, Vec<(u64, String)>> {
    let mut bound: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    for entry in entries {
        if let Ok(Event {
            body: Body::JobBound(b),
            ..
        }) = &entry.event
        {
            bound
                .entry(b.job.clone())
                .or_default()
                .push((entry.seq, b.node.clone()));
        }
    }
    bound
}

/// Replay-verifies a log with this build's cores and panics on a mismatch.
pub fn assert_replay_clean(entries: &[LogEntry]) -> rota_replay::Report {
    let report = rota_replay::verify(entries, &|service| {
        rota_replay::standard_core(CELL, service)
    });
    assert!(
        report.is_clean(),
        "replay verify found mismatches: {:#?}",
        report.mismatches
    );
    assert!(report.rounds > 0, "the log holds no rounds to verify");
    report
}

/// A `rota` process started by a test; killed when dropped.
pub struct RotaProcess {
    pub child: std::process::Child,
    pub stderr_path: std::path::PathBuf,
    _stderr_dir: tempfile::TempDir,
}

impl RotaProcess {
    /// Starts `rota <args>` with stderr captured to a file, with no
    /// credentials: for commands that need no server, or start their own.
    pub fn spawn(binary: &str, args: &[&str]) -> RotaProcess {
        let mut command = std::process::Command::new(binary);
        command.args(args);
        RotaProcess::start(command)
    }

    /// Starts `command` with stderr captured to a file.
    pub fn start(mut command: std::process::Command) -> RotaProcess {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr_path = dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
        let child = command
            .env("ROTA_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
        RotaProcess {
            child,
            stderr_path,
            _stderr_dir: dir,
        }
    }

    /// Kills the process at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits for it; returns whether
    /// it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for RotaProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the `rota` binary at `binary` with `args` against the NATS server
/// at `url`, with no credentials, and waits for it.
pub fn run_rota(binary: &str, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary)
        .args(args)
        .args(["--nats", url])
        .output()
        .expect("rota runs")
}

/// The checkout's root directory. Cargo names the package's directory at
/// run time; the path compiled in is only a fallback, because a build
/// directory shared between checkouts may hold a binary built in another.
pub fn repo_root() -> std::path::PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    manifest_dir
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `count` simulated nodes named `<prefix>-<i>`, of 32 cores and 64 GiB.
pub fn sim_fleet(prefix: &str, count: usize) -> Vec<NodeSpec> {
    (0..count)
        .map(|i| NodeSpec {
            name: format!("{prefix}-{i:03}"),
            capacity: Resources {
                cpu_milli: 32_000,
                memory_bytes: 64 << 30,
                ..Default::default()
            },
            ..Default::default()
        })
        .collect()
}

/// Checks that `rota status` succeeded, gave `verdict` and told every event
/// of a job that ran to its end; returns what it printed.
pub fn assert_whole_story(status: &std::process::Output, verdict: &str) -> String {
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.status.success(), "{text}");
    assert!(text.contains(verdict), "status lacks {verdict:?}: {text}");
    for event in [
        "job.submitted",
        "job.admitted",
        "job.bound",
        "job.started",
        "job.finished",
    ] {
        assert!(text.contains(event), "status lacks {event}: {text}");
    }
    text
}

/// The seed of a randomised test: `ROTA_TEST_SEED` to repeat a run, else
/// one from the clock, printed so that a failure can be repeated.
pub fn test_seed() -> u64 {
    let seed = std::env::var("ROTA_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("test seed {seed} (ROTA_TEST_SEED={seed} repeats it)");
    seed
}
