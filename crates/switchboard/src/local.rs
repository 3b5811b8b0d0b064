//! How `demo` and `bench` run the whole system on one machine: the testkit's
//! [`Stack`](switchboard_testkit::Stack) (simulator, ingress, N workers, built by the same
//! assembly as `switchboard worker` / `ingress`), on the embedded SQLite queue or on the
//! in-process Service Bus AMQP peer, which only this binary links.
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "servicebus-peer")]
use anyhow::Context as _;
use async_trait::async_trait;
#[cfg(feature = "servicebus-peer")]
use switchboard_servicebus::peer::TestPeer;
use switchboard_testkit::{Detach, QueueEngine, StackOptions};
use switchboard_worker::backend::EngineHooks;
use switchboard_worker::config::Config;
use switchboard_worker::runner::RunnerOptions;

/// The queue engine of a local deployment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LocalQueue {
    /// The embedded SQLite queue (the default).
    #[default]
    Sqlite,
    /// Azure Service Bus over AMQP 1.0, served by the in-process peer on `ip:5672`: the
    /// workers and the ingress use the same adapter they use against a real namespace.
    ServiceBusPeer(std::net::Ipv4Addr),
}

/// Stack options of a local deployment: production-like settings (delivery count, ring
/// grace, sweeps) rather than the flow tests' short ones; the caller sets the rest.
pub fn options(queue: LocalQueue, concurrency: usize) -> StackOptions {
    StackOptions {
        other_numbers: Vec::new(),
        max_delivery_count: 10,
        ring_grace: None,
        runner: RunnerOptions {
            concurrency,
            // As the worker's default (`worker.incoming_reserved`), clamped to leave sessions one.
            reserved_for_plain: 2,
            receive_wait: Duration::from_millis(200),
            session_idle: Duration::ZERO,
            grace_period: Duration::from_secs(5),
            retry_backoff: Duration::from_millis(50),
            max_retry_backoff: Duration::from_millis(500),
            sweep_every: Some(Duration::from_secs(5)),
        },
        queue_engine: match queue {
            LocalQueue::Sqlite => None,
            LocalQueue::ServiceBusPeer(ip) => Some(Arc::new(ServiceBusPeer(ip))),
        },
        ..StackOptions::default()
    }
}

/// The Service Bus AMQP test peer as the stack's queue engine.
struct ServiceBusPeer(std::net::Ipv4Addr);

#[async_trait]
impl QueueEngine for ServiceBusPeer {
    #[cfg(feature = "servicebus-peer")]
    async fn attach(&self, config: &mut Config) -> anyhow::Result<(EngineHooks, Option<Detach>)> {
        let ip = self.0;
        let (plain, sessions) = switchboard_worker::backend::queue_configs(config);
        let peer = TestPeer::start_near(
            ip,
            &[
                (config.queue.incoming_queue.as_str(), plain),
                (config.queue.events_queue.as_str(), sessions),
                (
                    config.queue.rejects_queue.as_str(),
                    switchboard_worker::backend::rejects_queue_config(config),
                ),
            ],
        )
        .await
        .with_context(|| format!("starting the Service Bus peer on {ip}:5672"))?;
        if peer.addr().ip() != std::net::IpAddr::V4(ip) {
            eprintln!(
                "Service Bus peer: {ip}:5672 is taken, listening on {} instead",
                peer.addr()
            );
        }
        config.queue.kind = "servicebus".into();
        config.queue.settings.set(
            "servicebus_connection_string",
            format!("{};UseDevelopmentEmulator=true", peer.connection_string()),
        );
        Ok((
            crate::engines::hooks(),
            Some(Box::pin(async move { peer.shutdown().await })),
        ))
    }

    /// The production build leaves the test peer out, so `--servicebus-peer` cannot be served.
    #[cfg(not(feature = "servicebus-peer"))]
    async fn attach(&self, _config: &mut Config) -> anyhow::Result<(EngineHooks, Option<Detach>)> {
        anyhow::bail!(
            "this build has no Service Bus test peer ({}:5672): build with the `servicebus-peer` \
             feature (on by default; the production image leaves it out)",
            self.0
        )
    }
}
