//! Snapshots of a service's state, with the stream sequence they cover. A
//! snapshot is only a cache: when it is missing, unreadable, from an older
//! schema, from another incarnation of the stream or ahead of the log, the
//! service folds the log from the start.
//!
//! The state itself is a file, written beside the old one and renamed over
//! nothing (a new name per sequence), then the old file is removed: a new
//! snapshot replaces the last one on disk, so the store holds one state per
//! service whatever the history. sled holds only the small record that
//! names the current file; sled does not give back the space of values it
//! overwrote, which made a store of whole states grow with every snapshot.

use rota_events::{decode_state, encode_state, encode_state_sized};
use rota_projections::CellState;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped whenever [`CellState`]'s shape changes; older snapshots are ignored.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 9;

/// The memory sled may use for its page cache, in bytes: it holds only
/// snapshot records, a few hundred bytes each.
const RECORD_CACHE_BYTES: u64 = 4 << 20;

/// Where state files live inside the store's directory.
const STATES_DIR: &str = "states";

/// Where sled keeps the records inside the store's directory.
const RECORDS_DIR: &str = "records";

#[derive(Serialize, Deserialize)]
struct Record {
    schema: u32,
    /// The identity of the stream the state was folded from
    /// ([`crate::CellLog::stream_identity`]).
    stream: String,
    seq: u64,
    /// The state file's name in the states directory.
    file: String,
    /// The state file's length and CRC-32, checked on load.
    bytes: u64,
    checksum: u32,
}

/// A state as it will be written: encoded at once, so that the fold can go
/// on while the bytes are written.
pub struct EncodedState {
    cell: String,
    seq: u64,
    bytes: Vec<u8>,
}

impl EncodedState {
    pub fn of(state: &CellState) -> EncodedState {
        EncodedState::sized(state, 0)
    }

    /// Encodes `state` into a buffer of `capacity_hint` bytes to start with:
    /// the size of the last snapshot, which the next one is close to.
    pub fn sized(state: &CellState, capacity_hint: usize) -> EncodedState {
        EncodedState {
            cell: state.cell.clone(),
            seq: state.applied_seq,
            bytes: encode_state_sized(state, capacity_hint),
        }
    }

    /// The encoded length, in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// One snapshot per cell and service: records in sled, states in files.
pub struct SnapshotStore {
    db: sled::Db,
    states: PathBuf,
}

impl SnapshotStore {
    pub fn open(dir: &Path) -> Result<SnapshotStore, String> {
        let states = dir.join(STATES_DIR);
        std::fs::create_dir_all(&states).map_err(|e| {
            format!(
                "cannot make the snapshot directory {}: {e}",
                states.display()
            )
        })?;
        let db = sled::Config::new()
            .path(dir.join(RECORDS_DIR))
            .cache_capacity(RECORD_CACHE_BYTES)
            .open()
            .map_err(|e| format!("cannot open the snapshot store at {}: {e}", dir.display()))?;
        Ok(SnapshotStore { db, states })
    }

    fn key(cell: &str, service: &str) -> String {
        format!("snapshot/{cell}/{service}")
    }

    /// The prefix of every state file of `service` in `cell`.
    fn file_prefix(cell: &str, service: &str) -> String {
        format!("{cell}.{service}.")
    }

    /// Saves `state` as the snapshot of `service`: writes and syncs the new
    /// state file, points the record at it, then removes older files.
    pub fn save(&self, service: &str, stream: &str, state: &CellState) -> Result<(), String> {
        self.write(service, stream, EncodedState::of(state))
    }

    /// Saves an encoded state, as [`save`](Self::save) does: this is the part
    /// that touches the disk, which a service runs off its event loop.
    pub fn write(&self, service: &str, stream: &str, state: EncodedState) -> Result<(), String> {
        let prefix = Self::file_prefix(&state.cell, service);
        let file = format!("{prefix}{}.state", state.seq);
        self.write_state(&file, &state.bytes)?;
        let record = Record {
            schema: SNAPSHOT_SCHEMA_VERSION,
            stream: stream.to_string(),
            seq: state.seq,
            file: file.clone(),
            bytes: state.bytes.len() as u64,
            checksum: crc32fast::hash(&state.bytes),
        };
        self.db
            .insert(Self::key(&state.cell, service), encode_state(&record))
            .map_err(|e| format!("cannot write the snapshot record: {e}"))?;
        self.db
            .flush()
            .map_err(|e| format!("cannot flush the snapshot record: {e}"))?;
        self.remove_older(&prefix, &file)
    }

    /// Writes `bytes` to a temporary file, syncs it and renames it to `file`.
    fn write_state(&self, file: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.states.join(file);
        let partial = self.states.join(format!("{file}.partial"));
        let failed = |e: std::io::Error| format!("cannot write snapshot {}: {e}", path.display());
        let mut out = std::fs::File::create(&partial).map_err(failed)?;
        out.write_all(bytes).map_err(failed)?;
        out.sync_all().map_err(failed)?;
        std::fs::rename(&partial, &path).map_err(failed)
    }

    /// Removes the state files (and partial writes) of one service other
    /// than `current`.
    fn remove_older(&self, prefix: &str, current: &str) -> Result<(), String> {
        let entries = std::fs::read_dir(&self.states)
            .map_err(|e| format!("cannot list {}: {e}", self.states.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(prefix) && name != current {
                std::fs::remove_file(entry.path()).map_err(|e| {
                    format!("cannot remove old snapshot {}: {e}", entry.path().display())
                })?;
            }
        }
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
        let path = self.states.join(&record.file);
        let state_bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
        if state_bytes.len() as u64 != record.bytes
            || crc32fast::hash(&state_bytes) != record.checksum
        {
            return Err(format!(
                "snapshot {} is damaged: {} bytes that do not match its record ({} bytes)",
                path.display(),
                state_bytes.len(),
                record.bytes
            ));
        }
        let state: CellState =
            decode_state(&state_bytes).map_err(|e| format!("unreadable snapshot state: {e}"))?;
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
