//! The loop every service runs: a thin async driver of [`ServiceMachine`].
//!
//! Everything the machine asks for that takes time (reading the log,
//! publishing a round, claiming the lease, asking for the head, sending a
//! heartbeat) is kept as a future in a slot and polled as one arm of the one
//! `select!`; no arm's body awaits anything. So the loop always reaches the
//! shutdown arm, and no wait inside it depends on another arm being polled.

use crate::log::{CellLog, LogError};
use crate::machine::{
    ClaimOutcome, Health, Input, MachineConfig, MachineStats, Moment, Output, ServiceMachine,
};
use crate::roster::check_in_roster;
use crate::shared_reader::{Delivered, Entries, SharedReader};
use crate::shutdown::Shutdown;
use crate::slot::Slot;
use crate::snapshot::SnapshotStore;
use crate::snapshot_writer::SnapshotWriter;
pub use crate::snapshot_writer::{SnapshotTurns, snapshot_turns};
use futures::StreamExt;
use rota_events::liveness_service_subject;
use rota_projections::ServiceCore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{debug, info, warn};

pub use crate::machine::{DECIDE_AFTER_EVENTS_MAX, DECIDE_INTERVAL_MAX, lease_claim};

/// Entries applied in one pass of the loop before it looks at its other
/// arms again: the reader's batches are folded without a `select!` per
/// entry, and the loop still answers heartbeats and signals between them.
pub const ENTRIES_PER_PASS_MAX: usize = 1024;

/// A step of the machine slower than this is logged (at debug level).
const SLOW_STEP: Duration = Duration::from_millis(20);

/// The shortest sleep of the loop between wakes.
pub const WAKE_AFTER_MIN: Duration = Duration::from_millis(1);

/// How long handing a heartbeat to the connection may take before it is
/// given up (the next one follows at the next interval).
pub const HEARTBEAT_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// How many applied events apart a service writes its snapshots unless told
/// otherwise: a restarted service folds at most this many events past its
/// snapshot, plus what was appended while it was down.
pub const SNAPSHOT_EVERY_EVENTS_DEFAULT: u64 = 10_000;

/// How a service instance runs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// This instance's name in lease claims; each run adds an id of its
    /// own (see [`incarnation`]).
    pub instance: String,
    /// Where snapshots live; none means no snapshots.
    pub state_dir: Option<PathBuf>,
    /// A snapshot is written after this many applied events.
    pub snapshot_every_events: u64,
    /// A standby claims the lease after the holder has been silent this long.
    pub lease_timeout: Duration,
    /// How often the holder says it is alive.
    pub heartbeat_interval: Duration,
    /// Whose turn it is to snapshot in this process.
    pub snapshot_turns: SnapshotTurns,
}

impl ServiceConfig {
    pub fn new(instance: impl Into<String>) -> ServiceConfig {
        ServiceConfig {
            instance: instance.into(),
            state_dir: None,
            snapshot_every_events: SNAPSHOT_EVERY_EVENTS_DEFAULT,
            lease_timeout: Duration::from_secs(3),
            heartbeat_interval: Duration::from_millis(500),
            snapshot_turns: snapshot_turns(),
        }
    }
}

/// What a service did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceReport {
    pub applied_seq: u64,
    pub snapshots: u64,
    /// Rounds, decisions, redeliveries dropped, read failures and the rest.
    pub machine: MachineStats,
}

/// The name this run of `instance` claims the lease and says it is alive
/// under: the instance's name and an id of this run. Two processes given the
/// same `--instance`, or one started again after a crash, are then never
/// taken for each other: neither believes it holds a lease the other
/// claimed, and a restarted process claims the lease anew at the next epoch
/// rather than acting under its predecessor's.
fn incarnation(instance: &str) -> String {
    format!("{instance}~{}", ulid::Ulid::new())
}

/// Runs one service instance until `shutdown`, or until it cannot make
/// progress (an error that says why), with a reader of its own.
pub async fn run_service(
    log: CellLog,
    core: Box<dyn ServiceCore>,
    config: ServiceConfig,
    shutdown: Shutdown,
) -> Result<ServiceReport, LogError> {
    run_service_with(log, core, config, shutdown, None).await
}

