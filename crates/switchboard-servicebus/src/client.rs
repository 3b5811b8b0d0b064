//! The queue port over azservicebus: [`ServiceBusNamespace`] (one AMQP connection for links
//! and one for session accepts) hands out [`QueueHandle`]s whose sender, receiver and
//! dead-letter views open their AMQP links lazily and re-open them after a failure.
//!
//! Locks are tracked on this side too: every [`Delivery`] carries the SDK message, the link it
//! came on and `locked_until`. A settle after `locked_until`, or a second settle, fails with
//! [`QueueError::LockLost`] without a round trip — over a receive link Service Bus settles in
//! `second` mode and the SDK does not surface a late settle reliably, so this check is what
//! makes lock loss visible as such. The broker's own `message-lock-lost` errors map the same.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use azservicebus::core::BasicRetryPolicy;
use azservicebus::primitives::service_bus_received_message::ServiceBusReceivedMessage;
use azservicebus::receiver::DeadLetterOptions;
use azservicebus::{
    ServiceBusClient, ServiceBusClientOptions, ServiceBusMessage, ServiceBusReceiveMode,
    ServiceBusReceiver, ServiceBusReceiverOptions, ServiceBusRetryOptions, ServiceBusSender,
    ServiceBusSenderOptions, ServiceBusSessionReceiver, ServiceBusSessionReceiverOptions, SubQueue,
};
use bytes::Bytes;
use switchboard_queue::{
    resubmitted_message_id, BackendHandle, DeadLetterQueue, Delivery, Message, MessageState,
    OutgoingMessage, Properties, PropertyValue, QueueConfig, QueueError, QueueHandle,
    QueueReceiver, QueueRuntimeProperties, QueueSender, SessionReceiver,
    DEAD_LETTER_ERROR_DESCRIPTION, DEAD_LETTER_REASON, MAX_ID_LEN, PENDING_DEAD_LETTER_DESCRIPTION,
    PENDING_DEAD_LETTER_REASON, RESUBMITTED_FROM_PROPERTY,
};
use time::OffsetDateTime;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::convert::{self, LOCKED_UNTIL};
use crate::error::{map, Subject};
use crate::link_wait::LinkWanted;
use crate::options::{ServiceBusAuth, ServiceBusOptions};

type Client = ServiceBusClient<BasicRetryPolicy>;

/// Shortest wait handed to the SDK: a zero wait would race the transfer already in flight.
const MIN_WAIT: Duration = Duration::from_millis(50);
// A receive asks the broker for one message at a time (credit 1) and returns it as soon as it
// comes, whatever `max` is: the port returns as soon as one message is available. It used to
// "top up" after the first message (credit `max - 1`, 30 ms), but at anything below full load
// nothing more came: the top-up ran out its wait, the SDK drained the link, and the drained
// link then rested `DRAIN_SETTLE` (60 ms) before its next receive. Every IncomingCall was
// answered ~50 ms late on this transport (`switchboard bench --phases`, issue 18). A message
// that comes needs no drain, so a link that got one goes straight back to receiving.

/// The longest one SDK receive may wait: half the per-try timeout. azservicebus runs each
/// receive inside its try timeout and, when the try times out first, drops the receive
/// without draining the credit it gave and tries again. A message already on its way then
/// stays in the link's buffer while a second one is asked for: the client holds a message its
/// caller never saw, and an abandoned message no longer comes back first in its session
/// (`sessions_deliver_in_order` failed so when a loaded machine stalled a receive past the
/// conformance suite's 3 s try timeout). A wait beyond the try timeout also failed outright
/// ("Timeout elapsed") instead of returning nothing. So a long wait is made of slices that
/// each end, and drain, well inside the try timeout.
fn receive_slice(options: &ServiceBusOptions, deadline: tokio::time::Instant) -> Duration {
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    left.min(options.try_timeout / 2).max(MIN_WAIT)
}
/// Beyond the caller's wait, how long `accept_next_session` lets the broker answer before
/// giving up on the attach (the test peer answers within its own server timeout).
const ACCEPT_GRACE: Duration = Duration::from_secs(5);
/// Longest wait for a named session (the broker answers at once, with it or with "locked
/// elsewhere"), the wait for the session client included.
const NAMED_ACCEPT_BOUND: Duration = Duration::from_secs(20);
/// Longest a replacement connection may take to open (connect, SASL, CBS).
const RECONNECT_BOUND: Duration = Duration::from_secs(30);
/// Longest wait for the broker to accept a send (it answers in milliseconds when healthy).
const SEND_BOUND: Duration = Duration::from_secs(10);
/// Shortest bound on a session renew or settle, for a lock that is about to run out.
const MIN_LOCK_BOUND: Duration = Duration::from_millis(500);

/// A connected Service Bus namespace. Cheap to clone; hand out queues with
/// [`ServiceBusNamespace::queue`].
#[derive(Clone)]
pub struct ServiceBusNamespace {
    inner: Arc<Ns>,
}

impl std::fmt::Debug for ServiceBusNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBusNamespace")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

struct Ns {
    options: ServiceBusOptions,
    /// Links (senders, receivers) are created through this connection.
    links: Mutex<Client>,
    /// Bumped each time `links` is replaced (see `replace_links_connection_from`).
    links_generation: AtomicU64,
    /// Session accepts wait on the broker; they get connections of their own so they never
    /// hold up link creation. The SDK's accept borrows its client mutably, so a connection
    /// runs one accept at a time: [`SESSION_CONNECTIONS`] of them let that many accepts run
    /// side by side (one, and a worker's sessions queued behind each 5–10 ms attach). Opened
    /// by the first accept: a process that only sends (the ingress) never opens them.
    sessions: tokio::sync::OnceCell<Vec<SessionConn>>,
    /// Where the next accept starts looking for a free session connection.
    next_session: AtomicUsize,
    /// The management API, for what AMQP cannot count (session queues).
    management: Option<crate::management::Management>,
}

/// One of the connections session accepts go through.
struct SessionConn {
    client: Mutex<Client>,
    /// Bumped each time `client` is replaced, so many sessions noticing the same dead
    /// connection replace it once.
    generation: AtomicU64,
}

/// Which session connection a session was accepted on, and its generation then.
#[derive(Clone, Copy, Debug)]
struct SessionTicket {
    conn: usize,
    generation: u64,
}

/// Session connections per namespace handle: accepts that can run at once.
const SESSION_CONNECTIONS: usize = 4;

/// Connection `conn` of `conns`, with its generation now.
fn ticket(conns: &[SessionConn], conn: usize) -> SessionTicket {
    SessionTicket {
        conn,
        generation: conns[conn].generation.load(Ordering::Acquire),
    }
}

impl Ns {
    /// A session connection to accept on: a free one if any (round robin), else the next in
    /// turn, once its accept is done. The first call opens them all, side by side.
    async fn session_client(
        &self,
    ) -> Result<(tokio::sync::MutexGuard<'_, Client>, SessionTicket), QueueError> {
        let conns = self
            .sessions
            .get_or_try_init(|| async {
                let clients = futures::future::try_join_all(
                    (0..SESSION_CONNECTIONS).map(|_| open_client(&self.options)),
                )
                .await?;
                Ok::<_, QueueError>(
                    clients
                        .into_iter()
                        .map(|c| SessionConn {
                            client: Mutex::new(c),
                            generation: AtomicU64::new(0),
                        })
                        .collect(),
                )
            })
            .await?;
        let n = conns.len();
        let start = self.next_session.fetch_add(1, Ordering::Relaxed) % n;
        for i in (0..n).map(|k| (start + k) % n) {
            if let Ok(guard) = conns[i].client.try_lock() {
                return Ok((guard, ticket(conns, i)));
            }
        }
        let guard = conns[start].client.lock().await;
        Ok((guard, ticket(conns, start)))
    }

    /// Swaps session connection `conn` for a fresh one and closes the old one (see
    /// `accept_next_session`). Session receivers on the old connection lose their locks.
    async fn replace_sessions_connection(&self, conn: usize, why: &str) {
        let Some(conns) = self.sessions.get() else {
            return;
        };
        self.replace_sessions_connection_from(ticket(conns, conn), why)
            .await;
    }

    /// Replaces the link connection if it is still generation `seen` (a send on it got no
    /// answer); links created on the old one fail and are re-created on the new one.
    async fn replace_links_connection_from(&self, seen: u64, why: &str) {
        self.replace_connection(&self.links, &self.links_generation, seen, "link", why)
            .await;
    }

    /// Replaces the session connection of `seen` if it is still that generation (a session
    /// accepted on it saw it stop answering); a later generation means someone already did.
    async fn replace_sessions_connection_from(&self, seen: SessionTicket, why: &str) {
        // A ticket comes from `session_client`, so the connections are open.
        let Some(conn) = self.sessions.get().and_then(|c| c.get(seen.conn)) else {
            return;
        };
        self.replace_connection(
            &conn.client,
            &conn.generation,
            seen.generation,
            "session",
            why,
        )
        .await;
    }

