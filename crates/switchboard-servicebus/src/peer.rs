//! An AMQP 1.0 peer that speaks the Service Bus dialect azservicebus uses, for tests and the
//! local end-to-end run (feature `test-peer`). Its queues are the embedded SQLite queue of
//! `switchboard-queue` in a temporary file, so their semantics are the port's reference
//! semantics by construction; the peer only translates the wire.
//!
//! # What it speaks
//! - SASL ANONYMOUS, then CBS: `put-token` requests on `$cbs` are answered 202 (any token is
//!   accepted; the peer checks no signature).
//! - Sender links on `<queue>`: single messages and batches (message format `0x80013700`),
//!   message id, session id (`group-id`), correlation id, content type, subject, application
//!   properties, TTL, `x-opt-scheduled-enqueue-time`. Accepted or rejected per transfer.
//! - Receiver links on `<queue>` and `<queue>/$DeadLetterQueue`, peek-lock (`rcv-settle-mode`
//!   second), with the `com.microsoft:session-filter` (a session id, or null for the next
//!   available session; answered with the accepted id and `com.microsoft:locked-until-utc`).
//!   Messages carry the lock token in `x-opt-lock-token`, the broker annotations and the
//!   delivery count. Dispositions: accepted → complete; modified → abandon (with
//!   `message-annotations` as properties to modify) or, with `undeliverable-here`, defer;
//!   rejected with `com.microsoft:dead-letter` → dead-letter with `DeadLetterReason` /
//!   `DeadLetterErrorDescription`; released → abandon.
//! - `$management` on `<queue>` and its dead-letter queue: `peek-message`, `renew-lock`,
//!   `receive-by-sequence-number`, `update-disposition`, `renew-session-lock`,
//!   `get-session-state`, `set-session-state`. Errors carry the Service Bus condition
//!   (`com.microsoft:message-lock-lost`, `…:session-lock-lost`, `…:message-not-found`).
//!
//! # Credit
//! A queue message is locked when the peer takes it for a link, but the peer cannot see a
//! link's credit before sending: if no credit arrives within a few milliseconds the message is
//! put back, and the delivery count that put-back added is subtracted again (kept per message
//! as "phantom" deliveries), so clients see the counts Service Bus would report. For the same
//! reason `max_delivery_count` is enforced here rather than by the backing queue. A session
//! link that holds a candidate also watches its deliveries' outcomes: when one is abandoned,
//! the candidate goes back and the abandoned message (older) goes out first, as on Service Bus.
//!
//! Each peer listens on `ip:5672`: azservicebus's plain-AMQP mode always dials 5672, so tests
//! give every peer its own loopback address (all of 127/8 routes to `lo` on Linux).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, SaslAnonymousMechanism, SessionAcceptor,
    SupportedReceiverSettleModes,
};
use fe2o3_amqp::types::definitions::{Error as AmqpError, ErrorCondition, Fields, Role};
use fe2o3_amqp::types::messaging::message::__private::{Deserializable, Serializable};
use fe2o3_amqp::types::messaging::{
    annotations::OwnedKey, ApplicationProperties, Body, Data, DeliveryAnnotations, Header,
    Message as AmqpMessage, MessageAnnotations, MessageId, Outcome, Properties as AmqpProperties,
    TargetArchetype,
};
use fe2o3_amqp::types::primitives::{
    Array, Binary, OrderedMap, SimpleValue, Symbol, Timestamp, Value,
};
use fe2o3_amqp::{Receiver, Sender};
use futures::{FutureExt, StreamExt};
use serde_amqp::described::Described;
use serde_amqp::descriptor::Descriptor;
use switchboard_queue::sqlite::SqliteNamespace;
use switchboard_queue::{
    max_delivery_description, Delivery, Message, MessageState, OutgoingMessage, Properties,
    QueueConfig, QueueError, QueueHandle, SessionReceiver, REASON_MAX_DELIVERY_COUNT_EXCEEDED,
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch, Notify};

use crate::convert::{
    self, DEAD_LETTER_SOURCE, ENQUEUED_TIME, LOCKED_UNTIL, MESSAGE_STATE, SCHEDULED_ENQUEUE_TIME,
    SEQUENCE_NUMBER,
};
use crate::options::{Secret, ServiceBusAuth, ServiceBusOptions};

/// The port azservicebus dials in plain-AMQP mode.
pub const AMQP_PORT: u16 = 5672;
const SESSION_FILTER: &str = "com.microsoft:session-filter";
const LOCKED_UNTIL_UTC: &str = "com.microsoft:locked-until-utc";
const DEAD_LETTER_CONDITION: &str = "com.microsoft:dead-letter";
const BATCH_FORMAT: u32 = 0x8001_3700;
/// How long the peer waits for a link's credit before putting a taken message back.
const CREDIT_WAIT: Duration = Duration::from_millis(50);
/// How long a link waits after the backing queue failed before it tries again.
const POLL: Duration = Duration::from_millis(300);
/// First and longest wait between polls of an idle link that nobody woke (see [`take`]).
const NAP_MIN: Duration = Duration::from_millis(20);
const NAP_MAX: Duration = Duration::from_millis(250);
/// The backing queue never dead-letters by count itself (see "Credit" above).
const BACKING_MAX_DELIVERY: u32 = 1_000_000;

/// Why the peer could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Binding the listener failed.
    #[error("test peer cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The backing queue failed.
    #[error("test peer backing queue: {0}")]
    Queue(#[from] QueueError),
    /// The temporary directory could not be created.
    #[error("test peer temp dir: {0}")]
    Io(#[from] std::io::Error),
}

/// A running peer. Drop or [`TestPeer::shutdown`] to stop it.
pub struct TestPeer {
    ip: Ipv4Addr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPeer")
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl TestPeer {
    /// Starts a peer on `ip:5672` (use `127.0.0.N`, one N per peer) with these queues.
    pub async fn start(ip: Ipv4Addr, queues: &[(&str, QueueConfig)]) -> Result<Self, PeerError> {
        let dir = tempfile::tempdir()?;
        let ns = SqliteNamespace::open(dir.path().join("peer.db")).await?;
        let addr = SocketAddr::from((ip, AMQP_PORT));
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| PeerError::Bind { addr, source })?;
        let state = Arc::new(State {
            ns,
            queues: StdMutex::new(HashMap::new()),
            locks: StdMutex::new(HashMap::new()),
            links: StdMutex::new(HashMap::new()),
            next_id: std::sync::atomic::AtomicU64::new(0),
            applying: StdMutex::new(HashMap::new()),
            phantom: StdMutex::new(HashMap::new()),
            sessions: StdMutex::new(HashMap::new()),
            pulling: tokio::sync::RwLock::new(()),
            server_timeout: Duration::from_secs(1),
        });
        for (name, config) in queues {
            state.create(name, config.clone()).await?;
        }
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, Arc::clone(&state), stopped));
        Ok(Self {
            ip,
            state,
            stop,
            task: Some(task),
            _dir: dir,
        })
    }

    /// Starts a peer on the first loopback address from `first` on (same /24, up to .254)
    /// whose port 5672 is free. Tests use it: a fixed address collides with another run on
    /// the same machine (a second checkout's suite, a developer's demo), which failed the
    /// 200-call end-to-end run once in 20 with "Address already in use".
    pub async fn start_near(
        first: Ipv4Addr,
        queues: &[(&str, QueueConfig)],
    ) -> Result<Self, PeerError> {
        let [a, b, c, d] = first.octets();
        let mut last = None;
        for host in d.max(1)..=254 {
            match Self::start(Ipv4Addr::new(a, b, c, host), queues).await {
                Err(PeerError::Bind { addr, source })
                    if source.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    last = Some(PeerError::Bind { addr, source });
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| PeerError::Bind {
            addr: SocketAddr::from((first, AMQP_PORT)),
            source: std::io::ErrorKind::AddrInUse.into(),
        }))
    }

    /// Adds a queue (the real namespace gets its queues from Bicep).
    pub async fn create_queue(&self, name: &str, config: QueueConfig) -> Result<(), PeerError> {
        self.state.create(name, config).await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, AMQP_PORT))
    }

    /// A SAS connection string for it (the key is not checked).
    pub fn connection_string(&self) -> String {
        format!(
            "Endpoint=sb://{}/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=dGVzdC1wZWVyLWtleQ==",
            self.ip
        )
    }

    /// Client options for it: its connection string over plain AMQP.
    pub fn options(&self) -> ServiceBusOptions {
        ServiceBusOptions {
            insecure_plaintext: true,
            max_retries: 1,
            retry_delay: Duration::from_millis(100),
            try_timeout: Duration::from_secs(10),
            ..ServiceBusOptions::new(ServiceBusAuth::ConnectionString(Secret::new(
                self.connection_string(),
            )))
        }
    }

    /// The backing queue of `name`, to inspect what the broker holds.
    pub fn backing_queue(&self, name: &str) -> Option<QueueHandle> {
        self.state.queue(name).map(|q| q.handle)
    }

    /// Stops listening and drops every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[derive(Clone)]
