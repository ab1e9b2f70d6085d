//! Signing what this process publishes, so that the fold can tell who
//! wrote it (see `rota_events::check_signature` and the fold's roster).
//!
//! A process with credentials signs every event it writes except a
//! tenant's submissions and cancellation requests, which the fold does not
//! check (the server authenticates them). Signing is Ed25519 with the
//! credentials' NKey, over the subject and the payload as published.

use crate::access::Credentials;
use crate::publish::msg_id_headers;
use async_nats::HeaderMap;
use rota_events::{
    Event, PublicKey, SIGNATURE_HEADER, SIGNER_HEADER, Writer, encode, signature_text,
    signed_message,
};
use std::sync::Arc;

/// The key this process signs with.
#[derive(Clone)]
pub struct Signer {
    pair: Arc<nkeys::KeyPair>,
    public: PublicKey,
}

impl std::fmt::Debug for Signer {
    /// Never prints the seed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.public)
    }
}

impl Signer {
    /// The signer of `credentials`.
    pub fn of(credentials: &Credentials) -> Signer {
        let pair = nkeys::KeyPair::from_seed(credentials.seed())
            .expect("loaded credentials hold a valid seed");
        let public = PublicKey::parse(&pair.public_key())
            .expect("an NKey user's public key is one the events crate reads");
        Signer {
            pair: Arc::new(pair),
            public,
        }
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Adds the signature headers for a message on `subject` with `payload`.
    pub fn sign(&self, headers: &mut HeaderMap, subject: &str, payload: &[u8]) {
        let signature = self
            .pair
            .sign(&signed_message(subject, payload))
            .expect("a pair made from a seed can sign");
        let signature: [u8; 64] = signature
            .try_into()
            .expect("an Ed25519 signature is 64 bytes");
        headers.insert(SIGNER_HEADER, self.public.as_str());
        headers.insert(SIGNATURE_HEADER, signature_text(&signature).as_str());
    }
}

/// One event as it goes out: its subject, headers and payload.
pub struct Outgoing {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Vec<u8>,
}

/// `event` encoded for publishing, with its message id and trace headers,
/// signed by `signer` unless it is a tenant's.
pub fn outgoing(event: &Event, signer: Option<&Signer>) -> Outgoing {
    let subject = event.subject();
    let payload = encode(event);
    let mut headers = msg_id_headers(event);
    if let Some(signer) = signer
        && event.body.writer() != Writer::Client
    {
        signer.sign(&mut headers, &subject, &payload);
    }
    Outgoing {
        subject,
        headers,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rota_events::{Body, NodeRegistered, check_signature};

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        headers.get(name).map(|v| v.as_str())
    }

    #[test]
    fn a_signed_event_checks_out_and_a_changed_payload_does_not() {
        let signer = Signer::of(&Credentials::generate());
        let event = Event::new(
            "r1",
            "c",
            Body::NodeRegistered(NodeRegistered {
                node: "n1".into(),
                ..Default::default()
            }),
        );
        let out = outgoing(&event, Some(&signer));
        let (key, signature) = (
            header(&out.headers, SIGNER_HEADER),
            header(&out.headers, SIGNATURE_HEADER),
        );
        assert_eq!(key, Some(signer.public_key().as_str()));
        let checked = check_signature(&out.subject, &out.payload, key, signature);
        assert_eq!(checked, Ok(Some(signer.public_key().clone())));
        let mut changed = out.payload.clone();
        changed.push(0);
        assert!(check_signature(&out.subject, &changed, key, signature).is_err());
        let moved = check_signature("rota.c.node.n2.registered", &out.payload, key, signature);
        assert!(moved.is_err(), "a signature holds for its own subject only");
    }

    #[test]
    fn a_tenants_events_go_out_unsigned() {
        let signer = Signer::of(&Credentials::generate());
        let event = Event::new(
            "s1",
            "c",
            Body::JobSubmitted(std::sync::Arc::new(rota_events::JobSubmitted {
                job: "j1".into(),
                ..Default::default()
            })),
        )
        .with_tenant("acme");
        let out = outgoing(&event, Some(&signer));
        assert_eq!(header(&out.headers, SIGNER_HEADER), None);
    }
}
