//! The clock and liveness service. It turns the passage of time and the
//! silence of nodes into logged events: a `clock.tick` when the log has been
//! quiet for a tick interval, and a `node.lost` when a node's agent has not
//! been heard from for the lost-after interval. Both carry deterministic
//! message ids, so any number of clock instances log each fact once.

use crate::log::{CellLog, LogError};
use crate::publish::PublishWindow;
use crate::shutdown::Shutdown;
use crate::slot::Slot;
use futures::StreamExt;
use rota_events::{
    Body, ClockTick, Event, NodeLost, derived_event_id, liveness_node_subject,
    liveness_one_node_subject,
};
use rota_projections::{CellState, NodeState};
use std::collections::{BTreeMap, BTreeSet};
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

/// How often the clock checks for quiet.
const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// How often the clock looks for silent nodes: a walk over every node, so
/// less often than the quiet check (a node is lost after seconds anyway).
const SILENT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

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
    let mut state = CellState::new(&log.cell);
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
    let mut window: PublishWindow<Published> = PublishWindow::new(&log.client, CLOCK_WINDOW_MAX);
    let mut head: Slot<Result<u64, LogError>> = Slot::default();
    let mut check = tokio::time::interval(CHECK_INTERVAL);
    let mut silent_checked = Instant::now();
    let started = Instant::now();
    let mut nodes_caught_up = false;
    // The last head seen, and since when it has not moved.
    let mut last_head = (u64::MAX, Instant::now());
    let mut ticked_at_head = None;
    let mut heard: BTreeMap<String, Instant> = BTreeMap::new();
    // Nodes reported lost at a given registration, and those being reported.
    let mut reported: BTreeMap<String, u64> = BTreeMap::new();
    let mut reporting: BTreeSet<String> = BTreeSet::new();
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
                let now = Instant::now();
                for node in String::from_utf8_lossy(&message.payload).split_whitespace() {
                    heard.insert(node.to_string(), now);
                }
            }
            // One node's own subject names it; what the message says does
            // not matter.
            Some(message) = single.next() => {
                if let Some(node) = message.subject.rsplit('.').next() {
                    heard.insert(node.to_string(), Instant::now());
                }
            }
            seen = head.wait() => match seen {
                Ok(seq) if seq != last_head.0 => last_head = (seq, Instant::now()),
                Ok(_) => {}
                Err(error) => warn!(%error, "cannot ask for the log's head"),
            },
            acked = window.next_acked() => match (acked.tag, acked.result) {
                (Published::Tick, Ok(_)) => {}
                (Published::Tick, Err(error)) => {
                    warn!(%error, "tick not logged");
                    ticked_at_head = None;
                }
                (Published::Lost { node, registered_seq }, result) => {
                    reporting.remove(&node);
                    match result {
                        Ok(_) => { reported.insert(node, registered_seq); }
                        Err(error) => warn!(%error, node, "node lost not logged"),
                    }
                }
            },
            _ = check.tick() => {
                if !head.is_busy() {
                    let log = log.clone();
                    head.put(async move { log.last_seq().await });
                }
                let (seq, since) = last_head;
                let quiet = seq != u64::MAX && since.elapsed() >= config.tick_interval;
                if quiet && ticked_at_head != Some(seq) && window.has_room() {
                    ticked_at_head = Some(seq);
                    window.send(&tick_event(&log.cell, seq), Published::Tick).await?;
                }
                if !nodes_caught_up || silent_checked.elapsed() < SILENT_CHECK_INTERVAL {
                    continue;
                }
                silent_checked = Instant::now();
                for lost in silent_nodes(&state, &heard, &reported, started, config.node_lost_after) {
                    if reporting.contains(&lost) || !window.has_room() {
                        continue;
                    }
                    let registered_seq = state.nodes[&lost].registered_seq;
                    info!(node = lost, "node lost: no heartbeat");
                    let event = lost_event(&log.cell, &lost, registered_seq, config.node_lost_after);
                    window.send(&event, Published::Lost { node: lost.clone(), registered_seq }).await?;
                    reporting.insert(lost);
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
