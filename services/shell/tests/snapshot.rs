//! The snapshot store holds one state per service whatever the history: a
//! new snapshot replaces the last on disk, and a damaged or foreign one is
//! refused with the reason rather than taken.

use rota_projections::CellState;
use rota_shell::snapshot::SnapshotStore;
use std::path::Path;

const STREAM: &str = "1700000000000000000";

/// A state that looks like `applied_seq` events were folded, with
/// `padding_bytes` of padding so that each snapshot has some size.
fn state_at(applied_seq: u64, padding_bytes: usize) -> CellState {
    let mut state = CellState::new("default");
    state.ledger.applied_seq = applied_seq;
    state.ledger.cell = "default".to_string();
    state.ledger.leases.insert(
        "x".repeat(padding_bytes),
        rota_projections::Lease {
            epoch: 1,
            holder: "a".into(),
            seq: 1,
        },
    );
    state
}

fn files_bytes(dir: &Path) -> (usize, u64) {
    let mut count = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir.join("states")).unwrap() {
        let entry = entry.unwrap();
        count += 1;
        bytes += entry.metadata().unwrap().len();
    }
    (count, bytes)
}

#[test]
fn a_new_snapshot_replaces_the_last_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    for seq in 1..=50 {
        store
            .save("placement", STREAM, &state_at(seq * 1000, 1 << 20))
            .unwrap();
        store
            .save("admission", STREAM, &state_at(seq * 1000, 1 << 20))
            .unwrap();
    }
    let (files, bytes) = files_bytes(dir.path());
    assert_eq!(files, 2, "one state file per service");
    assert!(
        bytes < 3 << 20,
        "{bytes} bytes of state files for two 1 MiB states"
    );
    let loaded = store.load("default", "placement", STREAM).unwrap();
    assert_eq!(loaded.applied_seq, 50_000);
    drop(store);
    let reopened = SnapshotStore::open(dir.path()).unwrap();
    assert_eq!(
        reopened.load("default", "admission", STREAM).unwrap(),
        state_at(50_000, 1 << 20)
    );
}

#[test]
fn a_damaged_or_foreign_snapshot_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path()).unwrap();
    store.save("placement", STREAM, &state_at(7, 10)).unwrap();
    let other = store.load("default", "placement", "42").unwrap_err();
    assert!(other.contains("another stream"), "{other}");
    let file = dir.path().join("states").join("default.placement.7.state");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let damaged = store.load("default", "placement", STREAM).unwrap_err();
    assert!(damaged.contains("is damaged"), "{damaged}");
    assert_eq!(
        store.load("default", "fairshare", STREAM).unwrap_err(),
        "no snapshot"
    );
}
