//! Publishing without waiting for acknowledgements.
//!
//! A [`PublishWindow`] sends JetStream publishes and keeps their
//! acknowledgements as futures that the caller polls as one arm of its own
//! `select!`: a loop never waits for an acknowledgement inside another arm,
//! and when its window is full it stops taking new work (an arm guard)
//! instead of blocking. Each window has its own JetStream context, so its
//! in-flight permits are never shared with another task: one task's unread
//! acknowledgements cannot starve another's publishes.
//!
//! [`Pipeline`] is the same window for straight-line code (a command that
//! publishes a file of submissions and exits), which may wait for its own
//! acknowledgements because it has nothing else to drain.

use crate::log::LogError;
use crate::refusals::Refusals;
use crate::signing::{Outgoing, Signer, outgoing};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use rota_events::Event;
use std::collections::BTreeMap;
use std::time::Duration;

/// Most publishes awaiting their acknowledgement in one window.
pub const PUBLISH_WINDOW_MAX: usize = 4096;

/// How long a publish may wait for its acknowledgement before it counts as
/// failed. The server answers in milliseconds when it is healthy; past this
/// bound the publisher reports the failure instead of waiting on.
pub const PUBLISH_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// The in-flight permits of a window's own context: more than the window can
/// ever hold, so that taking a permit never waits.
const CONTEXT_PERMITS: usize = PUBLISH_WINDOW_MAX + 64;

/// One publish's outcome: the tag it was sent with and the stream sequence
/// it was stored at, or why it was not.
pub struct Acked<T> {
    pub tag: T,
    pub result: Result<u64, LogError>,
}

type AckFuture<T> = BoxFuture<'static, Acked<T>>;

/// Publishes in flight with a bound, their acknowledgements polled by the
/// owner's loop.
pub struct PublishWindow<T> {
    js: jetstream::Context,
    limit: usize,
    in_flight: FuturesOrdered<AckFuture<T>>,
    /// The key events are signed with, if this process has credentials.
    signer: Option<Signer>,
}

/// A JetStream context whose publishes never wait for a permit and whose
/// acknowledgements time out after [`PUBLISH_ACK_TIMEOUT`].
pub fn own_context(client: &async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(PUBLISH_ACK_TIMEOUT)
        .max_ack_inflight(CONTEXT_PERMITS)
        .backpressure_on_inflight(false)
        .build(client.clone())
}

impl<T: Send + 'static> PublishWindow<T> {
    /// A window of at most `limit` publishes (capped at
    /// [`PUBLISH_WINDOW_MAX`]), whose events go out unsigned.
    pub fn new(client: &async_nats::Client, limit: usize) -> PublishWindow<T> {
        PublishWindow::signed_by(client, limit, None)
    }

    /// A window whose events `signer` signs (see [`outgoing`]).
    pub fn signed_by(
        client: &async_nats::Client,
        limit: usize,
        signer: Option<Signer>,
    ) -> PublishWindow<T> {
        PublishWindow {
            js: own_context(client),
            limit: limit.clamp(1, PUBLISH_WINDOW_MAX),
            in_flight: FuturesOrdered::new(),
            signer,
        }
    }

    /// True while another publish may be sent.
    pub fn has_room(&self) -> bool {
        self.in_flight.len() < self.limit
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Sends one event with its deterministic message id. The only wait is
    /// for the connection to take the message, bounded by
    /// [`PUBLISH_ACK_TIMEOUT`]; the acknowledgement comes from
    /// [`PublishWindow::next_acked`]. Callers check [`has_room`] first; a
    /// send past the limit is refused.
    ///
    /// [`has_room`]: PublishWindow::has_room
    pub async fn send(&mut self, event: &Event, tag: T) -> Result<(), LogError> {
        let Outgoing {
            subject,
            headers,
            payload,
        } = outgoing(event, self.signer.as_ref());
        self.send_raw(subject, headers, payload, tag).await
    }

    /// Sends raw bytes on a subject, as an outside client would.
    pub async fn send_raw(
        &mut self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
        tag: T,
    ) -> Result<(), LogError> {
        self.check_room(&subject)?;
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| publish_error(&subject, e))?;
        self.in_flight.push_back(ack_future(subject, ack, tag));
        Ok(())
    }

    /// Sends one event on another connection (a tenant's own, say), its
    /// acknowledgement awaited in this window with the others. It goes out
    /// unsigned: only a tenant's events may.
    pub async fn send_via(
        &mut self,
        js: &jetstream::Context,
        event: &Event,
        tag: T,
    ) -> Result<(), LogError> {
        let Outgoing {
            subject,
            headers,
            payload,
        } = outgoing(event, None);
        self.check_room(&subject)?;
        let ack = js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| publish_error(&subject, e))?;
        self.in_flight.push_back(ack_future(subject, ack, tag));
        Ok(())
    }

    fn check_room(&self, subject: &str) -> Result<(), LogError> {
        match self.has_room() {
            true => Ok(()),
            false => Err(LogError::Publish {
                subject: subject.to_string(),
                detail: format!("the publish window is full ({} in flight)", self.limit),
            }),
        }
    }

    /// The oldest publish's outcome. Pending while nothing is in flight, so
    /// that it can stand as an arm of a `select!` at all times.
    pub async fn next_acked(&mut self) -> Acked<T> {
        match self.in_flight.next().await {
            Some(acked) => acked,
            None => std::future::pending().await,
        }
    }
}

