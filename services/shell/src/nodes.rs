//! Node agents. One loop serves both kinds: `rota agent` runs each bound job
//! as a real process on this machine ([`ProcessRunner`]); `rota sim-fleet`
//! simulates many nodes that run each job for its declared duration, scaled
//! ([`SimRunner`]). The loop folds the log, registers its nodes, sends their
//! heartbeats, starts what is bound to them, stops what is cancelled, and
//! reports every start and end as an event with a deterministic id.

use crate::clock::LIVENESS_NODES_PER_MESSAGE_MAX;
use crate::log::{CellLog, LogError};
use crate::publish::{PUBLISH_WINDOW_MAX, PublishWindow};
use crate::roster::check_in_roster;
use crate::service::{ENTRIES_PER_PASS_MAX, HEARTBEAT_SEND_TIMEOUT};
use crate::shared_reader::{Entries, SharedReader};
use crate::shutdown::Shutdown;
use rota_agent::{AgentCore, Step};
use rota_events::{Event, Outcome, liveness_node_subject, liveness_one_node_subject};
use rota_projections::LogEntry;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

/// How often agents say their nodes are alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);

/// The run time of a simulated job that declared none, in milliseconds.
pub const SIM_DEFAULT_DURATION_MS: u64 = 1000;

pub use rota_agent::{CheckpointRequest, JobToRun, NodeSpec, Report};

/// Something that runs jobs and reports on them.
pub trait Runner {
    fn start(&mut self, job: JobToRun);
    fn kill(&mut self, job: &str);
    /// Asks a job to checkpoint, then stops it after its grace period.
    fn checkpoint(&mut self, job: &str, request: CheckpointRequest);
    /// The next report; pending while there is none.
    fn next_report(&mut self) -> impl std::future::Future<Output = Report> + Send;
}

/// What an agent loop did: how many starts and ends it reported.
pub type NodesReport = rota_agent::AgentCounts;

/// Reports waiting for room in the publish window, most: past it the agent
/// stops reading the log and its runner until acknowledgements free room.
pub const OUTBOX_MAX: usize = 16_384;

/// How long reports may go unacknowledged, failing, before the agent gives
/// up (exits with an error): each failed report is retried, and its id makes
/// the retry safe, but a server that refuses everything is not waited on
/// forever. A time, not a count: one outage (a server lost, a leader
/// elected) fails every report in flight at once, and those are many.
pub const REPORTS_UNACKED_MAX: Duration = Duration::from_secs(60);

/// How long an agent that was asked to stop keeps publishing the reports it
/// still holds.
pub const STOP_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the agent loop for `nodes` until `shutdown`.
///
/// Reports go into an outbox and from there into a publish window whose
/// acknowledgements are one arm of the loop's `select!`: no arm waits for an
/// acknowledgement, and when the outbox is full the loop stops taking new
/// entries and reports, so memory stays bounded and the loop stays live.
pub async fn run_nodes<R: Runner>(
    log: CellLog,
    nodes: Vec<NodeSpec>,
    runner: R,
    shutdown: Shutdown,
) -> Result<NodesReport, LogError> {
    run_nodes_with(log, nodes, runner, shutdown, None).await
}

