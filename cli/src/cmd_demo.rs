//! `rota demo`: the whole system in one process on a workload, with a summary.

use crate::Target;
use crate::cmd_nodes::fleet_nodes;
use crate::summary::{RunRecorder, Summary};
use crate::workload::TENANTS;
use anyhow::{Context, bail};
use rota_events::Resources;
use rota_projections::{CellState, JobState};
use rota_shell::access::Identity;
use rota_shell::access_files::LocalAccess;
use rota_shell::nats_cluster::CLUSTER_SIZE;
use rota_shell::publish::PUBLISH_WINDOW_MAX;
use rota_shell::shared_reader::SharedReader;
use rota_shell::shutdown::{SHUTDOWN_GRACE, join_within};
use rota_shell::{CellLog, LogError, PublishWindow, Shutdown};
use std::collections::{BTreeMap, VecDeque};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Run the whole scheduler on a simulated fleet and a generated workload,
/// then print a summary and verify the log by replay.
///
/// Unless --nats is given, the demo starts its own nats-server (the pinned
/// one, from .venv/bin or PATH) on a free loopback port with a temporary
/// store, and removes it at the end.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rota demo\n  rota demo --jobs 10000 --nodes 500 --time-scale 200\n  rota demo --nats nats://127.0.0.1:4222"
)]
pub struct DemoArgs {
    /// How many jobs to submit.
    #[arg(long, default_value_t = 3000)]
    pub jobs: usize,
    /// How many simulated nodes (32 cores, 128 GiB, 4 GPUs each).
    #[arg(long, default_value_t = 100)]
    pub nodes: usize,
    /// Simulated time runs this many times faster than real time.
    #[arg(long, default_value_t = 50.0)]
    pub time_scale: f64,
    /// Submissions are spread over this many seconds.
    #[arg(long, default_value_t = 8.0)]
    pub submit_over_s: f64,
    /// Seed of the generated workload.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Give up if the workload has not finished after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_s: u64,
    /// Run the log on a cluster of three nats-servers, the cell's stream
    /// replicated on all three (unless --nats names a server).
    #[arg(long)]
    pub cluster: bool,
}

/// Most jobs the demo submits.
const DEMO_JOBS_MAX: usize = 1_000_000;
/// How often the demo prints progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);
/// How many times the demo sends one submission before it gives up. A lost
/// server fails every acknowledgement in flight at once; a submission sent
/// again under its message id is stored at most once, so trying again
/// loses nothing and duplicates nothing.
const SUBMIT_ATTEMPTS_MAX: u32 = 6;

/// Submissions go out in slices this far apart.
const SUBMIT_SLICE: Duration = Duration::from_millis(50);

