//! The round loop every service runs: consume the log in order, apply, and
//! when caught up and holding the lease, decide a round, publish it as one
//! atomic batch, and apply it back from the log before deciding again.

use crate::log::{CellLog, LogError};
use crate::shutdown::Shutdown;
use crate::snapshot::SnapshotStore;
use futures::StreamExt;
use rota_events::{Body, Event, LeaseClaimed, derived_event_id, liveness_service_subject};
use rota_projections::ServiceCore;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tracing::{Instrument, info, info_span, warn};

/// How a service instance runs.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// This instance's name in lease claims; unique per process.
    pub instance: String,
    /// Where snapshots live; none means no snapshots.
    pub state_dir: Option<PathBuf>,
    /// A snapshot is written after this many applied events.
    pub snapshot_every_events: u64,
    /// A standby claims the lease after the holder has been silent this long.
    pub lease_timeout: Duration,
    /// How often the holder says it is alive.
    pub heartbeat_interval: Duration,
}

/// Applied events after which a round is decided even if the reader is not
/// yet at the head, so that a flood cannot delay decisions without bound.
pub const DECIDE_AFTER_EVENTS_MAX: u64 = 1000;

/// Longest time between rounds while events keep arriving. Under a steady
/// stream of events the reader is rarely exactly at the head; this bounds how
/// long work waits. Which sequence becomes a round's basis is the shell's
/// choice and is recorded in the round, so this timing does not make any
/// decision depend on the clock.
pub const DECIDE_INTERVAL_MAX: Duration = Duration::from_millis(10);

impl ServiceConfig {
    pub fn new(instance: impl Into<String>) -> ServiceConfig {
        ServiceConfig {
            instance: instance.into(),
            state_dir: None,
            snapshot_every_events: 10_000,
            lease_timeout: Duration::from_secs(3),
            heartbeat_interval: Duration::from_millis(500),
        }
    }
}

/// What a service did before it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceReport {
    pub rounds: u64,
    pub decisions: u64,
    pub applied_seq: u64,
    pub snapshots: u64,
}

/// Runs one service instance until `shutdown`.
pub async fn run_service(
    log: CellLog,
    mut core: Box<dyn ServiceCore>,
    config: ServiceConfig,
    shutdown: Shutdown,
) -> Result<ServiceReport, LogError> {
    let service = core.service().to_string();
    let cell = log.cell.clone();
    let snapshots = match &config.state_dir {
        Some(dir) => Some(SnapshotStore::open(dir).map_err(LogError::Read)?),
        None => None,
    };
    let head = log.last_seq().await?;
    if let Some(store) = &snapshots {
        match store.load(&cell, &service) {
            Ok(state) if state.applied_seq <= head => {
                info!(service, seq = state.applied_seq, "resuming from snapshot");
                *core.state_mut() = state;
            }
            Ok(state) => warn!(
                service,
                snapshot_seq = state.applied_seq,
                head,
                "snapshot is ahead of the log (was the stream recreated?); folding from the start"
            ),
            Err(why) => info!(service, why, "folding the log from the start"),
        }
    }
    let mut report = ServiceReport::default();
    let mut entries = log
        .entries(core.state().applied_seq + 1, Vec::new())
        .await?;
    let liveness_subject = liveness_service_subject(&cell, &service);
    let mut liveness = log
        .client
        .subscribe(liveness_subject.clone())
        .await
        .map_err(|e| LogError::Read(e.to_string()))?;
    let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let started = Instant::now();
    // A holder we have never heard from counts as silent since we started.
    let mut holder_heard = started;
    let mut last_claim_attempt: Option<Instant> = None;
    let mut caught_up = head == core.state().applied_seq;
    // No decision until the log has been applied up to here: our own last
    // round, or the head after a failed publish.
    let mut settle_seq = 0u64;
    let mut applied_since_snapshot = 0u64;
    let mut applied_since_decide = 0u64;
    let mut last_decided = Instant::now();

    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            item = entries.next() => {
                let Some(item) = item else { break };
                let (entry, pending) = item?;
                core.apply(&entry);
                applied_since_snapshot += 1;
                applied_since_decide += 1;
                caught_up = pending == 0;
                // A service nobody has ever led is claimed as soon as the log
                // is read, not at the next heartbeat: work may be waiting.
                if caught_up && last_claim_attempt.is_none() && !core.state().leases.contains_key(&service) {
                    last_claim_attempt = Some(Instant::now());
                    claim_lease(&log, core.as_ref(), &config.instance).await;
                }
                let ready = caught_up
                    || applied_since_decide >= DECIDE_AFTER_EVENTS_MAX
                    || last_decided.elapsed() >= DECIDE_INTERVAL_MAX;
                if ready && core.state().applied_seq >= settle_seq
                    && let Some(epoch) = held_epoch(core.as_ref(), &config.instance) {
                        applied_since_decide = 0;
                        last_decided = Instant::now();
                        match decide_and_publish(&log, core.as_ref(), epoch).await {
                            Ok(Some((last_seq, size))) => {
                                settle_seq = last_seq;
                                report.rounds += 1;
                                report.decisions += size as u64;
                            }
                            Ok(None) => {}
                            Err(error) => {
                                warn!(service, %error, "round not published; re-reading the log before deciding again");
                                settle_seq = log.last_seq().await.unwrap_or(settle_seq);
                            }
                        }
                    }
                if applied_since_snapshot >= config.snapshot_every_events
                    && let Some(store) = &snapshots {
                        save_snapshot(store, core.as_ref(), &mut report);
                        applied_since_snapshot = 0;
                    }
            }
            Some(message) = liveness.next() => {
                let text = String::from_utf8_lossy(&message.payload);
                if !text.ends_with(&format!(" {}", config.instance)) {
                    holder_heard = Instant::now();
                }
            }
            _ = heartbeat.tick() => {
                match held_epoch(core.as_ref(), &config.instance) {
                    Some(epoch) => {
                        let beat = format!("{epoch} {}", config.instance);
                        if let Err(error) = log.client.publish(liveness_subject.clone(), beat.into()).await {
                            warn!(service, %error, "heartbeat not sent");
                        }
                    }
                    None => {
                        let silent = holder_heard.elapsed() >= config.lease_timeout;
                        let backed_off = last_claim_attempt.is_none_or(|t| t.elapsed() >= config.lease_timeout);
                        if caught_up && backed_off && (silent || !core.state().leases.contains_key(&service)) {
                            last_claim_attempt = Some(Instant::now());
                            claim_lease(&log, core.as_ref(), &config.instance).await;
                        }
                    }
                }
            }
        }
    }
    if let Some(store) = &snapshots {
        save_snapshot(store, core.as_ref(), &mut report);
    }
    report.applied_seq = core.state().applied_seq;
    info!(service, ?report, "stopped");
    Ok(report)
}