    /// An operation on the session connection of `seen` said its AMQP session ended (see
    /// [`dead_connection`]).
    async fn session_connection_ended(&self, seen: SessionTicket) {
        self.replace_sessions_connection_from(seen, "the session connection's AMQP session ended")
            .await;
    }

    async fn replace_connection(
        &self,
        slot: &Mutex<Client>,
        generation: &AtomicU64,
        seen: u64,
        which: &str,
        why: &str,
    ) {
        if generation.load(Ordering::Acquire) != seen {
            return;
        }
        // Connect before taking the slot: a connect that hangs must not block every link
        // creation (and so every send) behind the slot's lock.
        let fresh = match tokio::time::timeout(RECONNECT_BOUND, open_client(&self.options)).await {
            Ok(Ok(fresh)) => fresh,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "{why}; reconnecting the {which} connection failed");
                return;
            }
            Err(_) => {
                tracing::warn!("{why}; reconnecting the {which} connection timed out");
                return;
            }
        };
        let mut current = slot.lock().await;
        let old = if generation.load(Ordering::Acquire) == seen {
            generation.fetch_add(1, Ordering::AcqRel);
            tracing::warn!("{why}; replaced the {which} connection");
            std::mem::replace(&mut *current, fresh)
        } else {
            // Someone else replaced it meanwhile; this one is not needed.
            fresh
        };
        drop(current);
        // Closing detaches the old links, which frees the sessions they held.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), old.dispose()).await;
        });
    }
}

/// The management endpoint the options reach: `management_url` if set, else the namespace's
/// own HTTPS endpoint — not for plain AMQP (emulator, test peer) without an explicit URL.
fn management_for(options: &ServiceBusOptions) -> Option<crate::management::Management> {
    use crate::management::{Management, MgmtAuth};
    let m = match &options.auth {
        ServiceBusAuth::ConnectionString(cs) => Management::from_connection_string(cs.expose())?,
        ServiceBusAuth::ManagedIdentity {
            namespace,
            client_id,
        } => {
            let credential = crate::credential::managed_identity(client_id).ok()?;
            Management::new(format!("https://{namespace}/"), MgmtAuth::Token(credential))
        }
        ServiceBusAuth::WorkloadIdentity { namespace } => {
            let credential = crate::credential::workload_identity().ok()?;
            Management::new(format!("https://{namespace}/"), MgmtAuth::Token(credential))
        }
    };
    match &options.management_url {
        Some(url) => Some(m.with_base(url)),
        None if options.insecure_plaintext => None,
        None => Some(m),
    }
}

impl ServiceBusNamespace {
    /// Connects with the options' credentials: the connection for links now; the four for
    /// session accepts (so that many accepts run side by side) with the first accept.
    pub async fn connect(options: ServiceBusOptions) -> Result<Self, QueueError> {
        let links = open_client(&options).await?;
        Ok(Self {
            inner: Arc::new(Ns {
                links: Mutex::new(links),
                links_generation: AtomicU64::new(0),
                sessions: tokio::sync::OnceCell::new(),
                next_session: AtomicUsize::new(0),
                management: management_for(&options),
                options,
            }),
        })
    }

    /// The queue `name` as a [`QueueHandle`]. Service Bus queues are provisioned outside the
    /// application (Bicep); `config` must describe the queue as provisioned — the adapter uses
    /// `requires_session` to refuse wrong calls early and `max_message_size` to refuse
    /// oversized sends before they travel. Links open on first use, so a missing queue shows
    /// up as [`QueueError::QueueNotFound`] from the first operation.
    pub fn queue(&self, name: &str, config: QueueConfig) -> Result<QueueHandle, QueueError> {
        switchboard_queue::config::validate_queue_name(name)?;
        config.validate()?;
        let ctx = Arc::new(Ctx {
            ns: Arc::clone(&self.inner),
            name: name.to_owned(),
            config,
        });
        let sender = Arc::new(SbSender::new(Arc::clone(&ctx)));
        Ok(QueueHandle {
            name: name.to_owned(),
            sender: Arc::clone(&sender) as Arc<dyn QueueSender>,
            receiver: Arc::new(SbReceiver {
                ctx: Arc::clone(&ctx),
                pool: Pool::new(Arc::clone(&ctx), SubQueue::None),
            }),
            dead_letters: Arc::new(SbDeadLetters {
                ctx: Arc::clone(&ctx),
                pool: Pool::new(Arc::clone(&ctx), SubQueue::DeadLetter),
                sender,
            }),
        })
    }
}

async fn open_client(options: &ServiceBusOptions) -> Result<Client, QueueError> {
    let client_options = ServiceBusClientOptions {
        retry_options: ServiceBusRetryOptions {
            max_retries: options.max_retries,
            delay: options.retry_delay,
            max_delay: options.max_retry_delay,
            try_timeout: options.try_timeout,
            ..ServiceBusRetryOptions::default()
        },
        ..ServiceBusClientOptions::default()
    };
    let fail = |e: azure_core::Error| map("connect", "", Subject::Queue, e);
    match &options.auth {
        ServiceBusAuth::ConnectionString(cs) => {
            if options.insecure_plaintext {
                ServiceBusClient::unsecured()
                    .new_from_connection_string(cs.expose(), client_options)
                    .await
                    .map_err(fail)
            } else {
                ServiceBusClient::new_from_connection_string(cs.expose(), client_options)
                    .await
                    .map_err(fail)
            }
        }
        ServiceBusAuth::ManagedIdentity {
            namespace,
            client_id,
        } => {
            let credential = crate::credential::managed_identity(client_id).map_err(fail)?;
            ServiceBusClient::new_from_token_credential(
                namespace.clone(),
                credential,
                client_options,
            )
            .await
            .map_err(fail)
        }
        ServiceBusAuth::WorkloadIdentity { namespace } => {
            let credential = crate::credential::workload_identity().map_err(fail)?;
            ServiceBusClient::new_from_token_credential(
                namespace.clone(),
                credential,
                client_options,
            )
            .await
            .map_err(fail)
        }
    }
}

struct Ctx {
    ns: Arc<Ns>,
    name: String,
    config: QueueConfig,
}

impl Ctx {
    fn err(
        &self,
        op: &'static str,
        subject: Subject<'_>,
        e: impl std::fmt::Display + std::fmt::Debug,
    ) -> QueueError {
        map(op, &self.name, subject, e)
    }

    /// Opens a link on the link connection with `open`, returning it with the generation of
    /// the connection it was opened on. Bounded by `SEND_BOUND`, the wait for the shared
    /// client included: an open with no answer holds the client, and every sender and receiver
    /// of the connection with it, so past the bound the connection is taken as dead and
    /// replaced in the background (as it is at once when the error says so).
    async fn open_link<T, E: std::fmt::Display + std::fmt::Debug>(
        &self,
        op: &'static str,
        open: impl AsyncFnOnce(&mut Client) -> Result<T, E>,
    ) -> Result<(T, u64), QueueError> {
        let ns = &self.ns;
        let mut generation = ns.links_generation.load(Ordering::Acquire);
        let opened = tokio::time::timeout(SEND_BOUND, async {
            let mut client = ns.links.lock().await;
            generation = ns.links_generation.load(Ordering::Acquire);
            open(&mut client).await
        })
        .await;
        match opened {
            Ok(Ok(link)) => Ok((link, generation)),
            Ok(Err(e)) => Err(replace_links_if_dead(
                ns,
                generation,
                self.err(op, Subject::Queue, e),
            )),
            Err(_) => {
                let ns = Arc::clone(ns);
                tokio::spawn(async move {
                    ns.replace_links_connection_from(generation, "opening a link got no answer")
                        .await;
                });
                Err(QueueError::Backend {
                    op,
                    message: format!("no answer within {SEND_BOUND:?}"),
                    retryable: true,
                    source: None,
                })
            }
        }
    }

    fn lock_lost(&self, seq: i64) -> QueueError {
        QueueError::LockLost {
            queue: self.name.clone(),
            sequence_number: seq,
        }
    }

    fn check_plain(&self, what: &str) -> Result<(), QueueError> {
        if self.config.requires_session {
            return Err(QueueError::invalid_operation(format!(
                "{what} on session queue {:?}: use a session receiver",
                self.name
            )));
        }
        Ok(())
    }

    fn check_sessions(&self) -> Result<(), QueueError> {
        if !self.config.requires_session {
            return Err(QueueError::invalid_operation(format!(
                "queue {:?} does not require sessions",
                self.name
            )));
        }
        Ok(())
    }