/// Runs the agent loop, reading the log from the process's `shared` reader
/// when there is one.
pub async fn run_nodes_with<R: Runner>(
    log: CellLog,
    nodes: Vec<NodeSpec>,
    mut runner: R,
    shutdown: Shutdown,
    shared: Option<SharedReader>,
) -> Result<NodesReport, LogError> {
    let count = nodes.len();
    let boot = ulid::Ulid::new().to_string();
    let mut agent = Agent {
        core: AgentCore::new(&log.cell, nodes, &boot),
        outbox: VecDeque::new(),
    };
    let mut pipeline = log.pipeline();
    for registration in agent.core.registrations() {
        pipeline.push(&registration).await?;
    }
    pipeline.flush().await?;
    info!(nodes = count, "nodes registered");

    let mut entries = match shared {
        Some(shared) => shared.subscribe(&log, 1).await?,
        None => Entries::private(&log, 1).await?,
    };
    let mut window: PublishWindow<Event> = log.window(PUBLISH_WINDOW_MAX);
    let mut last_acked = tokio::time::Instant::now();
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        if !agent.outbox.is_empty() {
            check_in_roster(agent.core.state(), log.signer(), "the agents")?;
        }
        send_from_outbox(&mut agent.outbox, &mut window).await;
        let open = agent.outbox.len() < OUTBOX_MAX;
        tokio::select! {
            _ = shutdown.wait() => break,
            item = entries.next(), if open => {
                let mut next = Some(item);
                let mut passes = 0;
                while let Some(item) = next.take() {
                    let Some(item) = item else {
                        // The shared reader stops with the process; at any
                        // other time, read on alone.
                        if shutdown.is_triggered() {
                            break;
                        }
                        warn!("the log reader ended; reopening one of this agent's own");
                        entries = Entries::private(&log, agent.core.state().applied_seq + 1).await?;
                        break;
                    };
                    let (entry, pending) = item?;
                    agent.apply(&entry, pending, &mut runner);
                    passes += 1;
                    if passes < ENTRIES_PER_PASS_MAX && agent.outbox.len() < OUTBOX_MAX {
                        next = entries.next_ready();
                    }
                }
            }
            reported = runner.next_report(), if open => {
                agent.outbox.extend(agent.core.on_report(reported));
            }
            acked = window.next_acked() => match acked.result {
                Ok(_) => last_acked = tokio::time::Instant::now(),
                Err(error) => {
                    if last_acked.elapsed() >= REPORTS_UNACKED_MAX {
                        return Err(error);
                    }
                    warn!(%error, "report not acknowledged; sending it again");
                    agent.outbox.push_front(acked.tag);
                }
            },
            _ = heartbeat.tick() => send_heartbeats(&log, agent.core.mine()).await,
        }
    }
    flush_on_stop(&mut agent.outbox, &mut window).await;
    Ok(agent.core.counts)
}

/// Moves reports from the outbox into the window while it has room. A
/// report the connection would not take goes back to the outbox.
async fn send_from_outbox(outbox: &mut VecDeque<Event>, window: &mut PublishWindow<Event>) {
    while window.has_room() {
        let Some(event) = outbox.pop_front() else {
            return;
        };
        if let Err(error) = window.send(&event, event.clone()).await {
            warn!(%error, "report not sent; keeping it");
            outbox.push_front(event);
            return;
        }
    }
}

/// Publishes what is left, for at most [`STOP_FLUSH_TIMEOUT`].
async fn flush_on_stop(outbox: &mut VecDeque<Event>, window: &mut PublishWindow<Event>) {
    let flush = async {
        while !outbox.is_empty() || !window.is_empty() {
            send_from_outbox(outbox, window).await;
            if let Err(error) = window.next_acked().await.result {
                warn!(%error, "report not acknowledged while stopping");
            }
        }
    };
    if tokio::time::timeout(STOP_FLUSH_TIMEOUT, flush)
        .await
        .is_err()
    {
        warn!(
            unsent = outbox.len() + window.in_flight(),
            "stopped before every report was acknowledged; a restarted agent reports them again"
        );
    }
}

/// An agent loop's core and the reports it owes.
struct Agent {
    core: AgentCore,
    outbox: VecDeque<Event>,
}

impl Agent {
    /// Folds one entry and carries out what the core asks for.
    fn apply<R: Runner>(&mut self, entry: &LogEntry, pending: u64, runner: &mut R) {
        for step in self.core.apply(entry, pending) {
            match step {
                Step::Start(job) => runner.start(job),
                Step::Kill { job } => runner.kill(&job),
                Step::Checkpoint { job, request } => runner.checkpoint(&job, request),
                Step::Abandon { job, node } => {
                    warn!(job, node, "node declared lost; stopping the job here");
                    runner.kill(&job);
                }
                Step::Publish(event) => self.outbox.push_back(*event),
            }
        }
    }
}