fn ack_future<T: Send + 'static>(subject: String, ack: PublishAckFuture, tag: T) -> AckFuture<T> {
    Box::pin(async move {
        let result = ack
            .await
            .map(|ack| ack.sequence)
            .map_err(|e| publish_error(&subject, e));
        Acked { tag, result }
    })
}

/// Pipelined publishing for straight-line code: sends without waiting until
/// the window is full, then waits for the oldest acknowledgement. A publish
/// the server refuses (the credentials may not write its subject) fails the
/// wait at once, with the server's reason, rather than at the ack timeout.
pub struct Pipeline {
    window: PublishWindow<String>,
    refusals: Refusals,
    /// The subjects of the publishes in flight, with how many each.
    in_flight: BTreeMap<String, usize>,
}

impl Pipeline {
    pub fn new(
        client: &async_nats::Client,
        refusals: Refusals,
        signer: Option<Signer>,
    ) -> Pipeline {
        Pipeline {
            window: PublishWindow::signed_by(client, PUBLISH_WINDOW_MAX, signer),
            refusals,
            in_flight: BTreeMap::new(),
        }
    }

    pub async fn push(&mut self, event: &Event) -> Result<(), LogError> {
        let Outgoing {
            subject,
            headers,
            payload,
        } = outgoing(event, self.window.signer.as_ref());
        self.push_raw(subject, headers, payload).await
    }

    pub async fn push_raw(
        &mut self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<(), LogError> {
        if !self.window.has_room() {
            self.wait_oldest().await?;
        }
        *self.in_flight.entry(subject.clone()).or_default() += 1;
        self.window
            .send_raw(subject.clone(), headers, payload, subject)
            .await
    }

    /// Waits for every outstanding acknowledgement.
    pub async fn flush(&mut self) -> Result<(), LogError> {
        while !self.window.is_empty() {
            self.wait_oldest().await?;
        }
        Ok(())
    }

    async fn wait_oldest(&mut self) -> Result<(), LogError> {
        let in_flight = &self.in_flight;
        let is_in_flight = |subject: &str| in_flight.contains_key(subject);
        let acked = tokio::select! {
            acked = self.window.next_acked() => acked,
            refusal = self.refusals.refused(&is_in_flight) => {
                return Err(LogError::Publish {
                    subject: refusal_subject(&refusal),
                    detail: format!("the server refused it ({refusal}); these credentials may not write it"),
                });
            }
        };
        if let Some(count) = self.in_flight.get_mut(&acked.tag) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(&acked.tag);
            }
        }
        acked.result.map(|_| ())
    }
}

/// The subject a refusal names, for the error it becomes.
fn refusal_subject(refusal: &str) -> String {
    refusal.split('"').nth(1).unwrap_or_default().to_string()
}

/// The headers every event is published with: its deterministic message id,
/// and its trace context when it has one.
pub fn msg_id_headers(event: &Event) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.msg_id().as_str());
    if let Some(traceparent) = &event.traceparent {
        headers.insert("traceparent", traceparent.as_str());
    }
    headers
}

pub(crate) fn publish_error(subject: &str, error: impl std::fmt::Display) -> LogError {
    LogError::Publish {
        subject: subject.to_string(),
        detail: error.to_string(),
    }
}
