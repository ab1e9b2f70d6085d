//! `rota bench`: the live system end to end under an open-loop load, beside
//! the raw JetStream append rate of the same publisher on the same server.

use crate::Target;
use crate::cmd_nodes::fleet_nodes;
use crate::summary::percentile;
use anyhow::{Context, bail};
use rota_events::{Body, Event, JobSubmitted, Resources, encode};
use rota_projections::LogEntry;
use rota_shell::publish::{PUBLISH_WINDOW_MAX, msg_id_headers};
use rota_shell::service::SNAPSHOT_EVERY_EVENTS_DEFAULT;
use rota_shell::shutdown::{SHUTDOWN_GRACE, join_within};
use rota_shell::snapshot::SnapshotStore;
use rota_shell::{CellLog, PublishWindow, Shutdown};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Measure the live scheduler: services, a simulated fleet and an open-loop
/// submitter, against the raw append rate of the same server.
///
/// Unless --nats is given, it starts its own nats-server with a temporary
/// store. The services run in this process, or with --processes each as a
/// `rota run` process beside a `rota sim-fleet` process, or with --run-all
/// all of them as one `rota run all` process; as processes they write
/// snapshots to a temporary state directory, whose size is reported.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  rota bench\n  rota bench --rate 5000 --duration-s 30 --json\n  rota bench --processes --nodes 1000\n  rota bench --run-all --rate 2500 --duration-s 400 --job-ms 40000"
)]
pub struct BenchArgs {
    /// Simulated nodes (32 cores, 128 GiB each).
    #[arg(long, default_value_t = 10_000)]
    pub nodes: usize,
    /// Submissions per second, open loop.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// How long to submit, in seconds.
    #[arg(long, default_value_t = 60)]
    pub duration_s: u64,
    /// How long each job runs on its simulated node, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub job_ms: u64,
    /// Run each service and the fleet as its own process.
    #[arg(long, conflicts_with = "run_all")]
    pub processes: bool,
    /// Run the services as one `rota run all` process, the fleet as another.
    #[arg(long)]
    pub run_all: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// After the run, time a placement restart over the whole log: from
    /// scratch, and from a snapshot as far behind the head as a service's
    /// snapshots are apart.
    #[arg(long)]
    pub restart: bool,
}

/// Most submissions per second the bench offers.
const BENCH_RATE_MAX: u64 = 1_000_000;
/// Longest submission phase.
const BENCH_DURATION_S_MAX: u64 = 3600;
/// How often the submitter sends what is due.
const SUBMIT_TICK: Duration = Duration::from_millis(5);
/// How long the raw append measurement publishes.
const RAW_APPEND_PHASE: Duration = Duration::from_secs(5);
/// How long after the last submission the bench waits for every job to end
/// before it counts the rest as lost.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the services and the fleet may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What one run measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BenchReport {
    pub rate_target: u64,
    pub nodes: usize,
    pub processes: bool,
    pub run_all: bool,
    pub duration_s: u64,
    pub submitted: u64,
    pub submit_errors: u64,
    pub submitted_per_s: f64,
    pub finished: u64,
    /// Of `finished`, the jobs admission refused rather than ran.
    pub rejected: u64,
    pub lifecycle_per_s: f64,
    pub bound_p50_ms: u64,
    pub bound_p99_ms: u64,
    pub bound_max_ms: u64,
    pub started_p50_ms: u64,
    pub started_p99_ms: u64,
    pub started_max_ms: u64,
    pub raw_append_per_s: f64,
    pub ratio: f64,
    pub lost: u64,
    pub services_peak_rss_mb: f64,
    /// As processes: the size of the services' snapshot stores at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_stores_mb: Option<f64>,
    /// With --restart: the log's length, and how long placement took to be
    /// at its head from scratch and from its snapshot, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartTimes>,
}

/// How long a restarted placement takes to reach the head of the log.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestartTimes {
    pub events: u64,
    pub from_scratch_ms: u64,
    pub from_snapshot_ms: u64,
    pub snapshot_seq: u64,
    pub snapshot_store_mb: f64,
}