    fn validate(&self, m: &OutgoingMessage) -> Result<(), QueueError> {
        if m.message_id.is_empty() || m.message_id.len() > MAX_ID_LEN {
            return Err(QueueError::invalid_argument(format!(
                "message id must be 1 to {MAX_ID_LEN} characters"
            )));
        }
        for (what, v) in [
            ("session id", &m.session_id),
            ("correlation id", &m.correlation_id),
        ] {
            if v.as_ref().is_some_and(|v| v.len() > MAX_ID_LEN) {
                return Err(QueueError::invalid_argument(format!(
                    "{what} longer than {MAX_ID_LEN} characters"
                )));
            }
        }
        if self.config.requires_session && m.session_id.as_deref().is_none_or(str::is_empty) {
            return Err(QueueError::invalid_argument(format!(
                "queue {:?} requires a session id on every message",
                self.name
            )));
        }
        Ok(())
    }
}

fn to_sdk_message(m: &OutgoingMessage) -> Result<ServiceBusMessage, QueueError> {
    let bad = |e: &dyn std::fmt::Display| QueueError::invalid_argument(e.to_string());
    let mut out = ServiceBusMessage::new(m.body.to_vec());
    out.set_message_id(m.message_id.clone())
        .map_err(|e| bad(&e))?;
    out.set_session_id(m.session_id.clone())
        .map_err(|e| bad(&e))?;
    out.set_correlation_id(m.correlation_id.clone());
    out.set_content_type(m.content_type.clone());
    out.set_subject(m.subject.clone());
    if let Some(ttl) = m.time_to_live {
        out.set_time_to_live(ttl).map_err(|e| bad(&e))?;
    }
    if let Some(at) = m.scheduled_enqueue_time {
        out.set_scheduled_enqueue_time(at);
    }
    *out.application_properties_mut() =
        Some(convert::application_properties(&m.application_properties));
    Ok(out)
}

/// Whether `e` says the AMQP session or connection under its link ended (see
/// [`crate::error::connection_ended`]). Such errors are retryable; the connection itself is
/// replaced at the first one instead of after a bound runs out on every link.
fn dead_connection(e: &QueueError) -> bool {
    crate::error::connection_ended(&format!("{e} {e:?}"))
}

/// How long a link being let go of may take to close.
const CLOSE_BOUND: Duration = Duration::from_secs(30);

/// Closes a link in the background (`dispose` is the link's `dispose()`). Never just drop a
/// live link: fe2o3 then sends a detach without waiting for the broker's, and the broker's
/// answering detach reaches a link that is gone, which fe2o3 takes as `UnattachedHandle` and
/// ends the AMQP session over — every other link on the connection with it.
fn close_in_background<T: Send + 'static>(
    dispose: impl std::future::Future<Output = T> + Send + 'static,
) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(CLOSE_BOUND, dispose).await;
    });
}

