//! The clock and liveness service. It turns the passage of time and the
//! silence of nodes into logged events: a `clock.tick` when the log has been
//! quiet for a tick interval, and a `node.lost` when a node's agent has not
//! been heard from for the lost-after interval. Both carry deterministic
//! message ids, so any number of clock instances log each fact once.

use crate::log::{CellLog, LogError};
use crate::shutdown::Shutdown;
use futures::StreamExt;
use rota_events::{Body, ClockTick, Event, NodeLost, derived_event_id, liveness_node_subject};
use rota_projections::{CellState, NodeState};
use std::collections::BTreeMap;
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

/// Runs the clock until `shutdown`.
pub async fn run_clock(
    log: CellLog,
    config: ClockConfig,
    shutdown: Shutdown,
) -> Result<(), LogError> {
    let mut state = CellState::new(&log.cell);
    let mut entries = log.entries(1, Vec::new()).await?;
    let mut liveness = log
        .client
        .subscribe(liveness_node_subject(&log.cell))
        .await
        .map_err(|e| LogError::Read(e.to_string()))?;
    let mut check = tokio::time::interval(CHECK_INTERVAL);
    let started = Instant::now();
    let mut caught_up = log.last_seq().await? == 0;
    let mut last_event_at = Instant::now();
    let mut heard: BTreeMap<String, Instant> = BTreeMap::new();
    // Nodes already reported lost at a given registration.
    let mut reported: BTreeMap<String, u64> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            item = entries.next() => {
                let Some(item) = item else { break };
                let (entry, pending) = item?;
                state.apply(&entry);
                caught_up = pending == 0;
                last_event_at = Instant::now();
            }
            Some(message) = liveness.next() => {
                let now = Instant::now();
                for node in String::from_utf8_lossy(&message.payload).split_whitespace() {
                    heard.insert(node.to_string(), now);
                }
            }
            _ = check.tick() => {
                if !caught_up {
                    continue;
                }
                if last_event_at.elapsed() >= config.tick_interval {
                    let tick = tick_event(&log.cell, state.applied_seq);
                    if let Err(error) = log.publish(&tick).await {
                        warn!(%error, "tick not logged");
                    }
                    last_event_at = Instant::now();
                }
                for lost in silent_nodes(&state, &heard, &reported, started, config.node_lost_after) {
                    let registered_seq = state.nodes[&lost].registered_seq;
                    info!(node = lost, "node lost: no heartbeat");
                    match log.publish(&lost_event(&log.cell, &lost, registered_seq, config.node_lost_after)).await {
                        Ok(_) => { reported.insert(lost, registered_seq); }
                        Err(error) => warn!(%error, "node lost not logged"),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Ready or draining nodes not heard from within `lost_after`, not yet
/// reported for their current registration.
fn silent_nodes(
    state: &CellState,
    heard: &BTreeMap<String, Instant>,
    reported: &BTreeMap<String, u64>,
    started: Instant,
    lost_after: Duration,
) -> Vec<String> {
    state
        .nodes
        .iter()
        .filter(|(_, node)| node.state != NodeState::Lost)
        .filter(|(name, node)| reported.get(*name) != Some(&node.registered_seq))
        .filter(|(name, _)| heard.get(*name).copied().unwrap_or(started).elapsed() >= lost_after)
        .map(|(name, _)| name.clone())
        .collect()
}

/// A tick after `after_seq`; its id makes every clock's tick for one quiet
/// spell the same message.
pub fn tick_event(cell: &str, after_seq: u64) -> Event {
    Event::new(
        derived_event_id(&format!("tick/{cell}/{after_seq}")),
        cell,
        Body::ClockTick(ClockTick { after_seq }),
    )
}

fn lost_event(cell: &str, node: &str, registered_seq: u64, lost_after: Duration) -> Event {
    Event::new(
        derived_event_id(&format!("lost/{cell}/{node}/{registered_seq}")),
        cell,
        Body::NodeLost(NodeLost {
            node: node.to_string(),
            reason: format!("no heartbeat for {} ms", lost_after.as_millis()),
        }),
    )
}
