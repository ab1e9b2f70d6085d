//! The clock and liveness service: the shell around the clock core
//! ([`rota_clock::Liveness`]), which decides when the log gets a
//! `clock.tick` and when a silent node is lost. This loop hears the
//! heartbeats, asks for the log's head, folds the node subjects and
//! publishes what the core says, with its time from this process's
//! monotonic clock.

use crate::log::{CellLog, LogError};
use crate::publish::PublishWindow;
use crate::roster::check_in_roster;
use crate::shutdown::Shutdown;
use crate::slot::Slot;
use futures::StreamExt;
use rota_clock::{Liveness, LivenessConfig};
use rota_events::{Body, liveness_node_subject, liveness_one_node_subject};
use rota_projections::Ledger;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// How the clock runs.
#[derive(Debug, Clone)]
pub struct ClockConfig {
    /// A tick is logged after the log has been quiet this long.
    pub tick_interval: Duration,
    /// A node is declared lost after its agent has been silent this long.
    pub node_lost_after: Duration,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            tick_interval: Duration::from_secs(1),
            node_lost_after: Duration::from_secs(10),
        }
    }
}

/// How often the clock checks for quiet and for silent nodes.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Most node names in one liveness message; agents split larger lists.
pub const LIVENESS_NODES_PER_MESSAGE_MAX: usize = 1000;

/// Publishes the clock may have in flight: a tick and a few node-lost notices
/// at a time are all it ever writes.
const CLOCK_WINDOW_MAX: usize = 256;

/// What a clock publish was about, so that its acknowledgement can be
/// recorded.
enum Published {
    Tick,
    Lost { node: String, registered_seq: u64 },
}

impl ClockConfig {
    fn liveness(&self) -> LivenessConfig {
        LivenessConfig {
            tick_interval_ms: millis(self.tick_interval),
            node_lost_after_ms: millis(self.node_lost_after),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Runs the clock until `shutdown`.
///
/// It reads only the node subjects of the log (registrations, drains,
/// losses): that is all its fold needs to know which nodes to watch. Whether
/// the log is quiet it learns from the stream's last sequence, asked for at
/// every check; the tick names that sequence, so every clock instance's tick
/// for one quiet spell is the same message.
pub async fn run_clock(
    log: CellLog,
    config: ClockConfig,
    shutdown: Shutdown,
) -> Result<(), LogError> {
    let mut state = Ledger::new(&log.cell);
    let mut entries = log.entries(1, vec![node_subjects(&log.cell)]).await?;
    // Fleets say many nodes are alive in one message; an agent says its
    // one node is, on that node's own subject.
    let mut batched = log
        .client
        .subscribe(liveness_node_subject(&log.cell))
        .await
        .map_err(|e| LogError::Read(e.to_string()))?;
    let mut single = log
        .client
        .subscribe(liveness_one_node_subject(&log.cell, "*"))
        .await
        .map_err(|e| LogError::Read(e.to_string()))?;
    let mut window: PublishWindow<Published> = log.window(CLOCK_WINDOW_MAX);
    let mut head: Slot<Result<u64, LogError>> = Slot::default();
    let mut check = tokio::time::interval(CHECK_INTERVAL);
    // The core counts time in milliseconds of this process's monotonic
    // clock, from its start.
    let started = Instant::now();
    let now_ms = || millis(started.elapsed());
    let mut liveness = Liveness::new(&log.cell, config.liveness(), 0);
    let mut nodes_caught_up = false;
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            item = entries.next() => {
                let Some(item) = item else { return Err(LogError::Read("the log reader ended".into())) };
                let (entry, pending) = item?;
                state.apply(&entry);
                nodes_caught_up = pending == 0;
            }
            Some(message) = batched.next() => {
                let now = now_ms();
                for node in String::from_utf8_lossy(&message.payload).split_whitespace() {
                    liveness.heard(node, now);
                }
            }
            // One node's own subject names it; what the message says does
            // not matter.
            Some(message) = single.next() => {
                if let Some(node) = message.subject.rsplit('.').next() {
                    liveness.heard(node, now_ms());
                }
            }
            seen = head.wait() => match seen {
                Ok(seq) => liveness.head_seen(seq, now_ms()),
                Err(error) => warn!(%error, "cannot ask for the log's head"),
            },
            acked = window.next_acked() => match (acked.tag, acked.result) {
                (Published::Tick, Ok(_)) => {}
                (Published::Tick, Err(error)) => {
                    warn!(%error, "tick not logged");
                    liveness.tick_failed();
                }
                (Published::Lost { node, registered_seq }, result) => {
                    if let Err(error) = &result {
                        warn!(%error, node, "node lost not logged");
                    }
                    liveness.lost_published(&node, registered_seq, result.is_ok());
                }
            },
            _ = check.tick() => {
                check_in_roster(&state, log.signer(), "clock")?;
                if !head.is_busy() {
                    let log = log.clone();
                    head.put(async move { log.last_seq().await });
                }
                for event in liveness.check(&state, nodes_caught_up, now_ms()) {
                    let tag = match &event.body {
                        Body::NodeLost(lost) => {
                            info!(node = lost.node, "node lost: no heartbeat");
                            Published::Lost {
                                node: lost.node.clone(),
                                registered_seq: state.nodes[&lost.node].registered_seq,
                            }
                        }
                        _ => Published::Tick,
                    };
                    if !window.has_room() {
                        // Said again at a later check: the core counts it
                        // as not logged.
                        match tag {
                            Published::Tick => liveness.tick_failed(),
                            Published::Lost { node, registered_seq } => {
                                liveness.lost_published(&node, registered_seq, false)
                            }
                        }
                        continue;
                    }
                    window.send(&event, tag).await?;
                }
            }
        }
    }
    Ok(())
}

/// The subjects of node events in `cell`'s log.
fn node_subjects(cell: &str) -> String {
    format!("rota.{cell}.node.>")
}