/// When `e` says the link connection (generation `seen`) died, replaces it in the background.
fn replace_links_if_dead(ns: &Arc<Ns>, seen: u64, e: QueueError) -> QueueError {
    if dead_connection(&e) {
        let ns = Arc::clone(ns);
        tokio::spawn(async move {
            ns.replace_links_connection_from(seen, "the link connection's AMQP session ended")
                .await;
        });
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Sender

/// Sender links per queue handle. The SDK's send takes the link exclusively until the broker
/// settles the transfer, so one link carries one send per round trip: at 200 concurrent calls
/// the ingress's callbacks queued for seconds behind each other. A few links carry that many
/// sends in parallel; each is opened on first use.
const SEND_LINKS: usize = 4;

/// A sender link and the generation of the link connection it was opened on.
type SendLink = Option<(ServiceBusSender, u64)>;

struct SbSender {
    core: Arc<SenderCore>,
    /// Receives what [`QueueSender::send_dead_letter`] sent, to dead-letter it (Service Bus
    /// takes no sends into a dead-letter queue). Its links open on first use only.
    pending: SbReceiver,
}

/// The links of an [`SbSender`], shared with the tasks that send on them.
struct SenderCore {
    ctx: Arc<Ctx>,
    links: Box<[Mutex<SendLink>]>,
    /// Where the next send starts looking for a free link.
    next: AtomicUsize,
}

impl SbSender {
    fn new(ctx: Arc<Ctx>) -> Self {
        Self {
            pending: SbReceiver {
                ctx: Arc::clone(&ctx),
                pool: Pool::new(Arc::clone(&ctx), SubQueue::None),
            },
            core: Arc::new(SenderCore {
                ctx,
                links: (0..SEND_LINKS).map(|_| Mutex::new(None)).collect(),
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// Dead-letters the messages waiting on this queue with a pending dead-letter reason
    /// (any sender's: on a queue only rejecting senders use, every message is one), until
    /// `message_id` is among them or the queue has nothing more to give. A message of
    /// another kind is abandoned (given back at once).
    async fn settle_pending(&self, message_id: &str) -> Result<(), QueueError> {
        let deadline = tokio::time::Instant::now() + PENDING_PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let batch = self.pending.receive(16, left).await?;
            if batch.is_empty() {
                // Another replica's receive holds it and dead-letters it, or its lock ends
                // and the next call here sweeps it: the message is durable either way.
                return Ok(());
            }
            let mut found = false;
            for d in &batch {
                let text = |k: &str| d.property(k).and_then(PropertyValue::as_str);
                match text(PENDING_DEAD_LETTER_REASON) {
                    Some(reason) => {
                        let description = text(PENDING_DEAD_LETTER_DESCRIPTION).unwrap_or("");
                        self.pending.dead_letter(d, reason, description).await?;
                        found |= d.message_id == message_id;
                    }
                    None => self.pending.abandon(d, None).await?,
                }
            }
            if found {
                return Ok(());
            }
        }
    }

    async fn send_all(&self, messages: &[OutgoingMessage]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let ctx = &self.core.ctx;
        let mut size = 0;
        let mut sdk = Vec::with_capacity(messages.len());
        for m in messages {
            ctx.validate(m)?;
            size += m.size();
            sdk.push(to_sdk_message(m)?);
        }
        if size > ctx.config.max_message_size {
            return Err(QueueError::MessageTooLarge {
                size,
                max: ctx.config.max_message_size,
            });
        }
        // The send runs in its own task, so a caller that goes away mid-send (the ingress's
        // HTTP client hung up; a timeout above) cannot cut a transfer in half: an SDK send
        // dropped between transfer and disposition leaves its link unusable, and every later
        // send on that link failed. Each step in the task is bounded (see `send_on_link`).
        let core = Arc::clone(&self.core);
        let mut task = tokio::spawn(async move { core.send_on_link(sdk).await });
        // Waiting for a link (other sends, a reconnect) counts too: a caller never waits more
        // than two send bounds, whatever the connection does; the send itself may still land
        // after that, which at-least-once delivery allows.
        match tokio::time::timeout(SEND_BOUND * 2, &mut task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(QueueError::Backend {
                op: "send",
                message: format!("the send task failed: {e}"),
                retryable: true,
                source: None,
            }),
            Err(_) => Err(QueueError::Backend {
                op: "send",
                message: format!("no send completed within {:?}", SEND_BOUND * 2),
                retryable: true,
                source: None,
            }),
        }
    }
}

impl SenderCore {
    /// A free link slot if there is one, else the next one in turn once it is free.
    async fn slot(&self) -> tokio::sync::MutexGuard<'_, SendLink> {
        let n = self.links.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(free) = self.links[(start + i) % n].try_lock() {
                return free;
            }
        }
        self.links[start % n].lock().await
    }

    async fn send_on_link(&self, mut sdk: Vec<ServiceBusMessage>) -> Result<(), QueueError> {
        let mut link = self.slot().await;
        if link.is_none() {
            let name = self.ctx.name.clone();
            let opened = self
                .ctx
                .open_link("open sender", async |client: &mut Client| {
                    client
                        .create_sender(name, ServiceBusSenderOptions::default())
                        .await
                })
                .await?;
            *link = Some(opened);
        }
        let Some((sender, generation)) = link.as_mut() else {
            return Err(QueueError::corrupt("send", "sender link missing"));
        };
        let generation = *generation;
        let send = async {
            if sdk.len() == 1 {
                let one = sdk
                    .pop()
                    .ok_or_else(|| QueueError::corrupt("send", "empty batch"))?;
                Ok(sender.send_message(one).await)
            } else {
                Ok(sender.send_messages(sdk).await)
            }
        };
        // Every send of this process goes through these few links on one connection, so a
        // send the broker never answers would stall them all for the client library's retries
        // (minutes); past `SEND_BOUND` the connection is taken as dead and replaced.
        let result = match tokio::time::timeout(SEND_BOUND, send).await {
            Ok(r) => r?,
            Err(_) => {
                if let Some((sender, _)) = link.take() {
                    close_in_background(sender.dispose());
                }
                let ns = Arc::clone(&self.ctx.ns);
                tokio::spawn(async move {
                    ns.replace_links_connection_from(generation, "a send got no answer")
                        .await;
                });
                return Err(QueueError::Backend {
                    op: "send",
                    message: format!("no answer within {SEND_BOUND:?}"),
                    retryable: true,
                    source: None,
                });
            }
        };
        result.map_err(|e| {
            let err = self.ctx.err("send", Subject::Queue, e);
            if err.is_retryable() {
                // Re-open the link on the next call (the SDK has retried already).
                if let Some((sender, _)) = link.take() {
                    close_in_background(sender.dispose());
                }
            }
            replace_links_if_dead(&self.ctx.ns, generation, err)
        })
    }
}

#[async_trait]
impl QueueSender for SbSender {
    fn queue_name(&self) -> &str {
        &self.core.ctx.name
    }

    async fn send(&self, message: OutgoingMessage) -> Result<(), QueueError> {
        self.send_all(std::slice::from_ref(&message)).await
    }

    async fn send_batch(&self, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        self.send_all(&messages).await
    }

    /// Service Bus accepts messages into a dead-letter queue only through the dead-letter
    /// operation of a received message ("messages can only be submitted via the dead-letter
    /// operation of the parent entity",
    /// <https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues>),
    /// so this sends the message with its reason in [`PENDING_DEAD_LETTER_REASON`], receives
    /// and dead-letters it. Plain queues only, and only one that no other process receives
    /// from (the deployment's `ingress-rejects` queue): a consumer would otherwise get it.
    async fn send_dead_letter(
        &self,
        mut message: OutgoingMessage,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError> {
        if self.core.ctx.config.requires_session {
            return Err(QueueError::invalid_operation(
                "send_dead_letter needs a plain queue on Service Bus (it receives what it sent)",
            ));
        }
        let props = &mut message.application_properties;
        props.insert(PENDING_DEAD_LETTER_REASON.into(), reason.into());
        props.insert(PENDING_DEAD_LETTER_DESCRIPTION.into(), description.into());
        let id = message.message_id.clone();
        self.send_all(std::slice::from_ref(&message)).await?;
        self.settle_pending(&id).await
    }
}

/// How long [`SbSender::settle_pending`] waits for what it sent to come back.
const PENDING_PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Receiver links and held deliveries

/// One receiver link; a receive holds it for its duration, a settle for the round trip.
struct Slot {
    link: Arc<Mutex<Option<ServiceBusReceiver>>>,
    drain: DrainGuard,
    /// Settles waiting for this link: a receive holding it cuts its wait short for them.
    wanted: LinkWanted,
    /// Bumped whenever the link is (re-)opened: deliveries of an earlier link cannot be
    /// settled through the new one (their lock went with the old link).
    generation: std::sync::atomic::AtomicU64,
    /// Generation of the link connection the current link was opened on.
    connection: AtomicU64,
}

/// After a receive that ran out its wait, the SDK drains the link's credit and returns
/// without waiting for the broker's answering flow. Asking for credit again before that
/// answer arrives computes the credit from a stale delivery count, which the broker reads as
/// zero credit (fe2o3-amqp 0.14 `Receiver::drain`): the next receive would then wait its whole
/// wait for nothing. So a drained link rests for a round trip before it asks again.
#[derive(Default)]
struct DrainGuard(StdMutex<Option<tokio::time::Instant>>);

/// How long a drained link rests (a generous round trip).
const DRAIN_SETTLE: Duration = Duration::from_millis(60);

impl DrainGuard {
    async fn settle(&self) {
        let since = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(since) = since {
            tokio::time::sleep_until(since + DRAIN_SETTLE).await;
        }
    }

    fn drained(&self, yes: bool) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            yes.then(tokio::time::Instant::now);
    }

    fn is_drained(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// Receiver links of one (sub-)queue, so concurrent receives do not queue behind each other.
struct Pool {
    ctx: Arc<Ctx>,
    sub_queue: SubQueue,
    slots: StdMutex<Vec<Arc<Slot>>>,
}

impl Pool {
    fn new(ctx: Arc<Ctx>, sub_queue: SubQueue) -> Self {
        Self {
            ctx,
            sub_queue,
            slots: StdMutex::new(Vec::new()),
        }
    }

    /// An idle link (or a new one, up to the limit), locked for this caller.
    async fn take(
        &self,
    ) -> Result<(Arc<Slot>, OwnedMutexGuard<Option<ServiceBusReceiver>>), QueueError> {
        let (slot, idle) = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let mut idle = None;
            for slot in slots.iter() {
                if let Ok(guard) = Arc::clone(&slot.link).try_lock_owned() {
                    idle = Some((Arc::clone(slot), guard));
                    break;
                }
            }
            match idle {
                Some((slot, guard)) => (slot, Some(guard)),
                None if slots.len() < self.ctx.ns.options.max_receiver_links.max(1) => {
                    let slot = Arc::new(Slot {
                        link: Arc::new(Mutex::new(None)),
                        drain: DrainGuard::default(),
                        wanted: LinkWanted::default(),
                        generation: std::sync::atomic::AtomicU64::new(0),
                        connection: AtomicU64::new(0),
                    });
                    slots.push(Arc::clone(&slot));
                    (slot, None)
                }
                None => (Arc::clone(&slots[0]), None),
            }
        };
        if let Some(guard) = idle {
            return self.ensure(slot, guard).await;
        }
        let first = slot;
        let guard = Arc::clone(&first.link).lock_owned().await;
        self.ensure(first, guard).await
    }

    /// Messages that reached another idle link after its last receive gave up. A receive
    /// whose wait runs out drains the link's credit, but a message the broker sent before it
    /// saw the drain still arrives and waits in that link's buffer, locked, until that link
    /// receives again; with several links per receiver it may never (the competing-receivers
    /// conformance check ended with 199 of 200 messages, 1 run in 50). So a receive that found
    /// nothing looks at the other idle links that drained, briefly, before it says "empty".
    /// `got` as received on `slot`, or, when it is empty, what another link holds.
    async fn or_late_arrivals(
        &self,
        slot: Arc<Slot>,
        got: Vec<ServiceBusReceivedMessage>,
    ) -> (Arc<Slot>, Vec<ServiceBusReceivedMessage>) {
        if !got.is_empty() {
            return (slot, got);
        }
        self.late_arrivals(&slot).await.unwrap_or((slot, got))
    }

    async fn late_arrivals(
        &self,
        used: &Arc<Slot>,
    ) -> Option<(Arc<Slot>, Vec<ServiceBusReceivedMessage>)> {
        let idle: Vec<_> = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots
                .iter()
                .filter(|slot| !Arc::ptr_eq(slot, used) && slot.drain.is_drained())
                .filter_map(|slot| {
                    let guard = Arc::clone(&slot.link).try_lock_owned().ok()?;
                    guard.is_some().then(|| (Arc::clone(slot), guard))
                })
                .collect()
        };
        for (slot, guard) in idle {
            let (_guard, got) = receive_on(&self.ctx, &slot, guard, MIN_WAIT).await;
            match got {
                Ok(got) if !got.is_empty() => return Some((slot, got)),
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(queue = %self.ctx.name, error = %e, "late-arrival check failed");
                }
            }
        }
        None
    }

    async fn ensure(
        &self,
        slot: Arc<Slot>,
        mut guard: OwnedMutexGuard<Option<ServiceBusReceiver>>,
    ) -> Result<(Arc<Slot>, OwnedMutexGuard<Option<ServiceBusReceiver>>), QueueError> {
        if guard.is_none() {
            let options = ServiceBusReceiverOptions {
                prefetch_count: self.ctx.ns.options.prefetch_count,
                receive_mode: ServiceBusReceiveMode::PeekLock,
                sub_queue: self.sub_queue.clone(),
                ..ServiceBusReceiverOptions::default()
            };
            let name = self.ctx.name.clone();
            let (receiver, connection) = self
                .ctx
                .open_link("open receiver", async |client: &mut Client| {
                    client.create_receiver_for_queue(name, options).await
                })
                .await?;
            *guard = Some(receiver);
            slot.connection.store(connection, Ordering::Release);
            slot.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok((slot, guard))
    }
}

/// What a [`Delivery`] of this adapter carries in [`Delivery::backend`].
struct Held {
    queue: String,
    message: Mutex<Option<ServiceBusReceivedMessage>>,
    link: Link,
    locked_until: StdMutex<OffsetDateTime>,
    sequence_number: i64,
    /// [`Slot::generation`] of the link it came on.
    generation: u64,
}

enum Link {
    Queue(Arc<Slot>),
    DeadLetters(Arc<Slot>),
    Session(Arc<SessionLink>),
}

fn held(d: &Delivery) -> Result<Arc<Held>, QueueError> {
    let any: Arc<dyn Any + Send + Sync> =
        d.backend
            .as_ref()
            .map(|b| Arc::clone(&b.0))
            .ok_or_else(|| {
                QueueError::invalid_operation("delivery was not received from Service Bus")
            })?;
    any.downcast::<Held>()
        .map_err(|_| QueueError::invalid_operation("delivery was not received from Service Bus"))
}

fn locked_until_of(m: &ServiceBusReceivedMessage) -> Option<OffsetDateTime> {
    convert::annotation_time(m.raw_amqp_message(), LOCKED_UNTIL)
}

fn to_delivery(
    ctx: &Ctx,
    m: ServiceBusReceivedMessage,
    link: Link,
    dead_lettered: bool,
    session_locked_until: Option<OffsetDateTime>,
) -> Result<Delivery, QueueError> {
    let message = convert::decode_message(&ctx.name, m.raw_amqp_message(), dead_lettered)
        .map_err(|e| QueueError::corrupt("receive", e.to_string()))?;
    let locked_until = session_locked_until
        .or_else(|| locked_until_of(&m))
        .unwrap_or_else(|| OffsetDateTime::now_utc() + ctx.config.lock_duration);
    let lock_token = uuid::Uuid::from_bytes(*m.lock_token().as_inner());
    let sequence_number = message.sequence_number;
    let generation = match &link {
        Link::Queue(slot) | Link::DeadLetters(slot) => slot.generation.load(Ordering::Acquire),
        Link::Session(_) => 0,
    };
    let held = Held {
        generation,
        queue: ctx.name.clone(),
        message: Mutex::new(Some(m)),
        link,
        locked_until: StdMutex::new(locked_until),
        sequence_number,
    };
    Ok(Delivery {
        message,
        lock_token,
        locked_until,
        backend: Some(BackendHandle(Arc::new(held))),
    })
}

enum Settle<'a> {
    Complete,
    Abandon(Option<&'a Properties>),
    DeadLetter(&'a str, &'a str),
    Defer,
}

/// Settles through a plain receiver link (queue or dead-letter queue).
async fn settle_on_link(
    ctx: &Ctx,
    h: &Held,
    slot: &Slot,
    how: Settle<'_>,
) -> Result<(), QueueError> {
    let mut msg = h.message.lock().await;
    let Some(m) = msg.as_ref() else {
        return Err(ctx.lock_lost(h.sequence_number));
    };
    let until = *h
        .locked_until
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if OffsetDateTime::now_utc() >= until {
        *msg = None;
        return Err(ctx.lock_lost(h.sequence_number));
    }
    let mut link = lock_for_settle(slot).await;
    let Some(r) = link
        .as_mut()
        .filter(|_| slot.generation.load(Ordering::Acquire) == h.generation)
    else {
        // The link was re-opened since: its deliveries' locks are gone with it.
        *msg = None;
        return Err(ctx.lock_lost(h.sequence_number));
    };
    let result = match how {
        Settle::Complete => r.complete_message(m).await,
        Settle::Abandon(p) => {
            r.abandon_message(m, p.map(convert::properties_to_modify))
                .await
        }
        Settle::DeadLetter(reason, description) => {
            r.dead_letter_message(
                m,
                DeadLetterOptions {
                    dead_letter_reason: Some(reason.to_owned()),
                    dead_letter_error_description: Some(description.to_owned()),
                    properties_to_modify: None,
                },
            )
            .await
        }
        Settle::Defer => r.defer_message(m, None).await,
    };
    *msg = None;
    result.map_err(|e| ctx.err("settle", Subject::Message(h.sequence_number), e))
}

async fn renew_on_link(ctx: &Ctx, h: &Held, slot: &Slot) -> Result<OffsetDateTime, QueueError> {
    let mut msg = h.message.lock().await;
    let Some(m) = msg.as_mut() else {
        return Err(ctx.lock_lost(h.sequence_number));
    };
    if OffsetDateTime::now_utc()
        >= *h
            .locked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    {
        *msg = None;
        return Err(ctx.lock_lost(h.sequence_number));
    }
    let mut link = lock_for_settle(slot).await;
    let Some(r) = link
        .as_mut()
        .filter(|_| slot.generation.load(Ordering::Acquire) == h.generation)
    else {
        return Err(ctx.lock_lost(h.sequence_number));
    };
    r.renew_message_lock(m)
        .await
        .map_err(|e| ctx.err("renew lock", Subject::Message(h.sequence_number), e))?;
    let until = locked_until_of(m)
        .ok_or_else(|| QueueError::corrupt("renew lock", "no locked-until in the renewal"))?;
    *h.locked_until
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = until;
    Ok(until)
}

/// The link's lock for a settle or renewal: a receive waiting on the link hands it over
/// (see [`crate::link_wait`]) instead of making the settle wait out its whole wait.
async fn lock_for_settle(slot: &Slot) -> tokio::sync::MutexGuard<'_, Option<ServiceBusReceiver>> {
    if let Ok(link) = tokio::time::timeout(CUT_AFTER, slot.link.lock()).await {
        return link;
    }
    let _want = slot.wanted.want();
    slot.link.lock().await
}

/// How long a settle waits for its link before it cuts a receive short: under load the
/// receive ends on its own by then (a message came), and it is not held up for the settle.
const CUT_AFTER: Duration = Duration::from_millis(20);

type LinkGuard = OwnedMutexGuard<Option<ServiceBusReceiver>>;

/// Receives one message on `slot`'s link (held by `guard`) within `wait` (see the note at the
/// top of this file on why one). A settle that needs the link meanwhile cuts the SDK's wait
/// short (the link keeps its credit) and gets the link before the wait goes on; the guard
/// handed back holds the link again.
async fn receive_on(
    ctx: &Ctx,
    slot: &Slot,
    mut guard: LinkGuard,
    wait: Duration,
) -> (
    LinkGuard,
    Result<Vec<ServiceBusReceivedMessage>, QueueError>,
) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // The rest after a drain holds the link too: a settle cuts it short as well.
        tokio::select! {
            () = slot.drain.settle() => {}
            () = slot.wanted.wanted() => {}
        }
        if slot.wanted.is_wanted() {
            // The link's mutex is fair: a settle that asked for it before this goes first.
            // Then back to the rest, which counts from the drain.
            let link = OwnedMutexGuard::mutex(&guard).clone();
            drop(guard);
            guard = link.lock_owned().await;
            if guard.is_none() {
                // Closed meanwhile (the queue handle is going away): nothing more to get.
                return (guard, Ok(Vec::new()));
            }
            continue;
        }
        let Some(r) = guard.as_mut() else {
            return (
                guard,
                Err(QueueError::corrupt("receive", "receiver link missing")),
            );
        };
        let slice = receive_slice(&ctx.ns.options, deadline);
        let result = match receive_on_inner(ctx, r, slice, slot.wanted.wanted()).await {
            Ok(Received::Cut) => {
                // Cut for a settle: the link keeps its credit (not drained, so no rest), and
                // this receive goes on after the settle — past the deadline too, for one last
                // slice that drains it: a cut is never where a receive ends.
                slot.drain.drained(false);
                continue;
            }
            Ok(Received::Got(got)) => Ok(got),
            Err(e) => Err(e),
        };
        // Nothing came: the wait ran out and the SDK drained the link (or the receive failed).
        slot.drain
            .drained(result.as_ref().map_or(true, Vec::is_empty));
        match result {
            Ok(got) if got.is_empty() && tokio::time::Instant::now() < deadline => {}
            other => return (guard, other),
        }
    }
}

