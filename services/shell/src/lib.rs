//! The async shell every Rota service shares: it drives a pure core over the
//! cell's JetStream log.
//!
//! Layout:
//! - [`log`]: connecting (with the server version check), provisioning the
//!   cell's stream, reading it in order, and publishing: single events,
//!   pipelined events, and rounds as atomic batches.
//! - [`publish`]: publishing without waiting, acknowledgements polled by
//!   the publisher's own loop.
//! - [`machine`]: the round and lease logic as a state machine without IO.
//! - [`service`]: the async loop that drives it (apply, decide, publish,
//!   apply back), and snapshots ([`snapshot`]).
//! - [`clock`]: logged clock ticks and node-lost detection.
//! - [`nodes`]: node agents, real ([`nodes::ProcessExecutor`]) and simulated.
//! - [`nats_server`]: finding and starting a local nats-server for the demo
//!   and the tests.

pub mod access;
pub mod access_files;
pub mod clock;
pub mod log;
pub mod machine;
pub mod nats_cluster;
pub mod nats_server;
pub mod nodes;
pub mod publish;
pub mod refusals;
pub mod roster;
pub mod service;
pub mod shared_reader;
pub mod shutdown;
pub mod signing;
pub mod slot;
pub mod snapshot;
pub mod snapshot_writer;
pub mod tls;

pub use log::{CellLog, EntryStream, LogError};
pub use publish::{Pipeline, PublishWindow};
pub use shutdown::Shutdown;
