//! One reader for the components of a process: every subscriber gets every
//! entry from the sequence it asked for, in order, once; a subscriber that
//! comes after the reader has started reads on its own, from where it asked.

use rota_events::Resources;
use rota_shell::shared_reader::{Entries, SharedReader};
use rota_testkit::TestBed;
use std::time::Duration;

const NODES: usize = 3000;

/// Reads `count` entries and returns their sequences.
async fn read(entries: &mut Entries, count: usize) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(count);
    while seqs.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(20), entries.next())
            .await
            .expect("an entry within 20 s")
            .expect("the reader goes on")
            .expect("a readable entry");
        seqs.push(next.0.seq);
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_reads_every_entry_from_where_it_asked_in_order() {
    let bed = TestBed::start().await;
    let capacity = Resources {
        cpu_milli: 1000,
        memory_bytes: 1 << 30,
        ..Default::default()
    };
    bed.register_nodes(NODES, capacity).await;
    let head = NODES as u64;

    let shared = SharedReader::start(bed.log.clone(), 2, bed.shutdown.clone());
    let mut from_start = shared.subscribe(&bed.log, 1).await.unwrap();
    let mut from_middle = shared.subscribe(&bed.log, 1001).await.unwrap();
    assert!(matches!(from_start, Entries::Shared { .. }));
    assert!(matches!(from_middle, Entries::Shared { .. }));
    // A third subscriber than the reader expects reads alone.
    let mut late = shared.subscribe(&bed.log, 2001).await.unwrap();
    assert!(
        matches!(late, Entries::Private(_)),
        "a late subscriber reads alone"
    );

    let expected = |from: u64| (from..=head).collect::<Vec<u64>>();
    assert_eq!(read(&mut from_start, NODES).await, expected(1));
    assert_eq!(read(&mut from_middle, NODES - 1000).await, expected(1001));
    assert_eq!(read(&mut late, NODES - 2000).await, expected(2001));
}