/// Runs one service instance, reading the log first from the process's
/// `shared` reader when there is one (and from a reader of its own after
/// any reopening).
pub async fn run_service_with(
    log: CellLog,
    mut core: Box<dyn ServiceCore>,
    config: ServiceConfig,
    shutdown: Shutdown,
    shared: Option<SharedReader>,
) -> Result<ServiceReport, LogError> {
    let service = core.service().to_string();
    let cell = log.cell.clone();
    let snapshots = match &config.state_dir {
        Some(dir) => Some(Arc::new(SnapshotStore::open(dir).map_err(LogError::Read)?)),
        None => None,
    };
    let head = log.last_seq().await?;
    if let Some(store) = &snapshots {
        restore_snapshot(store, &log, head, &mut core);
    }
    let liveness_subject = liveness_service_subject(&cell, &service);
    let mut liveness = log
        .client
        .subscribe(liveness_subject.clone())
        .await
        .map_err(|e| LogError::Read(e.to_string()))?;

    let origin = Instant::now();
    let elapsed = move || -> Moment { origin.elapsed() };
    let machine_config = MachineConfig {
        instance: incarnation(&config.instance),
        lease_timeout: config.lease_timeout,
        heartbeat_interval: config.heartbeat_interval,
        snapshot_every_events: config.snapshot_every_events,
    };
    let mut machine = ServiceMachine::new(core, machine_config, head, elapsed());
    let mut io = Io {
        shared,
        round_sent: Instant::now(),
        reader: None,
        opening: Slot::default(),
        round: Slot::default(),
        claim: Slot::default(),
        probe: Slot::default(),
        heartbeat: Slot::default(),
    };
    let mut snapshots = snapshots.map(|store| {
        let turns = config.snapshot_turns.clone();
        SnapshotWriter::new(store, &service, &log.stream_identity, turns)
    });
    let mut failure = None;

    'run: loop {
        while let Some(output) = machine.poll_output() {
            match output {
                Output::GiveUp { reason } => {
                    failure = Some(LogError::Stalled {
                        service: service.clone(),
                        reason,
                    });
                    break 'run;
                }
                Output::SaveSnapshot => snapshots.iter_mut().for_each(SnapshotWriter::want),
                Output::PublishRound { .. } | Output::ClaimLease { .. }
                    if let Err(error) =
                        check_in_roster(machine.core().state(), log.signer(), &service) =>
                {
                    failure = Some(error);
                    break 'run;
                }
                other => io.start(&log, &liveness_subject, &service, other),
            }
        }
        if let Some(writer) = &mut snapshots {
            writer.poll(machine.core().state());
        }
        // A wake in the past is due now, but never sooner than
        // WAKE_AFTER_MIN: should the machine ask for a time at which it has
        // nothing to do, the loop idles instead of spinning.
        let wake = machine
            .poll_timeout()
            .map(|at| origin + at)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
            .max(Instant::now() + WAKE_AFTER_MIN);
        tokio::select! {
            _ = shutdown.wait() => break,
            item = next_entry(&mut io.reader) => {
                let mut next = Some(item);
                let mut passes = 0;
                while let Some(item) = next.take() {
                    let input = match item {
                        Some(Ok((entry, pending))) => Input::Entry { entry, pending },
                        Some(Err(error)) => { io.reader = None; Input::ReadFailed { error: error.to_string() } }
                        // A shared reader ends with the process: that is the stop, not a failure.
                        None if shutdown.is_triggered() => break 'run,
                        None => { io.reader = None; Input::ReadFailed { error: "the reader ended".into() } }
                    };
                    let began = Instant::now();
                    machine.handle(elapsed(), input);
                    let took = began.elapsed();
                    if took >= DECIDE_INTERVAL_MAX {
                        machine.handle(elapsed(), Input::Busy { until: elapsed() });
                    }
                    if took >= SLOW_STEP {
                        debug!(service, took_ms = took.as_millis() as u64, "slow step");
                    }
                    passes += 1;
                    if passes < ENTRIES_PER_PASS_MAX {
                        next = io.reader.as_mut().and_then(Entries::next_ready);
                    }
                }
            }
            opened = io.opening.wait() => match opened {
                Ok(reader) => io.reader = Some(reader),
                Err(error) => machine.handle(elapsed(), Input::ReadFailed { error: error.to_string() }),
            },
            landed = io.round.wait() => {
                debug!(service, publish_ms = io.round_sent.elapsed().as_millis() as u64, "round landed");
                machine.handle(elapsed(), match landed {
                    Ok(last_seq) => Input::RoundLanded { last_seq },
                    Err(error) => Input::RoundFailed { error: error.to_string() },
                })
            }
            outcome = io.claim.wait() => machine.handle(elapsed(), Input::ClaimAnswered { outcome }),
            head = io.probe.wait() => machine.handle(elapsed(), match head {
                Ok(seq) => Input::HeadSeen { seq },
                Err(error) => Input::HeadProbeFailed { error: error.to_string() },
            }),
            () = io.heartbeat.wait() => {}
            Some(message) = liveness.next() => {
                let text = String::from_utf8_lossy(&message.payload);
                let instance = text.split_once(' ').map(|(_, i)| i).unwrap_or_default().to_string();
                machine.handle(elapsed(), Input::Heartbeat { instance });
            }
            _ = tokio::time::sleep_until(wake) => machine.handle_timeout(elapsed()),
        }
    }
    let snapshots_saved = match snapshots {
        Some(writer) => writer.finish(machine.core().state()).await,
        None => 0,
    };
    let report = ServiceReport {
        applied_seq: machine.core().state().applied_seq,
        snapshots: snapshots_saved,
        machine: machine.stats().clone(),
    };
    match failure {
        Some(error) => {
            warn!(service, %error, ?report, "gave up");
            Err(error)
        }
        None => {
            info!(service, ?report, "stopped");
            Ok(report)
        }
    }
}