/// Says the agent's nodes are alive: one node on its own subject (all that
/// an agent's credentials allow), many in batches on the fleet's.
async fn send_heartbeats(log: &CellLog, nodes: &BTreeSet<String>) {
    let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let subject = match names.as_slice() {
        [one] => liveness_one_node_subject(&log.cell, one),
        _ => liveness_node_subject(&log.cell),
    };
    for chunk in names.chunks(LIVENESS_NODES_PER_MESSAGE_MAX) {
        let payload = chunk.join(" ");
        let send = log.client.publish(subject.clone(), payload.into());
        match tokio::time::timeout(HEARTBEAT_SEND_TIMEOUT, send).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "heartbeat not sent"),
            Err(_) => warn!("heartbeat not handed to the connection in time"),
        }
    }
}

/// Simulated nodes: a job runs for its declared duration divided by the time
/// scale, then succeeds.
pub struct SimRunner {
    time_scale: f64,
    due: BTreeMap<(Instant, u64), String>,
    deadline_of: BTreeMap<String, (Instant, u64)>,
    ready: std::collections::VecDeque<Report>,
    counter: u64,
}

impl SimRunner {
    /// `time_scale` 10 runs a 10-second job in one second.
    pub fn new(time_scale: f64) -> SimRunner {
        SimRunner {
            time_scale: time_scale.max(f64::MIN_POSITIVE),
            due: BTreeMap::new(),
            deadline_of: BTreeMap::new(),
            ready: Default::default(),
            counter: 0,
        }
    }
}

impl SimRunner {
    /// Ends a running simulated job before its time.
    fn stop(&mut self, job: &str, checkpointed: bool, message: &str) {
        if let Some(key) = self.deadline_of.remove(job) {
            self.due.remove(&key);
            self.ready.push_back(Report::Finished {
                job: job.to_string(),
                outcome: Outcome::Killed,
                exit_code: None,
                signal: None,
                message: Some(message.to_string()),
                checkpointed,
            });
        }
    }
}

impl Runner for SimRunner {
    fn start(&mut self, job: JobToRun) {
        let duration_ms =
            job.duration_ms.unwrap_or(SIM_DEFAULT_DURATION_MS) as f64 / self.time_scale;
        let key = (
            Instant::now() + Duration::from_secs_f64(duration_ms / 1000.0),
            self.counter,
        );
        self.counter += 1;
        self.due.insert(key, job.job.clone());
        self.deadline_of.insert(job.job.clone(), key);
        self.ready.push_back(Report::Started {
            job: job.job,
            pid: None,
        });
    }

    fn kill(&mut self, job: &str) {
        self.stop(job, false, "stopped");
    }

    /// A simulated job checkpoints at once.
    fn checkpoint(&mut self, job: &str, _request: CheckpointRequest) {
        self.stop(job, true, "checkpointed and stopped");
    }

    async fn next_report(&mut self) -> Report {
        if let Some(report) = self.ready.pop_front() {
            return report;
        }
        let Some((&key, _)) = self.due.iter().next() else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(key.0).await;
        let job = self.due.remove(&key).expect("the first key");
        self.deadline_of.remove(&job);
        Report::Finished {
            job,
            outcome: Outcome::Succeeded,
            exit_code: Some(0),
            signal: None,
            message: None,
            checkpointed: false,
        }
    }
}

/// Real processes on this machine, one per job, run without a shell.
pub struct ProcessRunner {
    log_dir: Option<PathBuf>,
    reports_tx: mpsc::UnboundedSender<Report>,
    reports_rx: mpsc::UnboundedReceiver<Report>,
    kills: BTreeMap<String, oneshot::Sender<Stop>>,
    tasks: JoinSet<()>,
}