/// The lease epoch this instance holds, if the log says it holds one.
fn held_epoch(core: &dyn ServiceCore, instance: &str) -> Option<u64> {
    let lease = core.state().leases.get(core.service())?;
    (lease.holder == instance).then_some(lease.epoch)
}

/// Decides one round and publishes it. Returns the sequence of its last event
/// and its size, or None when there was nothing to decide.
async fn decide_and_publish(
    log: &CellLog,
    core: &dyn ServiceCore,
    epoch: u64,
) -> Result<Option<(u64, usize)>, LogError> {
    let basis = core.state().applied_seq;
    let span = info_span!(
        "round",
        service = core.service(),
        epoch,
        basis,
        size = tracing::field::Empty
    );
    async {
        let round = core.decide(epoch);
        if round.is_empty() {
            return Ok(None);
        }
        tracing::Span::current().record("size", round.len());
        let last_seq = log.publish_round(&round).await?;
        Ok(Some((last_seq, round.len())))
    }
    .instrument(span)
    .await
}

/// Publishes a lease claim at the next epoch, conditional on no other claim
/// having landed since the one this instance last applied.
async fn claim_lease(log: &CellLog, core: &dyn ServiceCore, instance: &str) {
    let service = core.service();
    let state = core.state();
    let (epoch, expected) = match state.leases.get(service) {
        Some(lease) => (lease.epoch + 1, lease.seq),
        None => (1, 0),
    };
    let claim = lease_claim(&log.cell, service, epoch, instance);
    match log.publish_if_subject_at(&claim, expected).await {
        Ok(true) => info!(service, epoch, instance, "claimed the lease"),
        Ok(false) => info!(service, epoch, "another instance claimed the lease first"),
        Err(error) => warn!(service, %error, "lease claim failed"),
    }
}

/// A lease claim event. Its id is derived from the service and epoch, so two
/// claims for one epoch share a message id and only one can be stored.
pub fn lease_claim(cell: &str, service: &str, epoch: u64, instance: &str) -> Event {
    let mut event = Event::new(
        derived_event_id(&format!("lease/{cell}/{service}/{epoch}")),
        cell,
        Body::LeaseClaimed(LeaseClaimed {
            service: service.to_string(),
            epoch,
            holder: instance.to_string(),
        }),
    );
    event.correlation_id = Some(format!("lease-{service}"));
    event
}

fn save_snapshot(store: &SnapshotStore, core: &dyn ServiceCore, report: &mut ServiceReport) {
    match store.save(core.service(), core.state()) {
        Ok(()) => report.snapshots += 1,
        Err(error) => warn!(service = core.service(), error, "snapshot not saved"),
    }
}
