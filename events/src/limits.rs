//! Limits of the wire format. Every bound on what a client may send is here,
//! so documentation and validation cannot drift apart.

/// Largest encoded event Rota accepts, in bytes. Larger events are answered
/// with an `input.rejected` event of kind `oversized`.
pub const EVENT_BYTES_MAX: usize = 64 * 1024;

/// Largest encoded `roster.set` Rota accepts, in bytes: a roster names a
/// key for every identity, far more than other events hold, and still fits
/// one stored message with its headers.
pub const ROSTER_EVENT_BYTES_MAX: usize = 1_000_000;

/// Largest message the stream itself stores, in bytes. It is larger than
/// [`EVENT_BYTES_MAX`] so that an oversized event lands in the log and can be
/// rejected there, visibly, instead of failing only at the publisher.
pub const STREAM_MESSAGE_BYTES_MAX: i32 = 1024 * 1024;

/// Longest cell, tenant, job, node or service name, in characters.
pub const NAME_CHARS_MAX: usize = 64;

/// Longest free-text field (reasons, messages, job names), in bytes.
pub const TEXT_BYTES_MAX: usize = 1024;

/// Most GPU devices one node may register. The fold keeps a slot per
/// device, so an unbounded count would make every reader of the log
/// allocate without limit (4,294,967,295 devices is 16 GiB of slots).
pub const NODE_GPU_DEVICES_MAX: u32 = 64;

/// How many events one service round may hold. It equals the server's limit
/// on messages in one atomic batch.
pub const ROUND_EVENTS_MAX: usize = 1000;

/// The schema version this build writes for each event type that has had
/// more than one. Types not listed are at version 1.
pub const JOB_SUBMITTED_VERSION: u32 = 2;
