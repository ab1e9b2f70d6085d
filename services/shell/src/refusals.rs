//! Publishes the server refused on one connection. A publish its user may
//! not make is dropped by the server, which says so on the connection (an
//! `-ERR 'Permissions Violation for Publish to "<subject>"'`) rather than to
//! the publisher; without this, a refused JetStream publish would look like
//! an acknowledgement that never came and fail only at the ack timeout,
//! with no reason. The connection's event callback notes each refusal here,
//! and a publish or a read waiting on the server ends as soon as one names
//! its subject.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Most refusals kept per connection; older ones are forgotten.
pub const REFUSALS_KEPT: usize = 64;

/// How the server's refusal of a publish begins.
const PUBLISH_REFUSAL_PREFIX: &str = "Permissions Violation for Publish to \"";

#[derive(Clone, Default)]
pub struct Refusals {
    /// The refused subjects, each with the server's message, newest last.
    seen: Arc<Mutex<VecDeque<(String, String)>>>,
    noted: Arc<Notify>,
}

impl Refusals {
    /// Notes a server error, if it is a publish refusal.
    pub fn note(&self, message: &str) {
        let Some(rest) = message
            .find(PUBLISH_REFUSAL_PREFIX)
            .map(|at| &message[at + PUBLISH_REFUSAL_PREFIX.len()..])
        else {
            return;
        };
        let subject = rest.split('"').next().unwrap_or_default().to_string();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.push_back((subject, message.trim().to_string()));
        if seen.len() > REFUSALS_KEPT {
            seen.pop_front();
        }
        drop(seen);
        self.noted.notify_waiters();
    }

    /// The server's message about a refused publish to a subject that
    /// `wanted` takes, if one was seen.
    fn find(&self, wanted: &(dyn Fn(&str) -> bool + Sync)) -> Option<String> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.iter()
            .rev()
            .find(|(subject, _)| wanted(subject))
            .map(|(_, message)| message.clone())
    }

    /// Waits until the server has refused a publish to a subject that
    /// `wanted` takes, and returns its message. Callers race it against the
    /// reply they wait for, under their own bound.
    pub async fn refused(&self, wanted: &(dyn Fn(&str) -> bool + Sync)) -> String {
        loop {
            let noted = self.noted.notified();
            if let Some(message) = self.find(wanted) {
                return message;
            }
            noted.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusal_ends_the_wait_for_its_subject_only() {
        let refusals = Refusals::default();
        refusals.note("unrelated server error");
        let waiting = refusals.clone();
        let wait = tokio::spawn(async move {
            waiting
                .refused(&|subject| subject.starts_with("rota.c.job.beta."))
                .await
        });
        tokio::task::yield_now().await;
        refusals
            .note("Permissions Violation for Publish to \"rota.c.job.beta.b1.cancel_requested\"");
        let message = tokio::time::timeout(std::time::Duration::from_secs(5), wait)
            .await
            .expect("the wait ends")
            .unwrap();
        assert!(message.contains("rota.c.job.beta.b1.cancel_requested"));
        assert!(
            refusals
                .find(&|subject| subject.starts_with("rota.c.job.acme."))
                .is_none()
        );
    }
}
