//! One reader of the log for every component of a process.
//!
//! Each full reader of the stream costs the server a delivery and the
//! process a parse and a decode of every entry; in one process running
//! admission, placement, fair share and the agents that was four times the
//! same work, and the largest part of the live system's time. A
//! [`SharedReader`] reads the stream once, decodes each entry once, and
//! hands it to every subscriber, each from the sequence it asked for.
//!
//! The reader waits for its expected subscribers (at most
//! [`SUBSCRIBE_TIMEOUT`]) and starts at the lowest sequence any of them
//! asked for. Each subscriber has a bounded channel of
//! [`SUBSCRIBER_CHUNKS_MAX`] chunks; a subscriber that does not drain it
//! slows the reader (and so the others) rather than growing memory. The
//! reader never waits for anything but its consumer and its subscribers'
//! channels, and a subscriber never waits for the reader inside an arm, so
//! neither can park the other. A subscriber whose channel ends (the reader
//! failed or stopped) reopens a reader of its own; see
//! [`Entries::reopen_private`].

use crate::log::{CellLog, EntryStream, LogError};
use crate::shutdown::Shutdown;
use futures::FutureExt;
use rota_projections::LogEntry;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::warn;

/// Entries per chunk handed to subscribers.
pub const CHUNK_ENTRIES_MAX: usize = 256;

/// Chunks a subscriber's channel holds before the reader waits for it.
pub const SUBSCRIBER_CHUNKS_MAX: usize = 64;

/// How long the reader waits for its expected subscribers before it starts
/// with those it has.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// An entry with the count of entries still behind it in the stream.
pub type Delivered = (Arc<LogEntry>, u64);

type Chunk = Arc<Vec<Delivered>>;

struct Registration {
    from_seq: u64,
    chunks: mpsc::Sender<Chunk>,
}

/// A handle to subscribe to a process's shared reader.
#[derive(Clone)]
pub struct SharedReader {
    registrations: mpsc::Sender<(Registration, oneshot::Sender<()>)>,
}

impl SharedReader {
    /// Starts the reader task for `expected` subscribers.
    pub fn start(log: CellLog, expected: usize, shutdown: Shutdown) -> SharedReader {
        let (registrations, receiver) = mpsc::channel(expected.max(1));
        tokio::spawn(async move {
            if let Err(error) = run_reader(log, expected, receiver, shutdown).await {
                warn!(%error, "the shared reader stopped; its subscribers read on their own");
            }
        });
        SharedReader { registrations }
    }

    /// Entries from `from_seq` on. Falls back to a reader of the
    /// subscriber's own when the shared reader has already started or
    /// stopped.
    pub async fn subscribe(&self, log: &CellLog, from_seq: u64) -> Result<Entries, LogError> {
        let (chunks, receiver) = mpsc::channel(SUBSCRIBER_CHUNKS_MAX);
        let (accepted, answer) = oneshot::channel();
        let registration = Registration { from_seq, chunks };
        if self
            .registrations
            .try_send((registration, accepted))
            .is_ok()
            && answer.await.is_ok()
        {
            return Ok(Entries::Shared {
                from_seq,
                chunks: receiver,
                ready: VecDeque::new(),
            });
        }
        Entries::private(log, from_seq).await
    }
}

/// Where a component reads its entries from: the process's shared reader,
/// or a reader of its own. One of these lives per component, so the size
/// of the private variant is not worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Entries {
    Shared {
        from_seq: u64,
        chunks: mpsc::Receiver<Chunk>,
        ready: VecDeque<Delivered>,
    },
    Private(EntryStream),
}

impl Entries {
    /// A reader of the component's own, from `from_seq`.
    pub async fn private(log: &CellLog, from_seq: u64) -> Result<Entries, LogError> {
        Ok(Entries::Private(log.entries(from_seq, Vec::new()).await?))
    }

    /// The next entry with the count still behind it; None when the reader
    /// has ended (reopen one with [`Entries::private`]).
    pub async fn next(&mut self) -> Option<Result<Delivered, LogError>> {
        match self {
            Entries::Private(stream) => {
                let item = stream.next().await?;
                Some(item.map(|(entry, pending)| (Arc::new(entry), pending)))
            }
            Entries::Shared {
                from_seq,
                chunks,
                ready,
            } => loop {
                if let Some((entry, pending)) = ready.pop_front() {
                    if entry.seq < *from_seq {
                        continue;
                    }
                    return Some(Ok((entry, pending)));
                }
                let chunk = chunks.recv().await?;
                ready.extend(chunk.iter().cloned());
            },
        }
    }

    /// The next entry if one is ready now.
    pub fn next_ready(&mut self) -> Option<Option<Result<Delivered, LogError>>> {
        self.next().now_or_never()
    }
}

async fn run_reader(
    log: CellLog,
    expected: usize,
    mut registrations: mpsc::Receiver<(Registration, oneshot::Sender<()>)>,
    shutdown: Shutdown,
) -> Result<(), LogError> {
    let mut subscribers: Vec<Registration> = Vec::new();
    let deadline = tokio::time::Instant::now() + SUBSCRIBE_TIMEOUT;
    while subscribers.len() < expected {
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep_until(deadline) => break,
            registration = registrations.recv() => match registration {
                Some((registration, accepted)) => {
                    let _ = accepted.send(());
                    subscribers.push(registration);
                }
                None => break,
            },
        }
    }
    // Later subscribers are refused (the channel closes) and read alone.
    drop(registrations);
    let Some(start) = subscribers.iter().map(|s| s.from_seq).min() else {
        return Ok(());
    };
    let mut reader = log.entries(start, Vec::new()).await?;
    loop {
        let first = tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            item = reader.next() => item,
        };
        let mut chunk = Vec::with_capacity(CHUNK_ENTRIES_MAX);
        let mut next = Some(first);
        while let Some(item) = next.take() {
            let Some(item) = item else {
                return Err(LogError::Read("the shared reader ended".into()));
            };
            let (entry, pending) = item?;
            chunk.push((Arc::new(entry), pending));
            if chunk.len() < CHUNK_ENTRIES_MAX {
                next = reader.next().now_or_never();
            }
        }
        let chunk: Chunk = Arc::new(chunk);
        let last_seq = chunk.last().map_or(0, |(entry, _)| entry.seq);
        subscribers.retain(|s| !s.chunks.is_closed());
        if subscribers.is_empty() {
            return Ok(());
        }
        for subscriber in &subscribers {
            if last_seq < subscriber.from_seq {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                // A subscriber that went away is dropped at the next chunk.
                _ = subscriber.chunks.send(chunk.clone()) => {}
            }
        }
    }
}
