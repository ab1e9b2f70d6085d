//! A service's snapshots as its loop takes them: asked for by the machine,
//! encoded on the loop (the fold must not move while it is read), written on
//! a blocking thread so that the disk never holds up the loop, one at a time
//! per process.

use crate::snapshot::{EncodedState, SnapshotStore};
use futures::FutureExt;
use rota_projections::CellState;
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tracing::warn;

/// The turn to snapshot, shared by the services of one process so that one
/// at a time encodes and writes its state: each holds the encoded bytes
/// until they are written, and together they would hold them all at once.
pub type SnapshotTurns = Arc<tokio::sync::Semaphore>;

/// A turn of one's own, for a service alone in its process.
pub fn snapshot_turns() -> SnapshotTurns {
    Arc::new(tokio::sync::Semaphore::new(1))
}

/// One service's snapshots: the one being written and the one asked for.
pub struct SnapshotWriter {
    store: Arc<SnapshotStore>,
    service: String,
    stream: String,
    turns: SnapshotTurns,
    /// The write in progress; true once it saved.
    writing: Option<JoinHandle<bool>>,
    /// Asked for and not yet begun: waiting for the write before it, or for
    /// this process's turn.
    wanted: bool,
    /// The last snapshot's size, to size the next one's buffer.
    last_bytes: usize,
    saved: u64,
}

impl SnapshotWriter {
    pub fn new(
        store: Arc<SnapshotStore>,
        service: &str,
        stream: &str,
        turns: SnapshotTurns,
    ) -> SnapshotWriter {
        SnapshotWriter {
            store,
            service: service.to_string(),
            stream: stream.to_string(),
            turns,
            writing: None,
            wanted: false,
            last_bytes: 0,
            saved: 0,
        }
    }

    /// The machine asked for a snapshot.
    pub fn want(&mut self) {
        self.wanted = true;
    }

    /// Collects a finished write, and begins the snapshot asked for if no
    /// write is in progress and it is this service's turn. Never waits.
    pub fn poll(&mut self, state: &CellState) {
        if let Some(done) = self.writing.as_mut().and_then(|w| w.now_or_never()) {
            self.saved += u64::from(done.unwrap_or(false));
            self.writing = None;
        }
        if !self.wanted || self.writing.is_some() {
            return;
        }
        let Ok(turn) = self.turns.clone().try_acquire_owned() else {
            return;
        };
        self.wanted = false;
        let encoded = EncodedState::sized(state, self.last_bytes + self.last_bytes / 8);
        self.last_bytes = encoded.len();
        self.writing = Some(self.start_write(encoded, turn));
    }

    /// Writes `encoded` on a blocking thread, holding the turn until done.
    fn start_write(&self, encoded: EncodedState, turn: OwnedSemaphorePermit) -> JoinHandle<bool> {
        let (store, service, stream) = (
            Arc::clone(&self.store),
            self.service.clone(),
            self.stream.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let saved = store.write(&service, &stream, encoded);
            drop(turn);
            report(&service, saved)
        })
    }

    /// Waits for the write in progress, saves `state` as the last snapshot
    /// and returns how many snapshots were saved in all.
    pub async fn finish(mut self, state: &CellState) -> u64 {
        if let Some(writing) = self.writing.take() {
            self.saved += u64::from(writing.await.unwrap_or(false));
        }
        let saved = self.store.save(&self.service, &self.stream, state);
        self.saved + u64::from(report(&self.service, saved))
    }
}

/// True when the snapshot was saved; says why not otherwise.
fn report(service: &str, saved: Result<(), String>) -> bool {
    match saved {
        Ok(()) => true,
        Err(error) => {
            warn!(service, error, "snapshot not saved");
            false
        }
    }
}