pub async fn demo(target: &Target, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.jobs == 0 || args.jobs > DEMO_JOBS_MAX {
        bail!("--jobs is {}; it must be 1 to {DEMO_JOBS_MAX}", args.jobs);
    }
    let capacity = Resources {
        cpu_milli: 32_000,
        memory_bytes: 128 << 30,
        gpus: 4,
        ..Default::default()
    };
    let nodes = fleet_nodes("sim", args.nodes, capacity)?;
    // On a server of its own, every part of the demo connects as its own
    // identity under server-enforced permissions.
    let replicas = args.cluster.then_some(CLUSTER_SIZE);
    let access = match target.nats_url {
        Some(_) => None,
        None => Some(demo_access(&target.cell, replicas)?),
    };
    let (_server, url) =
        crate::local::server(target, "demo", false, access.as_ref(), args.cluster)?;
    let connect = Connect {
        target,
        url: &url,
        access: access.as_ref(),
    };
    // The operator's connection provisions the stream; the others find it.
    let operator = connect.as_identity(Identity::Operator).await?;
    let log = connect.as_identity(Identity::Auditor).await?;
    crate::local::empty_cell(&log, &url, &target.cell, "demo").await?;
    // The demo's users' keys become the cell's roster before anything else
    // is written, so that every decision and report is signed and checked.
    if let Some(access) = &access {
        access.set_roster(&operator).await?;
    }
    let services = connect.as_identity(Identity::Services).await?;
    let fleet = connect.as_identity(Identity::Fleet).await?;
    let mut tenants = BTreeMap::new();
    for tenant in TENANTS {
        let tenant_log = connect
            .as_identity(Identity::Tenant(tenant.to_string()))
            .await?;
        tenants.insert(tenant.to_string(), tenant_log);
    }
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    // The demo follows the run through the services' shared reader, so
    // that each entry is read and its signature checked once in this
    // process.
    let shared = crate::local::spawn_scheduler(
        &mut tasks,
        &services,
        &fleet,
        nodes,
        args.time_scale,
        "demo",
        1,
        &shutdown,
    )
    .await?;
    println!(
        "rota demo: admission, placement and clock services; {} simulated nodes (32 cores, 128 GiB, 4 GPUs each); time x{}",
        args.nodes, args.time_scale
    );
    println!(
        "rota demo: submitting {} jobs from 3 tenants over {} s (seed {})",
        args.jobs, args.submit_over_s, args.seed
    );
    let outcome = drive(&log, &shared, &tenants, &args, &target.cell, &shutdown).await;
    shutdown.trigger();
    let joined = join_within(&mut tasks, SHUTDOWN_GRACE)
        .await
        .map_err(anyhow::Error::msg)?;
    for task in joined {
        task.context("a demo task panicked")??;
    }
    let recorder = outcome?;
    let summary = recorder.summary();
    print_summary(&summary);
    let entries = log.read_all().await?;
    let cell = target.cell.clone();
    let report = rota_replay::verify(&entries, &|service| {
        rota_replay::standard_core(&cell, service)
    });
    crate::cmd_replay::print_report(&report);
    let complete = recorder.state.tally.ended() == args.jobs as u64;
    Ok(if complete && report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The demo's own server's users: one per part of the run (the services,
/// the fleet, each tenant of the workload, an auditor that follows the log,
/// an operator that provisions the stream), so that the demo runs under the
/// same server-enforced permissions, over TLS, as a cell that `rota auth
/// init` configured.
fn demo_access(cell: &str, replicas: Option<usize>) -> anyhow::Result<LocalAccess> {
    let mut identities = Identity::of_every_cell();
    identities.extend(TENANTS.iter().map(|t| Identity::Tenant(t.to_string())));
    LocalAccess::generate(cell, identities, replicas).map_err(anyhow::Error::msg)
}

/// Connections of the demo's parts: as their own identities on the demo's
/// own server, or all as `--creds` on a server `--nats` names.
struct Connect<'a> {
    target: &'a Target,
    url: &'a str,
    access: Option<&'a LocalAccess>,
}

impl Connect<'_> {
    async fn as_identity(&self, identity: Identity) -> anyhow::Result<CellLog> {
        match self.access {
            Some(access) => Ok(access
                .connect(self.url, &self.target.cell, &identity)
                .await?),
            None => self.target.connect_to(self.url).await,
        }
    }
}

/// Submits the workload while following the log, printing progress, until
/// every job has ended. Returns the run as folded at the end.
///
/// Every arm of the loop returns at once: submissions go into a publish
/// window whose acknowledgements are an arm of their own, and when the
/// window is full the submitter waits for the next slice rather than
/// blocking, so the deadline and the shutdown signal are always seen. A
/// submission whose publish or acknowledgement fails is sent again, first
/// of all, up to [`SUBMIT_ATTEMPTS_MAX`] times.
async fn drive(
    log: &CellLog,
    shared: &SharedReader,
    tenants: &BTreeMap<String, CellLog>,
    args: &DemoArgs,
    cell: &str,
    shutdown: &Shutdown,
) -> anyhow::Result<RunRecorder> {
    let workload = crate::workload::generate(cell, "job", args.jobs, args.seed);
    let mut observer = RunRecorder::new(cell);
    let mut entries = shared.subscribe(log, 1).await?;
    // Each publish is tagged with its job's index and attempt.
    let mut window: PublishWindow<(usize, u32)> =
        PublishWindow::new(&log.client, PUBLISH_WINDOW_MAX);
    let mut again: VecDeque<(usize, u32)> = VecDeque::new();
    let mut tried_again = 0u64;
    let started = Instant::now();
    let slices = ((args.submit_over_s.max(0.0) * 1000.0) / SUBMIT_SLICE.as_millis() as f64)
        .ceil()
        .max(1.0) as usize;
    let per_slice = args.jobs.div_ceil(slices);
    // Submissions due by now: the schedule, not what was sent.
    let mut due = 0usize;
    let mut next_job = 0usize;
    let mut submit = tokio::time::interval(SUBMIT_SLICE);
    let mut progress = tokio::time::interval(PROGRESS_INTERVAL);
    let deadline = started + Duration::from_secs(args.timeout_s);
    loop {
        while window.has_room() {
            let (index, attempt) = match again.pop_front() {
                Some(retry) => retry,
                None if next_job < due => {
                    next_job += 1;
                    (next_job - 1, 1)
                }
                None => break,
            };
            let job = &workload[index];
            let tenant = job.tenant.as_deref().unwrap_or_default();
            let submitter = tenants
                .get(tenant)
                .with_context(|| format!("the demo has no connection for tenant {tenant}"))?;
            if let Err(error) = window.send_via(&submitter.js, job, (index, attempt)).await {
                // The connection did not take it: try again at the next
                // slice rather than spend every attempt at once.
                again.push_front(retry_of(index, attempt, error)?);
                tried_again += 1;
                break;
            }
        }
        tokio::select! {
            _ = shutdown.wait() => bail!("interrupted"),
            _ = tokio::time::sleep_until(deadline.into()) => {
                print_progress(&observer.state, started);
                bail!(
                    "the workload did not finish within {} s (--timeout-s); {} of {} submissions sent",
                    args.timeout_s, next_job, args.jobs
                )
            }
            item = entries.next() => {
                let Some(item) = item else { bail!("the log ended") };
                let (entry, pending) = item?;
                observer.apply(&entry);
                // Looking at every job is worth it only at the head of the
                // log, not after every entry of a backlog.
                if pending == 0 && next_job == args.jobs && all_ended(&observer.state, args.jobs) {
                    print_progress(&observer.state, started);
                    if tried_again > 0 {
                        println!("rota demo: {tried_again} submissions were sent again, each stored once");
                    }
                    return Ok(observer);
                }
            }
            acked = window.next_acked() => {
                if let Err(error) = acked.result {
                    let (index, attempt) = acked.tag;
                    if tried_again == 0 {
                        eprintln!("rota demo: a submission was not acknowledged ({error}); sending it again under its message id");
                    }
                    again.push_back(retry_of(index, attempt, error)?);
                    tried_again += 1;
                }
            }
            _ = submit.tick(), if due < args.jobs => due = (due + per_slice).min(args.jobs),
            _ = progress.tick() => print_progress(&observer.state, started),
        }
    }
}

/// The next attempt at submission `index` after `attempt` failed with
/// `error`, or the error itself once every attempt has failed.
fn retry_of(index: usize, attempt: u32, error: LogError) -> anyhow::Result<(usize, u32)> {
    if attempt >= SUBMIT_ATTEMPTS_MAX {
        return Err(error).with_context(|| {
            format!("submission {index} was not stored after {attempt} attempts")
        });
    }
    Ok((index, attempt + 1))
}

fn all_ended(state: &CellState, jobs: usize) -> bool {
    state.tally.submitted == jobs as u64 && state.tally.ended() == jobs as u64
}

fn print_progress(state: &CellState, started: Instant) {
    let count = |wanted: &[JobState]| {
        state
            .jobs
            .values()
            .filter(|j| wanted.contains(&j.state))
            .count()
    };
    println!(
        "[{:>5.1}s] submitted {:>6}  pending {:>6}  running {:>6}  finished {:>6}  rejected {:>4}",
        started.elapsed().as_secs_f64(),
        state.tally.submitted,
        count(&[JobState::Submitted, JobState::Pending]),
        count(&[JobState::Bound, JobState::Running, JobState::Cancelling]),
        state.tally.finished,
        state.tally.rejected,
    );
}

fn print_summary(summary: &Summary) {
    println!("rota demo: summary");
    println!(
        "  jobs finished              {} of {} ({} succeeded)",
        summary.finished, summary.jobs, summary.succeeded
    );
    println!(
        "  rejected / cancelled       {} / {}",
        summary.rejected, summary.cancelled
    );
    println!("  placements                 {}", summary.placements);
    println!(
        "  placements per second      {:.0} (first submission to last placement)",
        summary.placements_per_s
    );
    println!(
        "  submit-to-placement        p50 {} ms, p99 {} ms, max {} ms (log timestamps)",
        summary.latency_p50_ms, summary.latency_p99_ms, summary.latency_max_ms
    );
    println!(
        "  void / fenced decisions    {} / {}",
        summary.void_bindings, summary.fenced_decisions
    );
}