struct QueueEntry {
    handle: QueueHandle,
    config: QueueConfig,
    /// Woken when the queue (or its dead-letter queue) may have a message for a plain link.
    wake: Arc<Notify>,
}

struct State {
    ns: SqliteNamespace,
    queues: StdMutex<HashMap<String, QueueEntry>>,
    /// Lock token → what it locks, for settlement by link or `$management`.
    locks: StdMutex<HashMap<uuid::Uuid, Arc<Locked>>>,
    /// Receiver links by id: their AMQP session, their queue, and how to ask them to apply
    /// the outcomes that have arrived (see [`State::settlements_received`]).
    links: StdMutex<HashMap<u64, (u64, String, Flusher)>>,
    /// Numbers links and AMQP sessions.
    next_id: std::sync::atomic::AtomicU64,
    /// Lock token → its settlement while it is being applied, with the queue's name.
    applying: StdMutex<HashMap<uuid::Uuid, (String, Applying)>>,
    /// (queue, sequence number) → deliveries counted by put-backs (see "Credit").
    phantom: StdMutex<HashMap<(String, i64), u32>>,
    /// (queue, session id) → the session lock a link holds.
    sessions: StdMutex<HashMap<(String, String), Arc<PeerSession>>>,
    /// Pulls hold the read side, peeks the write side (see [`take`]).
    pulling: tokio::sync::RwLock<()>,
    /// How long an attach for "the next available session" waits for one.
    server_timeout: Duration,
}

/// A settlement being applied to the backing queue, in its own task.
type Applying = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// Asks a link's task to start applying every outcome that has arrived; answered once it has.
type Flush = tokio::sync::oneshot::Sender<()>;

/// Where a link takes flush requests.
type Flusher = mpsc::UnboundedSender<Flush>;

/// Removes a link's flush channel from the peer's state when its task ends.
struct LinkRegistration {
    state: Arc<State>,
    id: u64,
}

impl Drop for LinkRegistration {
    fn drop(&mut self) {
        lock(&self.state.links).remove(&self.id);
    }
}

struct Locked {
    queue: String,
    delivery: StdMutex<Delivery>,
    via: Via,
}

#[derive(Clone)]
enum Via {
    Queue,
    DeadLetters,
    Session(Arc<PeerSession>),
}

struct PeerSession {
    queue: String,
    id: String,
    receiver: tokio::sync::RwLock<Option<Box<dyn SessionReceiver>>>,
    /// Woken when this session may have a message to hand out (see [`take`]).
    wake: Notify,
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    async fn create(&self, name: &str, config: QueueConfig) -> Result<(), PeerError> {
        let backing = QueueConfig {
            max_delivery_count: BACKING_MAX_DELIVERY,
            ..config.clone()
        };
        let handle = self.ns.ensure_queue(name, backing).await?.handle();
        lock(&self.queues).insert(
            name.to_owned(),
            QueueEntry {
                handle,
                config,
                wake: Arc::new(Notify::new()),
            },
        );
        Ok(())
    }

    fn queue(&self, name: &str) -> Option<QueueEntry> {
        lock(&self.queues).get(name).cloned()
    }

    fn phantom(&self, queue: &str, seq: i64) -> u32 {
        lock(&self.phantom)
            .get(&(queue.to_owned(), seq))
            .copied()
            .unwrap_or(0)
    }

    fn add_phantom(&self, queue: &str, seq: i64) {
        *lock(&self.phantom)
            .entry((queue.to_owned(), seq))
            .or_default() += 1;
    }

    fn remove_phantom(&self, queue: &str, seq: i64) {
        let mut phantom = lock(&self.phantom);
        let k = (queue.to_owned(), seq);
        if let Some(n) = phantom.get_mut(&k) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                phantom.remove(&k);
            }
        }
    }

    /// Wakes the links that may now have a message: the holder of `session` (if any link
    /// holds it), and the queue's plain and dead-letter links.
    fn wake(&self, q: &QueueEntry, session: Option<&str>) {
        if let Some(id) = session {
            let held = lock(&self.sessions)
                .get(&(q.handle.name.clone(), id.to_owned()))
                .cloned();
            if let Some(ps) = held {
                ps.wake.notify_waiters();
            }
        }
        q.wake.notify_waiters();
    }

    /// Applies every settlement on `queue` whose outcome the client has already sent on AMQP
    /// session `amqp_session`. The broker handles one session's frames in order, so a request
    /// answered after this sees every disposition the client sent before it on that session
    /// (a dead-letter, then a peek to count). A short sleep stood here before and failed under
    /// load: the count saw a message both active and dead-lettered
    /// (`runtime_properties_count_by_state`, 1 of 29 suite runs).
    async fn settlements_received(&self, amqp_session: u64, queue: &str) {
        let links: Vec<_> = lock(&self.links)
            .values()
            .filter(|(s, q, _)| *s == amqp_session && q == queue)
            .map(|(_, _, tx)| tx.clone())
            .collect();
        for link in links {
            let (done, flushed) = tokio::sync::oneshot::channel();
            if link.send(done).is_ok() {
                // An error means the link ended, having applied what it had.
                let _ = flushed.await;
            }
        }
        self.applied(queue).await;
    }

    /// Waits for the settlements on `queue` that are being applied.
    async fn applied(&self, queue: &str) {
        let applying: Vec<_> = lock(&self.applying)
            .values()
            .filter(|(q, _)| q == queue)
            .map(|(_, a)| a.clone())
            .collect();
        for settlement in applying {
            settlement.await;
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    fn register_link(
        self: &Arc<Self>,
        amqp_session: u64,
        queue: &str,
        flush: Flusher,
    ) -> LinkRegistration {
        let id = self.next_id();
        lock(&self.links).insert(id, (amqp_session, queue.to_owned(), flush));
        LinkRegistration {
            state: Arc::clone(self),
            id,
        }
    }

    /// Applies a delivery's outcome in a task of its own, listed in `applying` until it is
    /// done; `None` when there is nothing to apply (the link went away: the lock expires).
    fn apply(
        self: &Arc<Self>,
        q: &QueueEntry,
        token: uuid::Uuid,
        outcome: Option<Outcome>,
    ) -> Option<(Applying, bool)> {
        let how = settlement_of(outcome?);
        let abandon = matches!(how, Settlement::Abandon(_));
        let applying: Applying = {
            let (state, q) = (Arc::clone(self), q.clone());
            async move {
                let _ = settle_locked(&state, &q, token, how).await;
                lock(&state.applying).remove(&token);
            }
            .boxed()
            .shared()
        };
        // Listed before the task that unlists it can run.
        lock(&self.applying).insert(token, (q.handle.name.clone(), applying.clone()));
        tokio::spawn(applying.clone());
        Some((applying, abandon))
    }

    fn effective_count(&self, m: &Message) -> u32 {
        m.delivery_count
            .saturating_sub(self.phantom(&m.queue, m.sequence_number))
    }
}

// ---------------------------------------------------------------------------------------------
// Wire layout

fn key(s: &str) -> OwnedKey {
    OwnedKey::from(Symbol::from(s))
}

fn ts(t: OffsetDateTime) -> Value {
    Value::Timestamp(Timestamp::from(t))
}

/// A stored message as the broker sends it.
fn encode_stored(
    m: &Message,
    delivery_count: u32,
    locked: Option<(uuid::Uuid, OffsetDateTime)>,
) -> AmqpMessage<Body<Value>> {
    let mut ann = MessageAnnotations::default();
    ann.insert(key(SEQUENCE_NUMBER), Value::Long(m.sequence_number));
    ann.insert(key(ENQUEUED_TIME), ts(m.enqueued_time));
    if let Some(at) = m.scheduled_enqueue_time {
        ann.insert(key(SCHEDULED_ENQUEUE_TIME), ts(at));
    }
    let state = match m.state {
        MessageState::Deferred => 1,
        MessageState::Scheduled => 2,
        _ => 0,
    };
    ann.insert(key(MESSAGE_STATE), Value::Int(state));
    if m.state == MessageState::DeadLettered {
        ann.insert(key(DEAD_LETTER_SOURCE), Value::String(m.queue.clone()));
    }
    let mut delivery_annotations = None;
    if let Some((token, until)) = locked {
        ann.insert(key(LOCKED_UNTIL), ts(until));
        let mut da = DeliveryAnnotations::default();
        da.insert(
            key("x-opt-lock-token"),
            Value::Uuid(fe2o3_amqp::types::primitives::Uuid::from(*token.as_bytes())),
        );
        delivery_annotations = Some(da);
    }
    let mut ap = OrderedMap::new();
    for (k, v) in &m.application_properties {
        ap.insert(k.clone(), convert::to_simple(v));
    }
    AmqpMessage {
        header: Some(Header {
            // A delivery carries the earlier attempts, a peeked message the count itself.
            delivery_count: if locked.is_some() {
                delivery_count.saturating_sub(1)
            } else {
                delivery_count
            },
            ttl: m
                .time_to_live
                .map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX)),
            ..Header::default()
        }),
        delivery_annotations,
        message_annotations: Some(ann),
        properties: Some(AmqpProperties {
            message_id: Some(MessageId::String(m.message_id.clone())),
            correlation_id: m.correlation_id.clone().map(MessageId::String),
            content_type: m.content_type.clone().map(Symbol::from),
            subject: m.subject.clone(),
            group_id: m.session_id.clone(),
            ..AmqpProperties::default()
        }),
        application_properties: Some(ApplicationProperties(ap)),
        body: Body::Data(vec![Data(Binary::from(m.body.to_vec()))].into()),
        footer: None,
    }
}