impl ProcessRunner {
    /// `log_dir`, when given, receives each job's stdout and stderr as
    /// `<job>.out` and `<job>.err`.
    pub fn new(log_dir: Option<PathBuf>) -> ProcessRunner {
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        ProcessRunner {
            log_dir,
            reports_tx,
            reports_rx,
            kills: BTreeMap::new(),
            tasks: JoinSet::new(),
        }
    }
}

impl Runner for ProcessRunner {
    fn start(&mut self, job: JobToRun) {
        let (kill_tx, kill_rx) = oneshot::channel();
        self.kills.insert(job.job.clone(), kill_tx);
        let reports = self.reports_tx.clone();
        let log_dir = self.log_dir.clone();
        self.tasks
            .spawn(run_process(job, log_dir, kill_rx, reports));
    }

    fn kill(&mut self, job: &str) {
        if let Some(kill) = self.kills.remove(job) {
            let _ = kill.send(Stop::Kill);
        }
    }

    fn checkpoint(&mut self, job: &str, request: CheckpointRequest) {
        if let Some(kill) = self.kills.remove(job) {
            let _ = kill.send(Stop::Checkpoint(request));
        }
    }

    async fn next_report(&mut self) -> Report {
        loop {
            tokio::select! {
                report = self.reports_rx.recv() => {
                    let report = report.expect("the runner holds a sender");
                    if let Report::Finished { job, .. } = &report {
                        self.kills.remove(job);
                    }
                    return report;
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        }
    }
}

/// How a running process is to be stopped.
#[derive(Debug)]
enum Stop {
    Kill,
    Checkpoint(CheckpointRequest),
}

/// How long a checkpoint command may run, at most, beyond the grace
/// period: it is killed with the job.
const CHECKPOINT_COMMAND_GRACE_EXTRA: Duration = Duration::from_secs(1);

/// Runs one job's process to its end or until it is stopped.
async fn run_process(
    job: JobToRun,
    log_dir: Option<PathBuf>,
    stop: oneshot::Receiver<Stop>,
    reports: mpsc::UnboundedSender<Report>,
) {
    use std::os::unix::process::ExitStatusExt;
    let ended =
        |outcome, exit_code, signal, message: Option<String>, checkpointed| Report::Finished {
            job: job.job.clone(),
            outcome,
            exit_code,
            signal,
            message,
            checkpointed,
        };
    let finished =
        |outcome, exit_code, signal, message| ended(outcome, exit_code, signal, message, false);
    let Some((program, args)) = job.command.split_first() else {
        let message = "the job has no command; `rota agent` runs only jobs with one".to_string();
        let _ = reports.send(finished(Outcome::Failed, None, None, Some(message)));
        return;
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if job.resume {
        command.env("ROTA_RESUME", "1");
    }
    match output_files(&log_dir, &job.job) {
        Some((out, err)) => {
            command.stdout(out).stderr(err);
        }
        None => {
            command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            let message = format!("cannot start {program:?}: {error}");
            let _ = reports.send(finished(Outcome::Failed, None, None, Some(message)));
            return;
        }
    };
    let _ = reports.send(Report::Started {
        job: job.job.clone(),
        pid: child.id(),
    });
    let (status, stopped) = tokio::select! {
        status = child.wait() => (status, None),
        stop = stop => match stop {
            Ok(Stop::Checkpoint(request)) => {
                let (status, stopped) = checkpoint_then_stop(&job.job, &mut child, request).await;
                (status, Some(stopped))
            }
            // A dropped sender means the runner is gone: stop the job.
            Ok(Stop::Kill) | Err(_) => {
                let _ = child.start_kill();
                (child.wait().await, Some(Stopped { checkpointed: false, message: "stopped".into() }))
            }
        },
    };
    let report = match (status, stopped) {
        (Err(error), _) => finished(
            Outcome::Lost,
            None,
            None,
            Some(format!("cannot wait for the process: {error}")),
        ),
        (Ok(status), Some(stopped)) => ended(
            Outcome::Killed,
            status.code(),
            status.signal(),
            Some(stopped.message),
            stopped.checkpointed,
        ),
        (Ok(status), None) if status.success() => finished(Outcome::Succeeded, Some(0), None, None),
        (Ok(status), None) => finished(
            Outcome::Failed,
            status.code(),
            status.signal(),
            Some(format!("the process ended with {status}")),
        ),
    };
    let _ = reports.send(report);
}

/// How a stopped process ended.
struct Stopped {
    checkpointed: bool,
    message: String,
}

/// Asks the job's process to checkpoint (its command, or its signal), waits
/// up to the grace period for it to end, then kills it. It checkpointed
/// when its checkpoint command succeeded, or, asked by signal, when it
/// exited with status 0 within the grace period.
async fn checkpoint_then_stop(
    job: &str,
    child: &mut tokio::process::Child,
    request: CheckpointRequest,
) -> (std::io::Result<std::process::ExitStatus>, Stopped) {
    let grace = Duration::from_millis(request.grace_ms);
    let command_ok = match request.command.split_first() {
        Some((program, args)) => {
            let run = tokio::process::Command::new(program)
                .args(args)
                .env("ROTA_JOB", job)
                .env("ROTA_PID", child.id().unwrap_or(0).to_string())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .status();
            let ran = tokio::time::timeout(grace + CHECKPOINT_COMMAND_GRACE_EXTRA, run).await;
            Some(matches!(ran, Ok(Ok(status)) if status.success()))
        }
        None => {
            let name = request.signal.as_deref().unwrap_or("SIGTERM");
            if let (Some(pid), Some(signal)) = (child.id(), signal_number(name)) {
                // SAFETY: kill(2) with the pid of a child this task owns
                // and has not yet reaped, so it cannot name another process.
                unsafe {
                    libc::kill(pid as libc::pid_t, signal);
                }
            }
            None
        }
    };
    let grace_s = grace.as_secs();
    match command_ok {
        // After its command, the job is stopped at once: the checkpoint is
        // taken, and nothing more it does counts.
        Some(checkpointed) => {
            let _ = child.start_kill();
            let message = match checkpointed {
                true => "checkpointed by its checkpoint command, then stopped",
                false => "its checkpoint command failed or outran the grace period; stopped",
            };
            let stopped = Stopped {
                checkpointed,
                message: message.to_string(),
            };
            (child.wait().await, stopped)
        }
        None => match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => {
                let checkpointed = status.as_ref().is_ok_and(|s| s.success());
                let message = match checkpointed {
                    true => "checkpointed and exited within its grace period".to_string(),
                    false => "ended within its grace period without a checkpoint".to_string(),
                };
                (
                    status,
                    Stopped {
                        checkpointed,
                        message,
                    },
                )
            }
            Err(_) => {
                let _ = child.start_kill();
                let message = format!("killed after its grace period of {grace_s} s");
                (
                    child.wait().await,
                    Stopped {
                        checkpointed: false,
                        message,
                    },
                )
            }
        },
    }
}

/// The number of a signal a checkpoint may name.
fn signal_number(name: &str) -> Option<i32> {
    match name {
        "SIGTERM" => Some(libc::SIGTERM),
        "SIGINT" => Some(libc::SIGINT),
        "SIGUSR1" => Some(libc::SIGUSR1),
        "SIGUSR2" => Some(libc::SIGUSR2),
        "SIGHUP" => Some(libc::SIGHUP),
        _ => None,
    }
}

fn output_files(log_dir: &Option<PathBuf>, job: &str) -> Option<(std::fs::File, std::fs::File)> {
    let dir = log_dir.as_ref()?;
    std::fs::create_dir_all(dir).ok()?;
    let out = std::fs::File::create(dir.join(format!("{job}.out"))).ok()?;
    let err = std::fs::File::create(dir.join(format!("{job}.err"))).ok()?;
    Some((out, err))
}