pub async fn bench(target: &Target, args: BenchArgs) -> anyhow::Result<ExitCode> {
    check_args(&args)?;
    let (_server, url) = crate::local::server(target, "bench", args.json, None, false)?;
    let log = target.connect_to(&url).await?;
    crate::local::empty_cell(&log, &url, &target.cell, "bench").await?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let submissions = submissions(&target.cell, &args);
    eprintln!("rota bench: raw JetStream appends of the same messages, {RAW_APPEND_PHASE:?}");
    let raw_append_per_s = raw_append_rate(&log, &submissions).await?;
    eprintln!("rota bench: raw appends {raw_append_per_s:.0}/s");

    let mut fleet = Fleet::start(&log, &url, &target.cell, &args, &shutdown).await?;
    wait_until_ready(&log, args.nodes, &shutdown).await?;
    eprintln!(
        "rota bench: {} nodes and the services are up; submitting {}/s for {} s",
        args.nodes, args.rate, args.duration_s
    );
    let (ended_tx, ended_rx) = tokio::sync::watch::channel(0u64);
    let observer = tokio::spawn(observe(
        log.connect_again().await?,
        ended_tx,
        shutdown.clone(),
    ));
    let submitted = submit(&log, &submissions, args.rate, &shutdown).await?;
    eprintln!(
        "rota bench: {} submissions stored ({} refused by the server); waiting for them to end",
        submitted.stored, submitted.errors
    );
    let lives = wait_for_ends(observer, ended_rx, submitted.stored, &shutdown).await?;
    let peak_rss = fleet.peak_rss_mb();
    fleet.stop(&shutdown).await;
    let snapshot_stores_mb = fleet.snapshot_stores_mb();
    let restart = match args.restart {
        true => Some(restart_times(&log).await?),
        false => None,
    };

    let mut report = report(&args, &submitted, &lives, raw_append_per_s, peak_rss);
    report.snapshot_stores_mb = snapshot_stores_mb;
    report.restart = restart;
    print_report(&report, args.json)?;
    Ok(if report.lost == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if args.rate == 0 || args.rate > BENCH_RATE_MAX {
        bail!("--rate is {}; it must be 1 to {BENCH_RATE_MAX}", args.rate);
    }
    if args.duration_s == 0 || args.duration_s > BENCH_DURATION_S_MAX {
        bail!(
            "--duration-s is {}; it must be 1 to {BENCH_DURATION_S_MAX}",
            args.duration_s
        );
    }
    Ok(())
}

/// The run's submissions: one-core jobs of `--job-ms` each, from three
/// tenants.
fn submissions(cell: &str, args: &BenchArgs) -> Vec<Event> {
    let count = args.rate * args.duration_s;
    (0..count)
        .map(|i| {
            let job = format!("bench-{i:08}");
            let tenant = ["acme", "globex", "initech"][(i % 3) as usize];
            let body = Body::JobSubmitted(Arc::new(JobSubmitted {
                job: job.clone(),
                resources: Resources {
                    cpu_milli: 1000,
                    memory_bytes: 1 << 30,
                    ..Default::default()
                },
                duration_ms: Some(args.job_ms),
                walltime_s: Some(args.job_ms.div_ceil(1000) * 10 + 60),
                ..Default::default()
            }));
            let mut event = Event::new(job.clone(), cell, body).with_tenant(tenant);
            event.correlation_id = Some(job);
            event
        })
        .collect()
}

/// Appends the same messages to a stream of their own as fast as one
/// pipelined publisher can, for [`RAW_APPEND_PHASE`]; returns appends per
/// second. The stream is deleted afterwards.
async fn raw_append_rate(log: &CellLog, submissions: &[Event]) -> anyhow::Result<f64> {
    let name = format!("ROTA_BENCH_RAW_{}", log.cell.to_uppercase());
    let subject = format!("rota-bench-raw.{}", log.cell);
    let config = async_nats::jetstream::stream::Config {
        name: name.clone(),
        subjects: vec![format!("{subject}.>")],
        storage: async_nats::jetstream::stream::StorageType::File,
        duplicate_window: rota_shell::log::DEDUPE_WINDOW,
        ..Default::default()
    };
    log.js
        .create_stream(config)
        .await
        .context("cannot create the raw append stream")?;
    let mut window: PublishWindow<()> = PublishWindow::new(&log.client, PUBLISH_WINDOW_MAX);
    let started = Instant::now();
    let mut acked = 0u64;
    let mut sent = 0usize;
    while started.elapsed() < RAW_APPEND_PHASE {
        while window.has_room() {
            let event = &submissions[sent % submissions.len()];
            let mut headers = msg_id_headers(event);
            headers.insert("Nats-Msg-Id", format!("raw-{sent}").as_str());
            window
                .send_raw(format!("{subject}.{sent}"), headers, encode(event), ())
                .await?;
            sent += 1;
        }
        window.next_acked().await.result?;
        acked += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = log.js.delete_stream(&name).await;
    Ok(acked as f64 / elapsed)
}

/// The services and the simulated fleet, in this process or as processes.
struct Fleet {
    tasks: JoinSet<anyhow::Result<()>>,
    children: Vec<tokio::process::Child>,
    /// Where service processes write their snapshots.
    state_dir: Option<tempfile::TempDir>,
}

impl Fleet {
    async fn start(
        log: &CellLog,
        url: &str,
        cell: &str,
        args: &BenchArgs,
        shutdown: &Shutdown,
    ) -> anyhow::Result<Fleet> {
        let mut fleet = Fleet {
            tasks: JoinSet::new(),
            children: Vec::new(),
            state_dir: None,
        };
        if args.processes || args.run_all {
            let exe = std::env::current_exe().context("cannot find the rota binary")?;
            let nodes = args.nodes.to_string();
            let memory = (128u64 << 30).to_string();
            let state_dir = tempfile::tempdir().context("cannot make a state directory")?;
            let state = state_dir
                .path()
                .to_str()
                .context("a temporary path is not UTF-8")?;
            let services: &[&str] = match args.run_all {
                true => &["all"],
                false => &["admission", "placement", "fairshare", "preemption", "clock"],
            };
            let mut commands: Vec<Vec<&str>> = services
                .iter()
                .map(|service| vec!["run", service, "--state-dir", state])
                .collect();
            commands.push(vec![
                "sim-fleet",
                "--nodes",
                &nodes,
                "--cpu-milli",
                "32000",
                "--memory-bytes",
                &memory,
                "--time-scale",
                "1",
            ]);
            for command in commands {
                let child = tokio::process::Command::new(&exe)
                    .args(&command)
                    .args(["--nats", url, "--cell", cell])
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .with_context(|| format!("cannot start rota {}", command.join(" ")))?;
                fleet.children.push(child);
            }
            fleet.state_dir = Some(state_dir);
            return Ok(fleet);
        }
        let capacity = Resources {
            cpu_milli: 32_000,
            memory_bytes: 128 << 30,
            ..Default::default()
        };
        let nodes = fleet_nodes("sim", args.nodes, capacity)?;
        crate::local::spawn_scheduler(&mut fleet.tasks, log, log, nodes, 1.0, "bench", 0, shutdown)
            .await?;
        Ok(fleet)
    }

    /// The peak resident memory of the services: of their processes, or of
    /// this one.
    fn peak_rss_mb(&self) -> f64 {
        let pids: Vec<u32> = if self.children.is_empty() {
            vec![std::process::id()]
        } else {
            // The service processes, not the fleet (the last one).
            let services = &self.children[..self.children.len() - 1];
            services.iter().filter_map(|c| c.id()).collect()
        };
        pids.iter().map(|pid| peak_rss_kb(*pid)).sum::<u64>() as f64 / 1024.0
    }

    /// The size of the snapshot stores the service processes wrote, in MiB.
    fn snapshot_stores_mb(&self) -> Option<f64> {
        let dir = self.state_dir.as_ref()?;
        Some(dir_bytes(dir.path()) as f64 / (1024.0 * 1024.0))
    }

    async fn stop(&mut self, shutdown: &Shutdown) {
        shutdown.trigger();
        if let Err(error) = join_within(&mut self.tasks, SHUTDOWN_GRACE).await {
            eprintln!("rota bench: {error}");
        }
        for child in &mut self.children {
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) on our own child's pid has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
        for child in &mut self.children {
            if tokio::time::timeout(SHUTDOWN_GRACE * 2, child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

/// VmHWM of a process, in KiB (0 when unreadable).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until every node is registered and the three deciding services
/// hold their leases.
async fn wait_until_ready(log: &CellLog, nodes: usize, shutdown: &Shutdown) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let mut state = rota_projections::CellState::new(&log.cell);
    let mut entries = log.entries(1, Vec::new()).await?;
    let ready = |state: &rota_projections::CellState| {
        state.nodes.len() >= nodes
            && rota_replay::DECIDING_SERVICES
                .iter()
                .all(|s| state.leases.contains_key(*s))
    };
    while !ready(&state) {
        tokio::select! {
            _ = shutdown.wait() => bail!("interrupted"),
            _ = tokio::time::sleep_until(deadline) => bail!(
                "the services and {nodes} nodes were not up within {START_TIMEOUT:?} ({} nodes registered)",
                state.nodes.len()
            ),
            item = entries.next() => {
                let Some(item) = item else { bail!("the log reader ended") };
                state.apply(&item?.0);
            }
        }
    }
    Ok(())
}

/// What the submitter did.
struct Submitted {
    stored: u64,
    errors: u64,
    elapsed_s: f64,
}

/// Publishes the submissions open loop at `rate` per second: what is due by
/// the schedule is sent whether or not earlier ones were answered, as far
/// as the publish window allows.
async fn submit(
    log: &CellLog,
    submissions: &[Event],
    rate: u64,
    shutdown: &Shutdown,
) -> anyhow::Result<Submitted> {
    let mut window: PublishWindow<()> = PublishWindow::new(&log.client, PUBLISH_WINDOW_MAX);
    let mut tick = tokio::time::interval(SUBMIT_TICK);
    let started = Instant::now();
    let mut sent = 0usize;
    let mut result = Submitted {
        stored: 0,
        errors: 0,
        elapsed_s: 0.0,
    };
    while sent < submissions.len() || !window.is_empty() {
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).min(submissions.len());
        while sent < due && window.has_room() {
            window.send(&submissions[sent], ()).await?;
            sent += 1;
        }
        tokio::select! {
            _ = shutdown.wait() => bail!("interrupted"),
            acked = window.next_acked() => match acked.result {
                Ok(_) => result.stored += 1,
                Err(error) => {
                    result.errors += 1;
                    if result.errors == 1 {
                        eprintln!("rota bench: a submission was refused: {error}");
                    }
                }
            },
            _ = tick.tick() => {}
        }
    }
    result.elapsed_s = started.elapsed().as_secs_f64();
    Ok(result)
}

/// A live job's life so far: when it was submitted, in log milliseconds,
/// and whether it has been bound and started.
#[derive(Debug, Clone, Copy, Default)]
struct Life {
    submitted: u64,
    bound: bool,
    started: bool,
}

/// Follows the jobs' subjects and records when each job was submitted,
/// bound, started and ended, until `shutdown` or until `expected` jobs
/// have ended; `ended` tells the count as it goes.
async fn observe(
    log: CellLog,
    ended: tokio::sync::watch::Sender<u64>,
    shutdown: Shutdown,
) -> anyhow::Result<Lives> {
    let filter = format!("rota.{}.job.>", log.cell);
    let mut entries = log.entries(1, vec![filter]).await?;
    let mut lives = Lives::default();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = ended.closed() => break,
            item = entries.next() => match item {
                Some(Ok((entry, _))) => {
                    let before = lives.ended;
                    lives.record(&entry);
                    if lives.ended != before {
                        ended.send_replace(lives.ended);
                    }
                }
                Some(Err(error)) => return Err(error.into()),
                None => break,
            },
        }
    }
    Ok(lives)
}

/// The lives of the jobs still running, and the latencies of every job so
/// far: memory grows with the jobs in flight, not with all that passed.
#[derive(Debug, Default)]
struct Lives {
    live: BTreeMap<String, Life>,
    /// Submit-to-bound and submit-to-started latencies, in milliseconds.
    bound_ms: Vec<u64>,
    started_ms: Vec<u64>,
    first_submit_ms: Option<u64>,
    last_end_ms: u64,
    ended: u64,
    /// Of the ended, those admission refused (a full queue, for one).
    rejected: u64,
}

impl Lives {
    fn record(&mut self, entry: &LogEntry) {
        let Ok(event) = &entry.event else { return };
        let Some(job) = event.body.job() else { return };
        let time = entry.time_ms;
        if let Body::JobSubmitted(_) = &event.body {
            self.first_submit_ms.get_or_insert(time);
            self.live.entry(job.to_string()).or_insert(Life {
                submitted: time,
                ..Life::default()
            });
            return;
        }
        let Some(life) = self.live.get_mut(job) else {
            return;
        };
        let waited = time.saturating_sub(life.submitted);
        match &event.body {
            Body::JobBound(_) if !life.bound => {
                life.bound = true;
                self.bound_ms.push(waited);
            }
            Body::JobStarted(_) if !life.started => {
                life.started = true;
                self.started_ms.push(waited);
            }
            Body::JobFinished(_) | Body::JobRejected(_) | Body::JobCancelled(_) => {
                if let Body::JobRejected(_) = &event.body {
                    self.rejected += 1;
                }
                self.live.remove(job);
                self.last_end_ms = self.last_end_ms.max(time);
                self.ended += 1;
            }
            _ => {}
        }
    }
}

/// Waits until `expected` jobs have ended, or [`DRAIN_TIMEOUT`] passes,
/// then stops the observer and returns what it saw.
async fn wait_for_ends(
    observer: tokio::task::JoinHandle<anyhow::Result<Lives>>,
    mut ended: tokio::sync::watch::Receiver<u64>,
    expected: u64,
    shutdown: &Shutdown,
) -> anyhow::Result<Lives> {
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    loop {
        if *ended.borrow() >= expected {
            break;
        }
        tokio::select! {
            _ = shutdown.wait() => bail!("interrupted"),
            _ = tokio::time::sleep_until(deadline) => {
                eprintln!("rota bench: not every job ended within {DRAIN_TIMEOUT:?} of the last submission");
                break;
            }
            changed = ended.changed() => if changed.is_err() { break },
        }
    }
    drop(ended);
    observer.await.context("the observer panicked")?
}

fn report(
    args: &BenchArgs,
    submitted: &Submitted,
    lives: &Lives,
    raw_append_per_s: f64,
    peak_rss_mb: f64,
) -> BenchReport {
    let mut bound = lives.bound_ms.clone();
    let mut started = lives.started_ms.clone();
    let first_submit = lives.first_submit_ms.unwrap_or(0);
    let last_end = lives.last_end_ms;
    bound.sort_unstable();
    started.sort_unstable();
    let span_s = (last_end.saturating_sub(first_submit) as f64 / 1000.0).max(0.001);
    let lifecycle_per_s = lives.ended as f64 / span_s;
    BenchReport {
        rate_target: args.rate,
        nodes: args.nodes,
        processes: args.processes,
        run_all: args.run_all,
        duration_s: args.duration_s,
        submitted: submitted.stored,
        submit_errors: submitted.errors,
        submitted_per_s: submitted.stored as f64 / submitted.elapsed_s.max(0.001),
        finished: lives.ended,
        rejected: lives.rejected,
        lifecycle_per_s,
        bound_p50_ms: percentile(&bound, 0.50),
        bound_p99_ms: percentile(&bound, 0.99),
        bound_max_ms: bound.last().copied().unwrap_or(0),
        started_p50_ms: percentile(&started, 0.50),
        started_p99_ms: percentile(&started, 0.99),
        started_max_ms: started.last().copied().unwrap_or(0),
        raw_append_per_s,
        ratio: lifecycle_per_s / raw_append_per_s.max(1.0),
        lost: submitted.stored.saturating_sub(lives.ended),
        services_peak_rss_mb: peak_rss_mb,
        snapshot_stores_mb: None,
        restart: None,
    }
}

/// Folds placement's core from sequence `from` of the log up to `head` on
/// a reader of its own; returns the core and the time it took.
async fn fold_to_head(
    log: &CellLog,
    mut core: Box<dyn rota_projections::ServiceCore>,
    head: u64,
) -> anyhow::Result<(Box<dyn rota_projections::ServiceCore>, Duration)> {
    let started = Instant::now();
    if core.state().applied_seq < head {
        let mut entries = log
            .entries(core.state().applied_seq + 1, Vec::new())
            .await?;
        while core.state().applied_seq < head {
            let Some(item) = entries.next().await else {
                bail!("the log ended at {}", core.state().applied_seq)
            };
            core.apply(&item?.0);
        }
    }
    Ok((core, started.elapsed()))
}

/// Times a placement restart from scratch and from a snapshot (saved in a
/// temporary sled store as a service saves it, as far behind the head as a
/// service's snapshots are apart: the most a service that stopped just before
/// its next snapshot must fold again), both until the reader is at the head.
async fn restart_times(log: &CellLog) -> anyhow::Result<RestartTimes> {
    let head = log.last_seq().await?;
    let fresh = || rota_replay::standard_core(&log.cell, "placement").context("placement");
    let (_, from_scratch) = fold_to_head(log, fresh()?, head).await?;
    let snapshot_seq = head.saturating_sub(SNAPSHOT_EVERY_EVENTS_DEFAULT);
    let (core, _) = fold_to_head(log, fresh()?, snapshot_seq).await?;
    let dir = tempfile::tempdir()?;
    let store = SnapshotStore::open(dir.path()).map_err(anyhow::Error::msg)?;
    store
        .save("placement", &log.stream_identity, core.state())
        .map_err(anyhow::Error::msg)?;
    drop((core, store));

    let started = Instant::now();
    let store = SnapshotStore::open(dir.path()).map_err(anyhow::Error::msg)?;
    let mut core = fresh()?;
    *core.state_mut() = store
        .load(&log.cell, "placement", &log.stream_identity)
        .map_err(anyhow::Error::msg)?;
    let (_, _) = fold_to_head(log, core, head).await?;
    let from_snapshot = started.elapsed();
    Ok(RestartTimes {
        events: head,
        from_scratch_ms: from_scratch.as_millis() as u64,
        from_snapshot_ms: from_snapshot.as_millis() as u64,
        snapshot_seq,
        snapshot_store_mb: dir_bytes(dir.path()) as f64 / (1024.0 * 1024.0),
    })
}

/// The bytes of the files in `dir`, recursively.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn print_report(report: &BenchReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let mode = match (report.processes, report.run_all) {
        (true, _) => "a process per service",
        (_, true) => "one rota run all process",
        _ => "one process with the fleet",
    };
    println!("rota bench: {} nodes, services in {mode}", report.nodes);
    println!(
        "  submissions                {} at {:.0}/s (target {}/s), {} refused",
        report.submitted, report.submitted_per_s, report.rate_target, report.submit_errors
    );
    println!(
        "  whole life                 {} jobs ended ({} rejected), {:.0} jobs/s",
        report.finished, report.rejected, report.lifecycle_per_s
    );
    println!(
        "  submit to bound            p50 {} ms, p99 {} ms, max {} ms",
        report.bound_p50_ms, report.bound_p99_ms, report.bound_max_ms
    );
    println!(
        "  submit to started          p50 {} ms, p99 {} ms, max {} ms",
        report.started_p50_ms, report.started_p99_ms, report.started_max_ms
    );
    println!(
        "  raw JetStream appends      {:.0}/s; jobs/s to raw appends/s {:.3}",
        report.raw_append_per_s, report.ratio
    );
    println!(
        "  services' peak memory      {:.0} MB",
        report.services_peak_rss_mb
    );
    if let Some(mb) = report.snapshot_stores_mb {
        println!("  snapshot stores on disk    {mb:.1} MB");
    }
    println!("  lost                       {}", report.lost);
    if let Some(restart) = &report.restart {
        println!(
            "  placement restart          {} events: {} ms from scratch, {} ms from a snapshot at {} ({:.0} MB store)",
            restart.events,
            restart.from_scratch_ms,
            restart.from_snapshot_ms,
            restart.snapshot_seq,
            restart.snapshot_store_mb
        );
    }
    Ok(())
}