/// A message a client sent, as the port's outgoing message.
fn decode_incoming(m: &AmqpMessage<Body<Value>>) -> Result<OutgoingMessage, String> {
    let body = convert::decode_body(&m.body).map_err(|e| e.to_string())?;
    let props = m.properties.clone().unwrap_or_default();
    let mut out = OutgoingMessage::new(
        props
            .message_id
            .as_ref()
            .map(convert::id_to_string)
            .unwrap_or_default(),
        body,
    );
    out.session_id = props.group_id.clone();
    out.correlation_id = props.correlation_id.as_ref().map(convert::id_to_string);
    out.content_type = props.content_type.as_ref().map(|s| s.0.clone());
    out.subject = props.subject.clone();
    if let Some(ap) = &m.application_properties {
        for (k, v) in ap.0.iter() {
            if let Some(v) = convert::from_simple(v) {
                out.application_properties.insert(k.clone(), v);
            }
        }
    }
    out.scheduled_enqueue_time = convert::annotation_time(m, SCHEDULED_ENQUEUE_TIME);
    out.time_to_live = m
        .header
        .as_ref()
        .and_then(|h| h.ttl)
        .map(|ms| Duration::from_millis(u64::from(ms)));
    Ok(out)
}

fn to_binary(m: AmqpMessage<Body<Value>>) -> Value {
    match serde_amqp::to_vec(&Serializable(m)) {
        Ok(bytes) => Value::Binary(Binary::from(bytes)),
        Err(_) => Value::Binary(Binary::from(Vec::new())),
    }
}

/// Where an address points: `amqp://host/q`, `q/$DeadLetterQueue`, `q/$management`, `$cbs`.
#[derive(Debug, PartialEq)]
enum Node {
    Cbs,
    Management { queue: String, dead_letters: bool },
    Entity { queue: String, dead_letters: bool },
}

fn parse_address(address: &str) -> Node {
    let path = match address.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => address,
    };
    let path = path.trim_start_matches('/');
    if path == "$cbs" {
        return Node::Cbs;
    }
    let (path, management) = match path.strip_suffix("/$management") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let (queue, dead_letters) = match path.strip_suffix("/$DeadLetterQueue") {
        Some(q) => (q.to_owned(), true),
        None => (path.to_owned(), false),
    };
    if management {
        Node::Management {
            queue,
            dead_letters,
        }
    } else {
        Node::Entity {
            queue,
            dead_letters,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections, sessions, links

type Replies = Arc<StdMutex<HashMap<String, mpsc::UnboundedSender<AmqpMessage<Body<Value>>>>>>;

async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = ConnectionAcceptor::builder()
        .container_id("switchboard-servicebus-test-peer")
        .sasl_acceptor(SaslAnonymousMechanism::new())
        .build();
    let acceptor = Arc::new(acceptor);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Small request/response frames: without this, Nagle holds a frame written
                // right after another until the client ACKs the first (tens of ms each).
                let _ = stream.set_nodelay(true);
                let acceptor = Arc::clone(&acceptor);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(conn) => connection(conn, state).await,
                        Err(e) => tracing::debug!(error = %e, "test peer: connection refused"),
                    }
                });
            }
        }
    }
    connections.shutdown().await;
}

async fn connection(mut conn: fe2o3_amqp::acceptor::ListenerConnectionHandle, state: Arc<State>) {
    let replies: Replies = Arc::new(StdMutex::new(HashMap::new()));
    let mut sessions = tokio::task::JoinSet::new();
    while let Some(incoming) = conn.next_incoming_session().await {
        let session = match SessionAcceptor::new()
            .accept_incoming_session(incoming, &mut conn)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "test peer: session refused");
                continue;
            }
        };
        sessions.spawn(session_loop(
            session,
            Arc::clone(&state),
            Arc::clone(&replies),
        ));
    }
    sessions.shutdown().await;
    let _ = conn.close().await;
}

struct Prepared {
    attach: fe2o3_amqp::types::performatives::Attach,
    node: Node,
    properties: Option<Fields>,
    held_session: Option<Arc<PeerSession>>,
    /// A session receiver's attach that got no session: answered, then detached at once with
    /// this condition.
    no_session: Option<&'static str>,
}

