//! Snapshots of a service's state in sled, with the stream sequence they
//! cover. A snapshot is only a cache: when it is missing, unreadable, from an
//! older schema, from another incarnation of the stream or ahead of the log,
//! the service folds the log from the start.

use rota_events::{decode_state, encode_state};
use rota_projections::CellState;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Bumped whenever [`CellState`]'s shape changes; older snapshots are ignored.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 6;

#[derive(Serialize, Deserialize)]
struct Record {
    schema: u32,
    /// The identity of the stream the state was folded from
    /// ([`crate::CellLog::stream_identity`]).
    stream: String,
    seq: u64,
    state: Vec<u8>,
}

/// A sled database holding one snapshot per cell and service.
pub struct SnapshotStore {
    db: sled::Db,
}

impl SnapshotStore {
    pub fn open(dir: &Path) -> Result<SnapshotStore, String> {
        let db = sled::open(dir)
            .map_err(|e| format!("cannot open the snapshot store at {}: {e}", dir.display()))?;
        Ok(SnapshotStore { db })
    }

    fn key(cell: &str, service: &str) -> String {
        format!("snapshot/{cell}/{service}")
    }

    /// Saves `state` as the snapshot of `service`, and flushes it to disk.
    pub fn save(&self, service: &str, stream: &str, state: &CellState) -> Result<(), String> {
        let record = Record {
            schema: SNAPSHOT_SCHEMA_VERSION,
            stream: stream.to_string(),
            seq: state.applied_seq,
            state: encode_state(state),
        };
        self.db
            .insert(Self::key(&state.cell, service), encode_state(&record))
            .map_err(|e| format!("cannot write snapshot: {e}"))?;
        self.db
            .flush()
            .map_err(|e| format!("cannot flush snapshot: {e}"))?;
        Ok(())
    }

    /// The saved state, or why there is none usable for the stream whose
    /// identity is `stream`.
    pub fn load(&self, cell: &str, service: &str, stream: &str) -> Result<CellState, String> {
        let bytes = self
            .db
            .get(Self::key(cell, service))
            .map_err(|e| format!("cannot read snapshot: {e}"))?
            .ok_or_else(|| "no snapshot".to_string())?;
        let record: Record =
            decode_state(&bytes).map_err(|e| format!("unreadable snapshot record: {e}"))?;
        if record.schema != SNAPSHOT_SCHEMA_VERSION {
            return Err(format!(
                "snapshot schema {} is not the current {SNAPSHOT_SCHEMA_VERSION}",
                record.schema
            ));
        }
        if record.stream != stream {
            return Err(format!(
                "the snapshot is of another stream (created at {} ns, this one at {stream} ns: was the stream recreated?)",
                record.stream
            ));
        }
        let state: CellState =
            decode_state(&record.state).map_err(|e| format!("unreadable snapshot state: {e}"))?;
        if state.applied_seq != record.seq || state.cell != cell {
            return Err("snapshot record and state disagree".to_string());
        }
        Ok(state)
    }

    /// The raw bytes of the saved state, for byte-for-byte comparisons.
    pub fn load_bytes(&self, cell: &str, service: &str, stream: &str) -> Result<Vec<u8>, String> {
        self.load(cell, service, stream)
            .map(|state| encode_state(&state))
    }
}