/// How one slice of a receive ended.
enum Received {
    /// Its wait ran out (the link drained) or messages came.
    Got(Vec<ServiceBusReceivedMessage>),
    /// A settle cut its wait short; the link keeps its credit.
    Cut,
}

async fn receive_on_inner(
    ctx: &Ctx,
    r: &mut ServiceBusReceiver,
    wait: Duration,
    cut: impl std::future::Future<Output = ()>,
) -> Result<Received, QueueError> {
    let (got, was_cut) = r
        .receive_messages_with_max_wait_time_or_cut(1, wait, cut)
        .await
        .map_err(|e| ctx.err("receive", Subject::Queue, e))?;
    if was_cut && got.is_empty() {
        return Ok(Received::Cut);
    }
    Ok(Received::Got(got))
}

fn check_max(max: usize) -> Result<(), QueueError> {
    if max == 0 {
        return Err(QueueError::invalid_argument("max must be at least 1"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Receiver

struct SbReceiver {
    ctx: Arc<Ctx>,
    pool: Pool,
}

impl SbReceiver {
    fn own(&self, d: &Delivery) -> Result<(Arc<Held>, Arc<Slot>), QueueError> {
        let h = held(d)?;
        match &h.link {
            Link::Queue(slot) if h.queue == self.ctx.name => {
                let slot = Arc::clone(slot);
                Ok((h, slot))
            }
            Link::Session(_) => Err(QueueError::invalid_operation(
                "settle a session message through its session receiver",
            )),
            Link::DeadLetters(_) => Err(QueueError::invalid_operation(
                "settle a dead letter through the dead-letter queue",
            )),
            Link::Queue(_) => Err(QueueError::invalid_operation(
                "delivery belongs to another queue",
            )),
        }
    }

    async fn peek_all(&self, from: i64, max: usize) -> Result<Vec<Message>, QueueError> {
        self.ctx.check_plain("peek")?;
        let (_slot, mut guard) = self.pool.take().await?;
        let r = guard
            .as_mut()
            .ok_or_else(|| QueueError::corrupt("peek", "receiver link missing"))?;
        let max32 = u32::try_from(max).unwrap_or(u32::MAX);
        let peeked = r
            .peek_messages(max32, Some(from))
            .await
            .map_err(|e| self.ctx.err("peek", Subject::Queue, e))?;
        peeked
            .iter()
            .map(|p| {
                convert::decode_peeked(&self.ctx.name, p.raw_amqp_message(), false)
                    .map_err(|e| QueueError::corrupt("peek", e.to_string()))
            })
            .collect()
    }
}

#[async_trait]
impl QueueReceiver for SbReceiver {
    fn queue_name(&self) -> &str {
        &self.ctx.name
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        check_max(max)?;
        self.ctx.check_plain("receive")?;
        let (slot, guard) = self.pool.take().await?;
        let (mut guard, got) = receive_on(&self.ctx, &slot, guard, wait).await;
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                if e.is_retryable() {
                    if let Some(r) = guard.take() {
                        close_in_background(r.dispose());
                    }
                }
                let connection = slot.connection.load(Ordering::Acquire);
                return Err(replace_links_if_dead(&self.ctx.ns, connection, e));
            }
        };
        drop(guard);
        let (slot, got) = self.pool.or_late_arrivals(slot, got).await;
        got.into_iter()
            .map(|m| to_delivery(&self.ctx, m, Link::Queue(Arc::clone(&slot)), false, None))
            .collect()
    }

    async fn receive_deferred(
        &self,
        sequence_numbers: &[i64],
    ) -> Result<Vec<Delivery>, QueueError> {
        self.ctx.check_plain("receive_deferred")?;
        let (slot, mut guard) = self.pool.take().await?;
        let r = guard
            .as_mut()
            .ok_or_else(|| QueueError::corrupt("receive_deferred", "receiver link missing"))?;
        let first = sequence_numbers.first().copied().unwrap_or(0);
        let got = r
            .receive_deferred_messages(sequence_numbers.to_vec())
            .await
            .map_err(|e| self.ctx.err("receive_deferred", Subject::Message(first), e))?;
        drop(guard);
        got.into_iter()
            .map(|m| to_delivery(&self.ctx, m, Link::Queue(Arc::clone(&slot)), false, None))
            .collect()
    }

    async fn peek(
        &self,
        from_sequence_number: i64,
        max: usize,
    ) -> Result<Vec<Message>, QueueError> {
        self.peek_all(from_sequence_number, max).await
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let (h, slot) = self.own(delivery)?;
        settle_on_link(&self.ctx, &h, &slot, Settle::Complete).await
    }

    async fn abandon(
        &self,
        delivery: &Delivery,
        properties_to_modify: Option<Properties>,
    ) -> Result<(), QueueError> {
        let (h, slot) = self.own(delivery)?;
        settle_on_link(
            &self.ctx,
            &h,
            &slot,
            Settle::Abandon(properties_to_modify.as_ref()),
        )
        .await
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError> {
        let (h, slot) = self.own(delivery)?;
        settle_on_link(
            &self.ctx,
            &h,
            &slot,
            Settle::DeadLetter(reason, description),
        )
        .await
    }

    async fn defer(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let (h, slot) = self.own(delivery)?;
        settle_on_link(&self.ctx, &h, &slot, Settle::Defer).await
    }

    async fn renew_lock(&self, delivery: &Delivery) -> Result<OffsetDateTime, QueueError> {
        let (h, slot) = self.own(delivery)?;
        renew_on_link(&self.ctx, &h, &slot).await
    }

    async fn accept_next_session(
        &self,
        wait: Duration,
    ) -> Result<Option<Box<dyn SessionReceiver>>, QueueError> {
        self.ctx.check_sessions()?;
        let mut deadline = tokio::time::Instant::now() + wait;
        let mut replaced = false;
        loop {
            let options = ServiceBusSessionReceiverOptions {
                prefetch_count: self.ctx.ns.options.prefetch_count,
                receive_mode: ServiceBusReceiveMode::PeekLock,
                identifier: None,
            };
            let asked = tokio::time::Instant::now();
            let (attempt, ticket, waited) = {
                let (mut client, ticket) = self.ctx.ns.session_client().await?;
                let waited = asked.elapsed();
                let attempt = tokio::time::timeout(
                    wait + ACCEPT_GRACE,
                    client.accept_next_session_for_queue(self.ctx.name.clone(), options),
                )
                .await;
                (attempt, ticket, waited)
            };
            tracing::debug!(
                queue = %self.ctx.name,
                waited_for_client_ms = waited.as_millis() as u64,
                took_ms = (asked.elapsed() - waited).as_millis() as u64,
                outcome = match &attempt {
                    Ok(Ok(r)) => format!("session {}", r.session_id()),
                    Ok(Err(e)) => format!("error {e}"),
                    Err(_) => "client timeout".to_string(),
                },
                "accept_next_session attempt"
            );
            match attempt {
                Ok(Ok(receiver)) => {
                    return Ok(Some(Box::new(SbSession::new(
                        Arc::clone(&self.ctx),
                        receiver,
                        ticket,
                    ))))
                }
                Ok(Err(e)) => {
                    let err = self.ctx.err("accept_next_session", Subject::Queue, &e);
                    let text = format!("{e} {e:?}").to_ascii_lowercase();
                    // No session available within the broker's wait: Service Bus answers with
                    // `com.microsoft:timeout` (an attach without a session filter).
                    let none_available = text.contains("timeout")
                        || text.contains("sessionidnotset")
                        || text.contains("filter");
                    if !none_available && dead_connection(&err) {
                        // The connection's AMQP session is gone: every later accept on it
                        // would fail the same way. Replace it and try once more.
                        if replaced {
                            return Err(err);
                        }
                        self.ctx.ns.session_connection_ended(ticket).await;
                        replaced = true;
                        continue;
                    }
                    if !none_available && !err.is_retryable() {
                        return Err(err);
                    }
                }
                Err(_elapsed) => {
                    // The broker answers an accept within its own wait, with a session or
                    // without one. No answer at all means the connection stopped delivering
                    // attach answers; an attach the broker did answer may even hold a session
                    // nobody here will serve. Later accepts on it would fail the same way (and
                    // could lock more sessions for nobody), so replace the connection: closing
                    // it detaches its links, which releases every session they hold.
                    // One more try on the fresh connection, with the same wait: what the
                    // lost answer locked is free again now.
                    if replaced {
                        return Ok(None);
                    }
                    self.ctx
                        .ns
                        .replace_sessions_connection(ticket.conn, "session accept got no answer")
                        .await;
                    replaced = true;
                    deadline = tokio::time::Instant::now() + wait;
                    continue;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    fn concurrent_accepts(&self) -> usize {
        SESSION_CONNECTIONS
    }

    async fn accept_session(
        &self,
        session_id: &str,
    ) -> Result<Box<dyn SessionReceiver>, QueueError> {
        self.ctx.check_sessions()?;
        let options = ServiceBusSessionReceiverOptions {
            prefetch_count: self.ctx.ns.options.prefetch_count,
            receive_mode: ServiceBusReceiveMode::PeekLock,
            identifier: None,
        };
        let mut ticket = None;
        let accepted = tokio::time::timeout(NAMED_ACCEPT_BOUND, async {
            let (mut client, t) = self.ctx.ns.session_client().await?;
            ticket = Some(t);
            let accepted = client
                .accept_session_for_queue(self.ctx.name.clone(), session_id.to_owned(), options)
                .await;
            Ok::<_, QueueError>((t, accepted))
        })
        .await;
        let Ok(accepted) = accepted else {
            // As in `accept_next_session`: no answer means the connection stopped delivering.
            // No ticket: the session connections were opening, or all busy, the whole bound.
            if let Some(ticket) = ticket {
                self.ctx
                    .ns
                    .replace_sessions_connection_from(ticket, "a session accept got no answer")
                    .await;
            }
            return Err(QueueError::Backend {
                op: "accept_session",
                message: format!("no answer within {NAMED_ACCEPT_BOUND:?}"),
                retryable: true,
                source: None,
            });
        };
        let (ticket, receiver) = accepted?;
        match receiver {
            Ok(r) => Ok(Box::new(SbSession::new(Arc::clone(&self.ctx), r, ticket))),
            Err(e) => {
                let text = format!("{e} {e:?}").to_ascii_lowercase();
                let err = self
                    .ctx
                    .err("accept_session", Subject::Session(session_id), &e);
                // The broker refuses the session filter when another receiver holds the
                // session (`com.microsoft:session-cannot-be-locked`).
                if text.contains("filter") || text.contains("session-cannot-be-locked") {
                    return Err(QueueError::SessionCannotBeLocked {
                        queue: self.ctx.name.clone(),
                        session_id: session_id.to_owned(),
                    });
                }
                if dead_connection(&err) {
                    self.ctx.ns.session_connection_ended(ticket).await;
                }
                Err(err)
            }
        }
    }

    async fn runtime_properties(&self) -> Result<QueueRuntimeProperties, QueueError> {
        // A session queue cannot be peeked without a session receiver: ask the management
        // API (ATOM over HTTPS) instead.
        if self.ctx.config.requires_session {
            if let Some(m) = &self.ctx.ns.management {
                return m.queue_counts(&self.ctx.name).await;
            }
        }
        // Otherwise count by peeking: exact, and fine for the queue sizes a call centre has in
        // flight (it reads every message once), and it works on the emulator and test peer.
        let mut props = QueueRuntimeProperties::default();
        let mut from = 0;
        loop {
            let page = self.peek_all(from, 250).await?;
            let Some(last) = page.last() else { break };
            from = last.sequence_number + 1;
            for m in &page {
                match m.state {
                    MessageState::Active => props.active_message_count += 1,
                    MessageState::Deferred => props.deferred_message_count += 1,
                    MessageState::Scheduled => props.scheduled_message_count += 1,
                    MessageState::DeadLettered => props.dead_letter_message_count += 1,
                }
            }
        }
        let dlq = SbDeadLetters {
            ctx: Arc::clone(&self.ctx),
            pool: Pool::new(Arc::clone(&self.ctx), SubQueue::DeadLetter),
            sender: Arc::new(SbSender::new(Arc::clone(&self.ctx))),
        };
        let mut from = 0;
        loop {
            let page = dlq.peek(from, 250).await?;
            let Some(last) = page.last() else { break };
            from = last.sequence_number + 1;
            props.dead_letter_message_count += page.len() as u64;
        }
        dlq.pool.close().await;
        Ok(props)
    }
}

impl Pool {
    async fn close(&self) {
        let slots: Vec<_> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for slot in slots {
            if let Some(r) = slot.link.lock().await.take() {
                let _ = r.dispose().await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions

struct SessionLink {
    receiver: Mutex<Option<ServiceBusSessionReceiver>>,
    drain: DrainGuard,
    locked_until: StdMutex<OffsetDateTime>,
    closed: AtomicBool,
}

struct SbSession {
    ctx: Arc<Ctx>,
    session_id: String,
    link: Arc<SessionLink>,
    /// The session connection this session was accepted on, and its generation then.
    ticket: SessionTicket,
}

impl std::fmt::Debug for SbSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SbSession")
            .field("queue", &self.ctx.name)
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl SbSession {
    fn new(ctx: Arc<Ctx>, receiver: ServiceBusSessionReceiver, ticket: SessionTicket) -> Self {
        let session_id = receiver.session_id().to_owned();
        let until = receiver.session_locked_until();
        Self {
            ctx,
            session_id,
            ticket,
            link: Arc::new(SessionLink {
                receiver: Mutex::new(Some(receiver)),
                drain: DrainGuard::default(),
                locked_until: StdMutex::new(until),
                closed: AtomicBool::new(false),
            }),
        }
    }

    fn lost(&self) -> QueueError {
        QueueError::SessionLockLost {
            queue: self.ctx.name.clone(),
            session_id: self.session_id.clone(),
        }
    }

    /// Runs a lock-bound operation (renew, settle) for at most the time the session lock has
    /// left. No answer by then means the connection stopped answering (the broker answers
    /// these at once): the lock is as good as lost, and every other session on that
    /// connection is stuck the same way, so the connection is replaced — closing it releases
    /// their locks for other receivers — instead of waiting out the client library's own
    /// minute-long timeouts while the calls on those sessions stall.
    async fn within_lock<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, QueueError>>,
    ) -> Result<T, QueueError> {
        let left = self.until() - OffsetDateTime::now_utc();
        let left = if left.is_positive() {
            left.unsigned_abs()
        } else {
            Duration::ZERO
        };
        match tokio::time::timeout(left.max(MIN_LOCK_BOUND), fut).await {
            Ok(r) => self.watch(r),
            Err(_) => {
                Err(self
                    .connection_lost("a session operation got no answer before its lock expired"))
            }
        }
    }

    /// The session connection this session was accepted on is dead (`why`): the lock is as
    /// good as lost, and the connection is replaced in the background.
    fn connection_lost(&self, why: &'static str) -> QueueError {
        self.link.closed.store(true, Ordering::Release);
        let ns = Arc::clone(&self.ctx.ns);
        let seen = self.ticket;
        tokio::spawn(async move {
            ns.replace_sessions_connection_from(seen, why).await;
        });
        self.lost()
    }

    /// Passes `r` on; if it says the session connection died (see [`dead_connection`]), the
    /// lock is as good as lost and the connection is replaced at once.
    fn watch<T>(&self, r: Result<T, QueueError>) -> Result<T, QueueError> {
        match r {
            Err(e) if dead_connection(&e) => {
                Err(self.connection_lost("the session connection's AMQP session ended"))
            }
            other => other,
        }
    }

    fn until(&self) -> OffsetDateTime {
        *self
            .link
            .locked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The link, if the session lock still holds.
    async fn live(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<ServiceBusSessionReceiver>>, QueueError> {
        if self.link.closed.load(Ordering::Acquire) || OffsetDateTime::now_utc() >= self.until() {
            return Err(self.lost());
        }
        let guard = self.link.receiver.lock().await;
        if guard.is_none() {
            return Err(self.lost());
        }
        Ok(guard)
    }

    fn own(&self, d: &Delivery) -> Result<Arc<Held>, QueueError> {
        let h = held(d)?;
        match &h.link {
            Link::Session(l) if Arc::ptr_eq(l, &self.link) => Ok(h),
            _ => Err(QueueError::invalid_operation(
                "delivery was not received through this session receiver",
            )),
        }
    }

    async fn settle(&self, d: &Delivery, how: Settle<'_>) -> Result<(), QueueError> {
        self.within_lock(self.settle_unbounded(d, how)).await
    }

    async fn settle_unbounded(&self, d: &Delivery, how: Settle<'_>) -> Result<(), QueueError> {
        let h = self.own(d)?;
        let mut msg = h.message.lock().await;
        let mut guard = self.live().await?;
        let Some(m) = msg.as_ref() else {
            return Err(self.ctx.lock_lost(h.sequence_number));
        };
        let r = guard.as_mut().ok_or_else(|| self.lost())?;
        let result = match how {
            Settle::Complete => r.complete_message(m).await,
            Settle::Abandon(p) => {
                r.abandon_message(m, p.map(convert::properties_to_modify))
                    .await
            }
            Settle::DeadLetter(reason, description) => {
                r.dead_letter_message(
                    m,
                    DeadLetterOptions {
                        dead_letter_reason: Some(reason.to_owned()),
                        dead_letter_error_description: Some(description.to_owned()),
                        properties_to_modify: None,
                    },
                )
                .await
            }
            Settle::Defer => r.defer_message(m, None).await,
        };
        *msg = None;
        result.map_err(|e| {
            self.ctx
                .err("settle", Subject::Session(&self.session_id), e)
        })
    }

    async fn receive_unwatched(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        check_max(max)?;
        let mut guard = self.live().await?;
        let r = guard.as_mut().ok_or_else(|| self.lost())?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut got = Vec::new();
        // Slices inside the try timeout, as for plain receives (see `receive_slice`).
        while got.is_empty() {
            self.link.drain.settle().await;
            let slice = receive_slice(&self.ctx.ns.options, deadline);
            // One at a time, as plain receives (see the note at the top of this file).
            got = r
                .receive_messages_with_max_wait_time(1, slice)
                .await
                .map_err(|e| {
                    self.ctx
                        .err("receive", Subject::Session(&self.session_id), e)
                })?;
            self.link.drain.drained(got.is_empty());
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        drop(guard);
        self.deliveries(got)
    }

    fn deliveries(&self, got: Vec<ServiceBusReceivedMessage>) -> Result<Vec<Delivery>, QueueError> {
        let until = self.until();
        got.into_iter()
            .map(|m| {
                to_delivery(
                    &self.ctx,
                    m,
                    Link::Session(Arc::clone(&self.link)),
                    false,
                    Some(until),
                )
            })
            .collect()
    }
}

#[async_trait]
impl SessionReceiver for SbSession {
    fn session_id(&self) -> &str {
        &self.session_id
    }

    fn locked_until(&self) -> OffsetDateTime {
        self.until()
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        let got = self.receive_unwatched(max, wait).await;
        self.watch(got)
    }

    async fn receive_deferred(
        &self,
        sequence_numbers: &[i64],
    ) -> Result<Vec<Delivery>, QueueError> {
        let mut guard = self.live().await?;
        let r = guard.as_mut().ok_or_else(|| self.lost())?;
        let first = sequence_numbers.first().copied().unwrap_or(0);
        let got = r
            .receive_deferred_messages(sequence_numbers.iter().copied())
            .await
            .map_err(|e| self.ctx.err("receive_deferred", Subject::Message(first), e))?;
        drop(guard);
        self.deliveries(got)
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.settle(delivery, Settle::Complete).await
    }

    async fn abandon(
        &self,
        delivery: &Delivery,
        properties_to_modify: Option<Properties>,
    ) -> Result<(), QueueError> {
        self.settle(delivery, Settle::Abandon(properties_to_modify.as_ref()))
            .await
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        reason: &str,
        description: &str,
    ) -> Result<(), QueueError> {
        self.settle(delivery, Settle::DeadLetter(reason, description))
            .await
    }

    async fn defer(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.settle(delivery, Settle::Defer).await
    }

    async fn renew_session_lock(&self) -> Result<OffsetDateTime, QueueError> {
        self.within_lock(async {
            let mut guard = self.live().await?;
            let r = guard.as_mut().ok_or_else(|| self.lost())?;
            r.renew_session_lock().await.map_err(|e| {
                self.ctx
                    .err("renew_session_lock", Subject::Session(&self.session_id), e)
            })?;
            let until = r.session_locked_until();
            *self
                .link
                .locked_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = until;
            Ok(until)
        })
        .await
    }

    async fn session_state(&self) -> Result<Option<Bytes>, QueueError> {
        let mut guard = self.live().await?;
        let r = guard.as_mut().ok_or_else(|| self.lost())?;
        let state = r.session_state().await.map_err(|e| {
            self.ctx
                .err("session_state", Subject::Session(&self.session_id), e)
        })?;
        // Service Bus does not tell an empty state from none; neither does this adapter.
        Ok((!state.is_empty()).then(|| Bytes::from(state)))
    }

    async fn set_session_state(&self, state: Option<Bytes>) -> Result<(), QueueError> {
        let mut guard = self.live().await?;
        let r = guard.as_mut().ok_or_else(|| self.lost())?;
        r.set_session_state(state.map(|b| b.to_vec()).unwrap_or_default())
            .await
            .map_err(|e| {
                self.ctx
                    .err("set_session_state", Subject::Session(&self.session_id), e)
            })
    }

    async fn close(self: Box<Self>) -> Result<(), QueueError> {
        self.link.closed.store(true, Ordering::Release);
        let receiver = self.link.receiver.lock().await.take();
        if let Some(r) = receiver {
            // Closing the link releases the session lock; an error here (the lock was lost,
            // the connection dropped) leaves nothing to release.
            if let Err(e) = r.dispose().await {
                tracing::debug!(queue = %self.ctx.name, session = %self.session_id, error = %e, "closing session link failed");
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Dead-letter queue

struct SbDeadLetters {
    ctx: Arc<Ctx>,
    pool: Pool,
    sender: Arc<SbSender>,
}

impl SbDeadLetters {
    fn own(&self, d: &Delivery) -> Result<(Arc<Held>, Arc<Slot>), QueueError> {
        let h = held(d)?;
        match &h.link {
            Link::DeadLetters(slot) if h.queue == self.ctx.name => {
                let slot = Arc::clone(slot);
                Ok((h, slot))
            }
            _ => Err(QueueError::invalid_operation(
                "delivery was not received from this dead-letter queue",
            )),
        }
    }

    fn copy_of(&self, m: &Message) -> OutgoingMessage {
        let mut props: Properties = m
            .application_properties
            .iter()
            .filter(|(k, _)| {
                k.as_str() != DEAD_LETTER_REASON && k.as_str() != DEAD_LETTER_ERROR_DESCRIPTION
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        props.insert(
            RESUBMITTED_FROM_PROPERTY.to_owned(),
            PropertyValue::String(m.message_id.clone()),
        );
        OutgoingMessage {
            message_id: resubmitted_message_id(&self.ctx.name, &m.message_id, m.sequence_number),
            session_id: m.session_id.clone(),
            correlation_id: m.correlation_id.clone(),
            content_type: m.content_type.clone(),
            subject: m.subject.clone(),
            application_properties: props,
            body: m.body.clone(),
            scheduled_enqueue_time: None,
            time_to_live: None,
        }
    }
}

#[async_trait]
impl DeadLetterQueue for SbDeadLetters {
    fn queue_name(&self) -> &str {
        &self.ctx.name
    }

    async fn peek(
        &self,
        from_sequence_number: i64,
        max: usize,
    ) -> Result<Vec<Message>, QueueError> {
        let (_slot, mut guard) = self.pool.take().await?;
        let r = guard
            .as_mut()
            .ok_or_else(|| QueueError::corrupt("peek", "receiver link missing"))?;
        let max32 = u32::try_from(max).unwrap_or(u32::MAX);
        let peeked = r
            .peek_messages(max32, Some(from_sequence_number))
            .await
            .map_err(|e| self.ctx.err("peek dead letters", Subject::Queue, e))?;
        peeked
            .iter()
            .map(|p| {
                convert::decode_peeked(&self.ctx.name, p.raw_amqp_message(), true)
                    .map_err(|e| QueueError::corrupt("peek", e.to_string()))
            })
            .collect()
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        check_max(max)?;
        let (slot, guard) = self.pool.take().await?;
        let (mut guard, got) = receive_on(&self.ctx, &slot, guard, wait).await;
        let got = match got {
            Ok(got) => got,
            Err(e) => {
                if e.is_retryable() {
                    if let Some(r) = guard.take() {
                        close_in_background(r.dispose());
                    }
                }
                return Err(e);
            }
        };
        drop(guard);
        let (slot, got) = self.pool.or_late_arrivals(slot, got).await;
        got.into_iter()
            .map(|m| {
                to_delivery(
                    &self.ctx,
                    m,
                    Link::DeadLetters(Arc::clone(&slot)),
                    true,
                    None,
                )
            })
            .collect()
    }

    async fn complete(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let (h, slot) = self.own(delivery)?;
        settle_on_link(&self.ctx, &h, &slot, Settle::Complete).await
    }

    async fn abandon(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let (h, slot) = self.own(delivery)?;
        settle_on_link(&self.ctx, &h, &slot, Settle::Abandon(None)).await
    }

    async fn resubmit(&self, sequence_number: i64) -> Result<String, QueueError> {
        let not_found = || QueueError::MessageNotFound {
            queue: self.ctx.name.clone(),
            sequence_number,
        };
        let peeked = self.peek(sequence_number, 1).await?;
        if peeked.first().map(|m| m.sequence_number) != Some(sequence_number) {
            return Err(not_found());
        }
        // Service Bus cannot lock a dead letter by sequence number: receive until it turns up,
        // putting the others back.
        let mut others = Vec::new();
        let mut found = None;
        for _ in 0..50 {
            let batch = self.receive(50, Duration::from_millis(200)).await?;
            if batch.is_empty() {
                break;
            }
            for d in batch {
                if d.sequence_number == sequence_number && found.is_none() {
                    found = Some(d);
                } else {
                    others.push(d);
                }
            }
            if found.is_some() {
                break;
            }
        }
        for d in &others {
            if let Err(e) = DeadLetterQueue::abandon(self, d).await {
                tracing::warn!(queue = %self.ctx.name, error = %e, "putting a dead letter back failed");
            }
        }
        match found {
            Some(d) => self.resubmit_delivery(&d).await,
            None => Err(QueueError::MessageLocked {
                queue: self.ctx.name.clone(),
                sequence_number,
            }),
        }
    }

    async fn resubmit_delivery(&self, delivery: &Delivery) -> Result<String, QueueError> {
        let (h, slot) = self.own(delivery)?;
        let copy = self.copy_of(&delivery.message);
        let id = copy.message_id.clone();
        // Send first, then remove: a crash in between leaves the dead letter (and a derived,
        // duplicate-detected copy), never neither.
        self.sender.send(copy).await?;
        settle_on_link(&self.ctx, &h, &slot, Settle::Complete).await?;
        Ok(id)
    }

    async fn purge(&self) -> Result<u64, QueueError> {
        let options = ServiceBusReceiverOptions {
            prefetch_count: 0,
            receive_mode: ServiceBusReceiveMode::ReceiveAndDelete,
            sub_queue: SubQueue::DeadLetter,
            ..ServiceBusReceiverOptions::default()
        };
        let mut r = self
            .ctx
            .ns
            .links
            .lock()
            .await
            .create_receiver_for_queue(self.ctx.name.clone(), options)
            .await
            .map_err(|e| self.ctx.err("purge", Subject::Queue, e))?;
        let mut count = 0u64;
        // Inside the try timeout, as every receive (see `receive_slice`).
        let wait = Duration::from_millis(300)
            .min(self.ctx.ns.options.try_timeout / 2)
            .max(MIN_WAIT);
        let result = loop {
            match r.receive_messages_with_max_wait_time(100, wait).await {
                Ok(batch) if batch.is_empty() => break Ok(count),
                Ok(batch) => count += batch.len() as u64,
                Err(e) => break Err(self.ctx.err("purge", Subject::Queue, e)),
            }
        };
        let _ = r.dispose().await;
        result
    }
}