/// Reads where an attach points and, for a session receiver, locks the session and writes the
/// accepted session id and its lock expiry into the answer.
async fn prepare(state: &State, mut attach: fe2o3_amqp::types::performatives::Attach) -> Prepared {
    let remote_is_sender = matches!(attach.role, Role::Sender);
    let address = if remote_is_sender {
        attach.target.as_ref().and_then(|t| match t.as_ref() {
            TargetArchetype::Target(t) => t.address.clone(),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    } else {
        attach.source.as_ref().and_then(|s| s.address.clone())
    };
    let node = parse_address(address.as_deref().unwrap_or_default());
    let mut properties = None;
    let mut held_session = None;
    let mut no_session = None;
    if !remote_is_sender {
        if let Node::Entity {
            queue,
            dead_letters: false,
        } = &node
        {
            // A session receiver: lock a session before answering the attach.
            let wanted = attach
                .source
                .as_ref()
                .and_then(|s| s.filter.as_ref())
                .and_then(|f| f.get(&Symbol::from(SESSION_FILTER)).cloned());
            if let Some(wanted) = wanted {
                let wanted = match wanted {
                    Value::Described(d) => match d.value {
                        Value::String(s) => Some(s),
                        _ => None,
                    },
                    Value::String(s) => Some(s),
                    _ => None,
                };
                let locked = lock_session(state, queue, wanted.clone()).await;
                tracing::debug!(
                    link = %attach.name,
                    ?wanted,
                    locked = ?locked.as_ref().map(|ps| ps.id.clone()),
                    "test peer: session attach prepared"
                );
                match locked {
                    Some(ps) => {
                        let until = match ps.receiver.read().await.as_ref() {
                            Some(r) => r.locked_until(),
                            None => OffsetDateTime::now_utc(),
                        };
                        if let Some(source) = attach.source.as_mut() {
                            let filter = source.filter.get_or_insert_with(OrderedMap::new);
                            filter.insert(
                                Symbol::from(SESSION_FILTER),
                                Value::Described(Box::new(Described {
                                    descriptor: Descriptor::Name(Symbol::from(SESSION_FILTER)),
                                    value: Value::String(ps.id.clone()),
                                })),
                            );
                        }
                        let mut fields = Fields::default();
                        fields.insert(Symbol::from(LOCKED_UNTIL_UTC), ts(until));
                        properties = Some(fields);
                        held_session = Some(ps);
                    }
                    None => {
                        // No session (or it is held elsewhere): as Service Bus does, answer
                        // the attach without a source and detach it at once with
                        // `com.microsoft:timeout`; the client reports "no session".
                        attach.source = None;
                        no_session = Some(if wanted.is_some() {
                            // A named session another receiver holds.
                            "com.microsoft:session-cannot-be-locked"
                        } else {
                            "com.microsoft:timeout"
                        });
                    }
                }
            }
        }
    }
    Prepared {
        attach,
        node,
        properties,
        held_session,
        no_session,
    }
}

async fn session_loop(
    mut session: fe2o3_amqp::acceptor::ListenerSessionHandle,
    state: Arc<State>,
    replies: Replies,
) {
    let mut links = tokio::task::JoinSet::new();
    let amqp_session = state.next_id();
    // Attaches are prepared (a session attach may wait for a session) off this loop, so one
    // waiting attach does not hold up the other links of the connection.
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Prepared>();
    loop {
        let Prepared {
            attach,
            node,
            properties,
            held_session,
            no_session,
        } = tokio::select! {
            next = session.next_incoming_attach() => {
                let Some(attach) = next else { break };
                tracing::debug!(link = %attach.name, role = ?attach.role, "test peer: attach received");
                let state = Arc::clone(&state);
                let ready_tx = ready_tx.clone();
                tokio::spawn(async move {
                    let prepared = prepare(&state, attach).await;
                    if let Err(unsent) = ready_tx.send(prepared) {
                        if let Some(ps) = unsent.0.held_session {
                            release_session(&state, &ps).await;
                        }
                    }
                });
                continue;
            }
            Some(prepared) = ready_rx.recv() => prepared,
        };
        let mut acceptor = LinkAcceptor::builder()
            .supported_receiver_settle_modes(SupportedReceiverSettleModes::Both);
        if let Some(fields) = properties {
            acceptor = acceptor.properties(fields);
        }
        let acceptor = acceptor.build();
        let link_name = attach.name.clone();
        let endpoint = match acceptor.accept_incoming_attach(attach, &mut session).await {
            Ok(e) => {
                tracing::debug!(link = %link_name, session = ?held_session.as_ref().map(|p| p.id.clone()), "test peer: attach accepted");
                e
            }
            Err(e) => {
                tracing::debug!(link = %link_name, error = ?e, "test peer: attach refused");
                if let Some(ps) = held_session {
                    release_session(&state, &ps).await;
                }
                continue;
            }
        };
        if let Some(condition) = no_session {
            if let LinkEndpoint::Sender(s) = endpoint {
                let error = AmqpError::new(
                    ErrorCondition::Custom(Symbol::from(condition)),
                    Some("no session available".to_string()),
                    None,
                );
                // Off the loop: closing waits for the client's detach.
                tokio::spawn(async move {
                    let _ = s.close_with_error(error).await;
                });
            }
            continue;
        }
        let state = Arc::clone(&state);
        let replies = Arc::clone(&replies);
        links.spawn(async move {
            match (endpoint, node) {
                (LinkEndpoint::Receiver(r), Node::Cbs) => requests(r, state, replies, None).await,
                (
                    LinkEndpoint::Receiver(r),
                    Node::Management {
                        queue,
                        dead_letters,
                    },
                ) => {
                    let entity = Some((amqp_session, queue, dead_letters));
                    requests(r, state, replies, entity).await
                }
                (LinkEndpoint::Receiver(r), Node::Entity { queue, .. }) => {
                    incoming(r, state, queue).await
                }
                (LinkEndpoint::Sender(s), Node::Cbs | Node::Management { .. }) => {
                    reply_link(s, replies).await
                }
                (
                    LinkEndpoint::Sender(s),
                    Node::Entity {
                        queue,
                        dead_letters,
                    },
                ) => {
                    let link = OutgoingLink {
                        amqp_session,
                        queue,
                        dead_letters,
                        session: held_session,
                    };
                    outgoing(s, state, link).await
                }
            }
        });
    }
    links.shutdown().await;
    let _ = session.end().await;
}

async fn lock_session(
    state: &State,
    queue: &str,
    wanted: Option<String>,
) -> Option<Arc<PeerSession>> {
    let q = state.queue(queue)?;
    let receiver = match wanted {
        Some(id) => q.handle.receiver.accept_session(&id).await.ok()?,
        None => q
            .handle
            .receiver
            .accept_next_session(state.server_timeout)
            .await
            .ok()??,
    };
    let ps = Arc::new(PeerSession {
        queue: queue.to_owned(),
        id: receiver.session_id().to_owned(),
        receiver: tokio::sync::RwLock::new(Some(receiver)),
        wake: Notify::new(),
    });
    lock(&state.sessions).insert((queue.to_owned(), ps.id.clone()), Arc::clone(&ps));
    Some(ps)
}

async fn release_session(state: &State, ps: &Arc<PeerSession>) {
    tracing::debug!(session = %ps.id, "test peer: session released");
    {
        let mut sessions = lock(&state.sessions);
        let k = (ps.queue.clone(), ps.id.clone());
        if sessions.get(&k).is_some_and(|cur| Arc::ptr_eq(cur, ps)) {
            sessions.remove(&k);
        }
    }
    if let Some(r) = ps.receiver.write().await.take() {
        let _ = r.close().await;
    }
}

/// A reply link (`$cbs` / `$management` responses): sends whatever the request side queues
/// for its address.
async fn reply_link(mut sender: Sender, replies: Replies) {
    let address = sender
        .target()
        .as_ref()
        .and_then(|t| t.address.clone())
        .unwrap_or_default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    lock(&replies).insert(address.clone(), tx);
    loop {
        tokio::select! {
            _ = sender.on_detach() => break,
            next = rx.recv() => {
                let Some(m) = next else { break };
                if sender.send_batchable(m).await.is_err() {
                    break;
                }
            }
        }
    }
    lock(&replies).remove(&address);
    let _ = sender.close().await;
}

/// Messages sent to a queue.
async fn incoming(mut receiver: Receiver, state: Arc<State>, queue: String) {
    loop {
        let delivery = match receiver.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(_) => break,
        };
        let batched = delivery.message_format().is_some_and(|f| f == BATCH_FORMAT);
        let result = match state.queue(&queue) {
            None => Err(format!("amqp:not-found: queue {queue:?} does not exist")),
            Some(q) => {
                let decoded: Result<Vec<OutgoingMessage>, String> = if batched {
                    match delivery.body() {
                        Body::Data(sections) => sections
                            .iter()
                            .map(|d| {
                                serde_amqp::from_slice::<Deserializable<AmqpMessage<Body<Value>>>>(
                                    d.0.as_slice(),
                                )
                                .map_err(|e| e.to_string())
                                .and_then(|m| decode_incoming(&m.0))
                            })
                            .collect(),
                        _ => Err("a batch must be data sections".into()),
                    }
                } else {
                    decode_incoming(delivery.message()).map(|m| vec![m])
                };
                match decoded {
                    Ok(messages) => {
                        let sessions: Vec<Option<String>> =
                            messages.iter().map(|m| m.session_id.clone()).collect();
                        let sent = q.handle.sender.send_batch(messages).await;
                        if sent.is_ok() {
                            for s in &sessions {
                                state.wake(&q, s.as_deref());
                            }
                        }
                        sent.map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        let settled = match result {
            Ok(()) => receiver.accept(&delivery).await,
            Err(e) => {
                let error = AmqpError::new(
                    ErrorCondition::Custom(Symbol::from("amqp:invalid-field")),
                    Some(e),
                    None,
                );
                receiver.reject(&delivery, error).await
            }
        };
        if settled.is_err() {
            break;
        }
    }
    let _ = receiver.close().await;
}

/// A link's session lock, released however the link's task ends — also when the task is
/// aborted because the client's AMQP session or connection ended. Service Bus frees a session
/// as soon as the link holding it goes away; a peer that kept it until its lock ran out made
/// the call's next events wait that long (and a call's ring timer fire first).
struct HeldSession {
    state: Arc<State>,
    ps: Option<Arc<PeerSession>>,
}

impl HeldSession {
    async fn release(&mut self) {
        if let Some(ps) = self.ps.take() {
            release_session(&self.state, &ps).await;
        }
    }
}

impl Drop for HeldSession {
    fn drop(&mut self) {
        if let Some(ps) = self.ps.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let state = Arc::clone(&self.state);
                runtime.spawn(async move { release_session(&state, &ps).await });
            }
        }
    }
}

/// A receiver link: where its AMQP session is, and what it delivers from.
struct OutgoingLink {
    amqp_session: u64,
    queue: String,
    dead_letters: bool,
    /// The session a session link holds.
    session: Option<Arc<PeerSession>>,
}

/// Messages delivered to a receiver link: plain queue, dead-letter queue, or one session.
///
/// The link's unsettled deliveries are watched here and only here: fe2o3 resolves an
/// outcome in the AMQP session's own task before it handles the frames the client sent after
/// it (the next credit, a `$management` request), so a poll by this task after such a frame
/// always finds it. The outcome used to be a shared future that the task applying the
/// settlement polled as well; when the credit woke this task while that task was mid-poll,
/// this task saw the outcome as pending and the candidate went out ahead of the message the
/// client had just abandoned (`sessions_deliver_in_order`, 1 in about 40 runs alone with the
/// suite's try timeout lowered to 250 ms; a frame trace showed the disposition handled before
/// the credit).
async fn outgoing(mut sender: Sender, state: Arc<State>, link: OutgoingLink) {
    let OutgoingLink {
        amqp_session,
        queue,
        dead_letters,
        session,
    } = link;
    let mut held = HeldSession {
        state: Arc::clone(&state),
        ps: session.clone(),
    };
    let Some(q) = state.queue(&queue) else {
        held.release().await;
        let _ = sender.close().await;
        return;
    };
    let (flush_tx, mut flush_rx) = mpsc::unbounded_channel::<Flush>();
    let _registered = state.register_link(amqp_session, &queue, flush_tx);
    let mut settling = Settling::new();
    let is_session = session.is_some();
    'link: loop {
        // Settlements whose outcome came before this take: once an abandon is applied, the
        // take sees its message.
        for (applying, abandon) in settling.ready(&state, &q) {
            if abandon {
                applying.await;
            }
        }
        // Wait for a message (or the client going away), applying settlements meanwhile. The
        // take is never cancelled mid-way (it may hold a backing queue's write gate), so an
        // abandon seen meanwhile is applied once it is done, and its candidate goes back.
        let (taken, abandoned) = {
            let taking = take(&state, &q, dead_letters, session.as_ref());
            tokio::pin!(taking);
            let mut abandoned = Vec::new();
            let taken = loop {
                tokio::select! {
                    biased;
                    Some((token, outcome)) = settling.next(), if !settling.is_empty() => {
                        if let Some((applying, true)) = state.apply(&q, token, outcome) {
                            abandoned.push(applying);
                        }
                    }
                    Some(done) = flush_rx.recv() => {
                        let ready = settling.ready(&state, &q);
                        abandoned.extend(ready.into_iter().filter(|(_, a)| *a).map(|(f, _)| f));
                        let _ = done.send(());
                    }
                    _ = sender.on_detach() => break 'link,
                    got = &mut taking => break got,
                }
            };
            (taken, abandoned)
        };
        let d = match taken {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(QueueError::SessionLockLost { .. }) => break,
            Err(e) => {
                tracing::debug!(error = %e, "test peer: backing receive failed");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let via = match (&session, dead_letters) {
            (Some(ps), _) => Via::Session(Arc::clone(ps)),
            (None, true) => Via::DeadLetters,
            (None, false) => Via::Queue,
        };
        if is_session && !abandoned.is_empty() {
            for applying in abandoned {
                applying.await;
            }
            put_back(&state, &q, &via, &d).await;
            continue;
        }
        let count = state.effective_count(&d) + 1;
        if !dead_letters && count > q.config.max_delivery_count {
            state.remove_phantom(&d.queue, d.sequence_number);
            // Its lock expired max_delivery_count times: Service Bus dead-letters it.
            let _ = settle(&state, &q, &via, &d, Settlement::MaxDelivery).await;
            continue;
        }
        let message = encode_stored(&d.message, count, Some((d.lock_token, d.locked_until)));
        let token = d.lock_token;
        // Without credit within a few milliseconds the message goes back (see "Credit"), so
        // another link with credit gets it, and a session's next message stays its oldest.
        // A session message abandoned since the take goes first, as on Service Bus: the
        // client's abandon and its next credit arrive together, and the disposition is
        // processed first, so checking before each poll of the send sees the abandon before
        // the candidate can use that credit.
        let sent = {
            let send = tokio::time::timeout(CREDIT_WAIT, sender.send_batchable(message));
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    Some((token, outcome)) = settling.next(), if !settling.is_empty() => {
                        if let Some((applying, true)) = state.apply(&q, token, outcome) {
                            if is_session {
                                applying.await;
                                break None;
                            }
                        }
                    }
                    Some(done) = flush_rx.recv() => {
                        let abandons: Vec<_> = settling
                            .ready(&state, &q)
                            .into_iter()
                            .filter(|(_, abandon)| *abandon)
                            .collect();
                        let _ = done.send(());
                        if is_session && !abandons.is_empty() {
                            for (applying, _) in abandons {
                                applying.await;
                            }
                            break None;
                        }
                    }
                    sent = &mut send => break Some(sent),
                }
            }
        };
        let Some(sent) = sent else {
            put_back(&state, &q, &via, &d).await;
            continue;
        };
        match sent {
            Ok(Ok(outcome)) => {
                state.remove_phantom(&queue, d.sequence_number);
                let locked = Arc::new(Locked {
                    queue: queue.clone(),
                    delivery: StdMutex::new(d),
                    via,
                });
                lock(&state.locks).insert(token, Arc::clone(&locked));
                let mut outcome = Box::pin(outcome);
                // A pre-settled delivery (receive-and-delete) is settled before the next
                // transfer, so the client never sees the message after it received it.
                if let Some(ready) = futures::FutureExt::now_or_never(&mut outcome) {
                    if let Ok(outcome) = ready {
                        let _ = settle_locked(&state, &q, token, settlement_of(outcome)).await;
                    }
                    continue;
                }
                settling.push(async move { (token, outcome.await.ok()) }.boxed());
            }
            Ok(Err(_)) => {
                put_back(&state, &q, &via, &d).await;
                break;
            }
            Err(_no_credit) => {
                put_back(&state, &q, &via, &d).await;
                // A `$management` request may wait on this link meanwhile (see
                // `State::settlements_received`).
                let nap = tokio::time::sleep(CREDIT_WAIT);
                tokio::pin!(nap);
                loop {
                    tokio::select! {
                        biased;
                        Some(done) = flush_rx.recv() => {
                            let ready = settling.ready(&state, &q);
                            let _ = done.send(());
                            for (applying, abandon) in ready {
                                if abandon {
                                    applying.await;
                                }
                            }
                        }
                        () = &mut nap => break,
                    }
                }
            }
        }
    }
    // Settlements the client sent before it detached (a defer, then closing the session) land
    // before the session is let go: applied after, they would find its receiver closed. That
    // includes those already started while the link waited for a message
    // (`session_rules_are_enforced` lost a defer so, with the suite's try timeout at 500 ms).
    settling.ready(&state, &q);
    state.applied(&queue).await;
    held.release().await;
    let _ = sender.close().await;
}

/// The outcomes of one link's unsettled deliveries, polled by that link's task alone (see
/// [`outgoing`]).
struct Settling(futures::stream::FuturesUnordered<PendingOutcome>);

/// A delivery's lock token and the outcome the client sent (`None`: the link went away).
type PendingOutcome = futures::future::BoxFuture<'static, (uuid::Uuid, Option<Outcome>)>;

impl Settling {
    fn new() -> Self {
        Self(futures::stream::FuturesUnordered::new())
    }

    fn push(&mut self, pending: PendingOutcome) {
        self.0.push(pending);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    async fn next(&mut self) -> Option<(uuid::Uuid, Option<Outcome>)> {
        self.0.next().await
    }

    /// Starts applying every outcome that has arrived; each with whether it is an abandon.
    fn ready(&mut self, state: &Arc<State>, q: &QueueEntry) -> Vec<(Applying, bool)> {
        let mut started = Vec::new();
        while let Some(Some((token, outcome))) = self.0.next().now_or_never() {
            started.extend(state.apply(q, token, outcome));
        }
        started
    }
}

fn settlement_of(outcome: Outcome) -> Settlement {
    match outcome {
        Outcome::Accepted(_) => Settlement::Complete,
        Outcome::Released(_) => Settlement::Abandon(None),
        Outcome::Modified(m) if m.undeliverable_here == Some(true) => Settlement::Defer,
        Outcome::Modified(m) => Settlement::Abandon(m.message_annotations.map(props_from_fields)),
        Outcome::Rejected(r) => dead_letter_of(r.error),
    }
}

/// Takes the next message for a link, counting it as a phantom at once (see "Credit"). The
/// backing queue is polled without waiting, under `state.pulling`, so a `$management` peek
/// (which takes the write side) never sees a lock whose phantom is not counted yet.
///
/// Every poll is a write transaction on the backing file, and a busy peer holds hundreds of
/// idle session links, so a link polls only when woken ([`State::wake`]: a send, an abandon,
/// a put-back for its session or queue) and otherwise backs off from `NAP_MIN` to `NAP_MAX`,
/// which bounds how late it sees what time alone makes receivable (an expired lock, a
/// scheduled message). Polling every link every few milliseconds instead queued the senders'
/// writes behind the polls: at 200 concurrent calls a send took seconds.
async fn take(
    state: &State,
    q: &QueueEntry,
    dead_letters: bool,
    session: Option<&Arc<PeerSession>>,
) -> Result<Option<Delivery>, QueueError> {
    let wake: &Notify = match session {
        Some(ps) => &ps.wake,
        None => &q.wake,
    };
    let mut nap = NAP_MIN;
    loop {
        // Registered before the poll, so a wake-up during it is not missed.
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let pulled = {
            let _pulling = state.pulling.read().await;
            let mut got = match session {
                Some(ps) => {
                    let guard = ps.receiver.read().await;
                    match guard.as_ref() {
                        Some(r) => r.receive(1, Duration::ZERO).await?,
                        None => {
                            return Err(QueueError::SessionLockLost {
                                queue: ps.queue.clone(),
                                session_id: ps.id.clone(),
                            })
                        }
                    }
                }
                None if dead_letters => q.handle.dead_letters.receive(1, Duration::ZERO).await?,
                None => q.handle.receiver.receive(1, Duration::ZERO).await?,
            };
            let d = got.pop();
            if let Some(d) = &d {
                state.add_phantom(&d.queue, d.sequence_number);
            }
            d
        };
        if pulled.is_some() {
            return Ok(pulled);
        }
        tokio::select! {
            () = &mut notified => nap = NAP_MIN,
            () = tokio::time::sleep(nap) => nap = (nap * 2).min(NAP_MAX),
        }
    }
}

/// Returns a taken message whose transfer did not go out (its phantom stays counted).
async fn put_back(state: &State, q: &QueueEntry, via: &Via, d: &Delivery) {
    let result = match via {
        Via::Queue => q.handle.receiver.abandon(d, None).await,
        Via::DeadLetters => q.handle.dead_letters.abandon(d).await,
        Via::Session(ps) => match ps.receiver.read().await.as_ref() {
            Some(r) => r.abandon(d, None).await,
            None => Ok(()),
        },
    };
    match result {
        Ok(()) => state.wake(q, d.session_id.as_deref()),
        Err(e) => tracing::debug!(error = %e, "test peer: put-back failed"),
    }
}

fn props_from_fields(fields: Fields) -> Properties {
    fields
        .iter()
        .filter_map(|(k, v)| convert::from_value(v).map(|v| (k.0.clone(), v)))
        .collect()
}

fn dead_letter_of(error: Option<AmqpError>) -> Settlement {
    let mut reason = String::new();
    let mut description = String::new();
    if let Some(e) = error {
        let is_dead_letter =
            matches!(&e.condition, ErrorCondition::Custom(s) if s.0 == DEAD_LETTER_CONDITION);
        if is_dead_letter {
            if let Some(info) = e.info {
                for (k, v) in info.iter() {
                    if let Value::String(s) = v {
                        match k.0.as_str() {
                            "DeadLetterReason" => reason = s.clone(),
                            "DeadLetterErrorDescription" => description = s.clone(),
                            _ => {}
                        }
                    }
                }
            }
        } else {
            description = e.description.unwrap_or_default();
        }
    }
    Settlement::DeadLetter(reason, description)
}

enum Settlement {
    Complete,
    Abandon(Option<Properties>),
    DeadLetter(String, String),
    Defer,
    MaxDelivery,
}

async fn settle_locked(
    state: &State,
    q: &QueueEntry,
    token: uuid::Uuid,
    how: Settlement,
) -> Result<(), QueueError> {
    let Some(locked) = lock(&state.locks).remove(&token) else {
        return Err(QueueError::LockLost {
            queue: q.handle.name.clone(),
            sequence_number: 0,
        });
    };
    let d = lock(&locked.delivery).clone();
    let result = settle(state, q, &locked.via, &d, how).await;
    if let Err(e) = &result {
        tracing::debug!(queue = %locked.queue, error = %e, "test peer: settlement failed");
    }
    result
}

async fn settle(
    state: &State,
    q: &QueueEntry,
    via: &Via,
    d: &Delivery,
    how: Settlement,
) -> Result<(), QueueError> {
    // An abandoned message is receivable again; a dead-lettered one is, on the dead-letter
    // queue.
    let wakes = !matches!(how, Settlement::Complete | Settlement::Defer);
    let result = settle_on(state, q, via, d, how).await;
    if wakes && result.is_ok() {
        state.wake(q, d.session_id.as_deref());
    }
    result
}

async fn settle_on(
    state: &State,
    q: &QueueEntry,
    via: &Via,
    d: &Delivery,
    how: Settlement,
) -> Result<(), QueueError> {
    let how = match how {
        Settlement::Abandon(_)
            if !matches!(via, Via::DeadLetters)
                && state.effective_count(d) >= q.config.max_delivery_count =>
        {
            Settlement::MaxDelivery
        }
        other => other,
    };
    let max_reason = || max_delivery_description(q.config.max_delivery_count);
    match via {
        Via::Queue => {
            let r = &q.handle.receiver;
            match how {
                Settlement::Complete => r.complete(d).await,
                Settlement::Abandon(p) => r.abandon(d, p).await,
                Settlement::DeadLetter(reason, desc) => r.dead_letter(d, &reason, &desc).await,
                Settlement::Defer => r.defer(d).await,
                Settlement::MaxDelivery => {
                    r.dead_letter(d, REASON_MAX_DELIVERY_COUNT_EXCEEDED, &max_reason())
                        .await
                }
            }
        }
        Via::DeadLetters => {
            let r = &q.handle.dead_letters;
            match how {
                Settlement::Complete => r.complete(d).await,
                Settlement::Abandon(_) | Settlement::MaxDelivery => r.abandon(d).await,
                Settlement::DeadLetter(..) | Settlement::Defer => {
                    Err(QueueError::invalid_operation(
                        "a dead letter cannot be dead-lettered or deferred",
                    ))
                }
            }
        }
        Via::Session(ps) => {
            let guard = ps.receiver.read().await;
            let Some(r) = guard.as_ref() else {
                return Err(QueueError::SessionLockLost {
                    queue: ps.queue.clone(),
                    session_id: ps.id.clone(),
                });
            };
            match how {
                Settlement::Complete => r.complete(d).await,
                Settlement::Abandon(p) => r.abandon(d, p).await,
                Settlement::DeadLetter(reason, desc) => r.dead_letter(d, &reason, &desc).await,
                Settlement::Defer => r.defer(d).await,
                Settlement::MaxDelivery => {
                    r.dead_letter(d, REASON_MAX_DELIVERY_COUNT_EXCEEDED, &max_reason())
                        .await
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request/response: $cbs and $management

async fn requests(
    mut receiver: Receiver,
    state: Arc<State>,
    replies: Replies,
    // `$management` of a queue: the AMQP session it is on, the queue, its dead-letter queue?
    entity: Option<(u64, String, bool)>,
) {
    loop {
        let delivery = match receiver.recv::<Body<Value>>().await {
            Ok(d) => d,
            Err(_) => break,
        };
        if receiver.accept(&delivery).await.is_err() {
            break;
        }
        let request = delivery.into_message();
        let reply_to = request
            .properties
            .as_ref()
            .and_then(|p| p.reply_to.clone())
            .unwrap_or_default();
        let request_id = request
            .properties
            .as_ref()
            .and_then(|p| p.message_id.clone());
        let operation = request
            .application_properties
            .as_ref()
            .and_then(|ap| ap.0.get("operation").cloned());
        let (status, description, body) = match (&entity, operation) {
            (None, _) => (202, "Accepted".to_owned(), Value::Null),
            (Some((amqp_session, queue, dead_letters)), Some(SimpleValue::String(op))) => {
                state.settlements_received(*amqp_session, queue).await;
                match management(&state, queue, *dead_letters, &op, &request.body).await {
                    Ok(body) => (200, "OK".to_owned(), body),
                    Err((status, text)) => (status, text, Value::Null),
                }
            }
            (Some(_), _) => (400, "missing operation".to_owned(), Value::Null),
        };
        let mut ap = OrderedMap::new();
        ap.insert("statusCode".to_owned(), SimpleValue::Int(status));
        ap.insert(
            "statusDescription".to_owned(),
            SimpleValue::String(description.clone()),
        );
        if status >= 400 {
            ap.insert(
                "errorCondition".to_owned(),
                SimpleValue::Symbol(Symbol::from(description.clone())),
            );
        }
        let response = AmqpMessage {
            header: None,
            delivery_annotations: None,
            message_annotations: None,
            properties: Some(AmqpProperties {
                correlation_id: request_id,
                ..AmqpProperties::default()
            }),
            application_properties: Some(ApplicationProperties(ap)),
            body: Body::Value(fe2o3_amqp::types::messaging::AmqpValue(body)),
            footer: None,
        };
        let tx = lock(&replies).get(&reply_to).cloned();
        tracing::debug!(link = %receiver.name(), %reply_to, status, have_reply_link = tx.is_some(), "test peer: request answered");
        if let Some(tx) = tx {
            let _ = tx.send(response);
        }
    }
    let _ = receiver.close().await;
}

type MgmtResult = Result<Value, (i32, String)>;

fn field<'a>(body: &'a Body<Value>, name: &str) -> Option<&'a Value> {
    match body {
        Body::Value(v) => match &v.0 {
            Value::Map(m) => m.get(&Value::String(name.to_owned())),
            _ => None,
        },
        _ => None,
    }
}

fn map_of(entries: Vec<(&str, Value)>) -> Value {
    let mut m = OrderedMap::new();
    for (k, v) in entries {
        m.insert(Value::String(k.to_owned()), v);
    }
    Value::Map(m)
}

fn uuids(v: Option<&Value>) -> Vec<uuid::Uuid> {
    let one = |v: &Value| match v {
        Value::Uuid(u) => Some(uuid::Uuid::from_bytes(*u.as_inner())),
        _ => None,
    };
    match v {
        Some(Value::Array(a)) => a.0.iter().filter_map(one).collect(),
        Some(Value::List(l)) => l.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn longs(v: Option<&Value>) -> Vec<i64> {
    let one = |v: &Value| match v {
        Value::Long(i) => Some(*i),
        Value::Int(i) => Some(i64::from(*i)),
        _ => None,
    };
    match v {
        Some(Value::Array(a)) => a.0.iter().filter_map(one).collect(),
        Some(Value::List(l)) => l.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn status_of(e: &QueueError) -> (i32, String) {
    match e {
        QueueError::LockLost { .. } => (410, "com.microsoft:message-lock-lost".into()),
        QueueError::SessionLockLost { .. } => (410, "com.microsoft:session-lock-lost".into()),
        QueueError::MessageNotFound { .. } => (404, "com.microsoft:message-not-found".into()),
        QueueError::SessionCannotBeLocked { .. } => {
            (409, "com.microsoft:session-cannot-be-locked".into())
        }
        QueueError::QueueNotFound { .. } => (404, "amqp:not-found".into()),
        other => (500, format!("amqp:internal-error: {other}")),
    }
}

fn session_of(state: &State, queue: &str, id: &str) -> Result<Arc<PeerSession>, (i32, String)> {
    lock(&state.sessions)
        .get(&(queue.to_owned(), id.to_owned()))
        .cloned()
        .ok_or((410, "com.microsoft:session-lock-lost".to_owned()))
}

async fn management(
    state: &State,
    queue: &str,
    dead_letters: bool,
    op: &str,
    body: &Body<Value>,
) -> MgmtResult {
    let q = state
        .queue(queue)
        .ok_or((404, "amqp:not-found".to_owned()))?;
    let err = |e: QueueError| status_of(&e);
    match op {
        "com.microsoft:peek-message" => {
            let _no_pull_in_flight = state.pulling.write().await;
            let from = longs(field(body, "from-sequence-number"))
                .first()
                .copied()
                .unwrap_or(0);
            let count = longs(field(body, "message-count"))
                .first()
                .copied()
                .unwrap_or(1)
                .max(1);
            let count = usize::try_from(count).unwrap_or(1);
            let peeked = if dead_letters {
                q.handle.dead_letters.peek(from, count).await
            } else {
                q.handle.receiver.peek(from, count).await
            }
            .map_err(err)?;
            let messages = peeked
                .iter()
                .map(|m| {
                    map_of(vec![(
                        "message",
                        to_binary(encode_stored(m, state.effective_count(m), None)),
                    )])
                })
                .collect();
            Ok(map_of(vec![("messages", Value::List(messages))]))
        }
        "com.microsoft:renew-lock" => {
            let mut expirations = Vec::new();
            for token in uuids(field(body, "lock-tokens")) {
                let locked = lock(&state.locks)
                    .get(&token)
                    .cloned()
                    .ok_or((410, "com.microsoft:message-lock-lost".to_owned()))?;
                let d = lock(&locked.delivery).clone();
                let until = q.handle.receiver.renew_lock(&d).await.map_err(err)?;
                lock(&locked.delivery).locked_until = until;
                expirations.push(ts(until));
            }
            Ok(map_of(vec![(
                "expirations",
                Value::Array(Array::from(expirations)),
            )]))
        }
        "com.microsoft:receive-by-sequence-number" => {
            let seqs = longs(field(body, "sequence-numbers"));
            let (got, via) = match text(field(body, "session-id")) {
                Some(id) => {
                    let ps = session_of(state, queue, &id)?;
                    let guard = ps.receiver.read().await;
                    let r = guard
                        .as_ref()
                        .ok_or((410, "com.microsoft:session-lock-lost".to_owned()))?;
                    (
                        r.receive_deferred(&seqs).await.map_err(err)?,
                        Via::Session(Arc::clone(&ps)),
                    )
                }
                None => (
                    q.handle
                        .receiver
                        .receive_deferred(&seqs)
                        .await
                        .map_err(err)?,
                    Via::Queue,
                ),
            };
            let mut messages = Vec::new();
            for d in got {
                let token = d.lock_token;
                let m = encode_stored(
                    &d.message,
                    state.effective_count(&d),
                    Some((token, d.locked_until)),
                );
                lock(&state.locks).insert(
                    token,
                    Arc::new(Locked {
                        queue: queue.to_owned(),
                        delivery: StdMutex::new(d),
                        via: via.clone(),
                    }),
                );
                messages.push(map_of(vec![
                    (
                        "lock-token",
                        Value::Uuid(fe2o3_amqp::types::primitives::Uuid::from(*token.as_bytes())),
                    ),
                    ("message", to_binary(m)),
                ]));
            }
            Ok(map_of(vec![("messages", Value::List(messages))]))
        }
        "com.microsoft:update-disposition" => {
            let status = text(field(body, "disposition-status")).unwrap_or_default();
            let props = match field(body, "properties-to-modify") {
                Some(Value::Map(m)) => Some(
                    m.iter()
                        .filter_map(|(k, v)| match k {
                            Value::String(k) => convert::from_value(v).map(|v| (k.clone(), v)),
                            _ => None,
                        })
                        .collect::<Properties>(),
                ),
                _ => None,
            };
            for token in uuids(field(body, "lock-tokens")) {
                let how = match status.as_str() {
                    "completed" => Settlement::Complete,
                    "abandoned" => Settlement::Abandon(props.clone()),
                    "defered" => Settlement::Defer,
                    "suspended" => Settlement::DeadLetter(
                        text(field(body, "deadletter-reason")).unwrap_or_default(),
                        text(field(body, "deadletter-description")).unwrap_or_default(),
                    ),
                    other => return Err((400, format!("unknown disposition-status {other:?}"))),
                };
                settle_locked(state, &q, token, how).await.map_err(err)?;
            }
            Ok(Value::Null)
        }
        "com.microsoft:renew-session-lock" => {
            let id = text(field(body, "session-id")).unwrap_or_default();
            let ps = session_of(state, queue, &id)?;
            let guard = ps.receiver.read().await;
            let r = guard
                .as_ref()
                .ok_or((410, "com.microsoft:session-lock-lost".to_owned()))?;
            let until = r.renew_session_lock().await.map_err(err)?;
            Ok(map_of(vec![("expiration", ts(until))]))
        }
        "com.microsoft:get-session-state" => {
            let id = text(field(body, "session-id")).unwrap_or_default();
            let ps = session_of(state, queue, &id)?;
            let guard = ps.receiver.read().await;
            let r = guard
                .as_ref()
                .ok_or((410, "com.microsoft:session-lock-lost".to_owned()))?;
            let s = r.session_state().await.map_err(err)?;
            Ok(map_of(vec![(
                "session-state",
                Value::Binary(Binary::from(s.map(|b| b.to_vec()).unwrap_or_default())),
            )]))
        }
        "com.microsoft:set-session-state" => {
            let id = text(field(body, "session-id")).unwrap_or_default();
            let ps = session_of(state, queue, &id)?;
            let guard = ps.receiver.read().await;
            let r = guard
                .as_ref()
                .ok_or((410, "com.microsoft:session-lock-lost".to_owned()))?;
            let s = match field(body, "session-state") {
                Some(Value::Binary(b)) if !b.is_empty() => {
                    Some(bytes::Bytes::copy_from_slice(b.as_slice()))
                }
                _ => None,
            };
            r.set_session_state(s).await.map_err(err)?;
            Ok(Value::Null)
        }
        other => Err((
            501,
            format!("com.microsoft:not-implemented: the test peer does not implement {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_node() {
        assert_eq!(parse_address("$cbs"), Node::Cbs);
        assert_eq!(
            parse_address("amqp://127.0.0.9/calls"),
            Node::Entity {
                queue: "calls".into(),
                dead_letters: false
            }
        );
        assert_eq!(
            parse_address("amqp://127.0.0.9/calls/$DeadLetterQueue"),
            Node::Entity {
                queue: "calls".into(),
                dead_letters: true
            }
        );
        assert_eq!(
            parse_address("calls/$management"),
            Node::Management {
                queue: "calls".into(),
                dead_letters: false
            }
        );
        assert_eq!(
            parse_address("amqp://h/calls/$DeadLetterQueue/$management"),
            Node::Management {
                queue: "calls".into(),
                dead_letters: true
            }
        );
    }

    #[test]
    fn stored_messages_round_trip_through_the_wire_layout() {
        let m = Message {
            queue: "q".into(),
            message_id: "m".into(),
            session_id: Some("s".into()),
            correlation_id: None,
            content_type: None,
            subject: None,
            application_properties: Properties::new(),
            body: bytes::Bytes::from_static(b"hi"),
            sequence_number: 9,
            enqueued_time: time::macros::datetime!(2026-03-12 09:00:00 UTC),
            scheduled_enqueue_time: None,
            time_to_live: None,
            expires_at: None,
            delivery_count: 3,
            state: MessageState::Deferred,
            dead_letter_reason: None,
            dead_letter_error_description: None,
        };
        let wire = encode_stored(&m, 2, None);
        let back = convert::decode_peeked("q", &wire, false).unwrap();
        assert_eq!(back.delivery_count, 2);
        assert_eq!(back.state, MessageState::Deferred);
        assert_eq!(back.sequence_number, 9);
        assert_eq!(back.session_id.as_deref(), Some("s"));
        let out = decode_incoming(&wire).unwrap();
        assert_eq!(out.message_id, "m");
        assert_eq!(out.body, m.body);
    }
}