/// The IO a machine has in flight, one slot per kind.
struct Io {
    /// The process's shared reader, for the first opening only.
    shared: Option<SharedReader>,
    round_sent: Instant,
    reader: Option<Entries>,
    opening: Slot<Result<Entries, LogError>>,
    round: Slot<Result<u64, LogError>>,
    claim: Slot<ClaimOutcome>,
    probe: Slot<Result<u64, LogError>>,
    heartbeat: Slot<()>,
}

impl Io {
    /// Starts what `output` asks for. Nothing here waits: each piece of IO
    /// becomes a future in its slot, polled by the loop.
    fn start(&mut self, log: &CellLog, liveness_subject: &str, service: &str, output: Output) {
        match output {
            Output::OpenReader { from_seq } => {
                self.reader = None;
                let log = log.clone();
                match self.shared.take() {
                    Some(shared) => self
                        .opening
                        .put(async move { shared.subscribe(&log, from_seq).await }),
                    None => self
                        .opening
                        .put(async move { Entries::private(&log, from_seq).await }),
                }
            }
            Output::PublishRound { round } => {
                debug!(service, size = round.len(), "round");
                self.round_sent = Instant::now();
                self.round.put(log.round_future(round))
            }
            Output::ClaimLease {
                claim,
                expected_last_subject_seq,
            } => {
                let log = log.clone();
                self.claim.put(async move {
                    match log
                        .publish_if_subject_at(&claim, expected_last_subject_seq)
                        .await
                    {
                        Ok(true) => ClaimOutcome::Won,
                        Ok(false) => ClaimOutcome::Lost,
                        Err(error) => ClaimOutcome::Failed(error.to_string()),
                    }
                });
            }
            Output::ProbeHead => {
                let log = log.clone();
                self.probe.put(async move { log.last_seq().await });
            }
            Output::Heartbeat { payload } => {
                // A heartbeat still being handed over is simply replaced.
                let client = log.client.clone();
                let subject = liveness_subject.to_string();
                self.heartbeat.put(async move {
                    let send = client.publish(subject, payload.into());
                    if let Ok(Err(error)) = tokio::time::timeout(HEARTBEAT_SEND_TIMEOUT, send).await
                    {
                        warn!(%error, "heartbeat not sent");
                    }
                });
            }
            Output::Health(Health::Healthy) => info!(service, "making progress again"),
            Output::Health(Health::Stalled { why }) => warn!(service, why, "cannot make progress"),
            Output::SaveSnapshot | Output::GiveUp { .. } => {
                unreachable!("handled by the loop")
            }
        }
    }
}

/// The next entry of the reader; pending while there is none open.
async fn next_entry(reader: &mut Option<Entries>) -> Option<Result<Delivered, LogError>> {
    match reader {
        Some(reader) => reader.next().await,
        None => std::future::pending().await,
    }
}

/// Loads the snapshot into `core` if it is usable for this log.
fn restore_snapshot(
    store: &SnapshotStore,
    log: &CellLog,
    head: u64,
    core: &mut Box<dyn ServiceCore>,
) {
    let service = core.service().to_string();
    match store.load(&log.cell, &service, &log.stream_identity) {
        Ok(state) if state.applied_seq <= head => {
            info!(service, seq = state.applied_seq, "resuming from snapshot");
            *core.state_mut() = state;
        }
        Ok(state) => warn!(
            service,
            snapshot_seq = state.applied_seq,
            head,
            "snapshot is ahead of the log; folding from the start"
        ),
        Err(why) => info!(service, why, "folding the log from the start"),
    }
}
