//! One shutdown signal for the whole process.
//!
//! SIGTERM (what Container Apps and Kubernetes send) or SIGINT (Ctrl-C) cancels one
//! [`CancellationToken`]; every task holds a child token and stops receiving when it fires, then
//! finishes or abandons in-flight work within the grace period (see `runner`).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Resolves on the first SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!(signal = "SIGINT", "shutdown requested"),
        _ = term => tracing::info!(signal = "SIGTERM", "shutdown requested"),
    }
}

/// A token cancelled on SIGTERM/SIGINT. On Unix the handlers are installed before this
/// returns, so a signal sent right after the process says it is ready is never missed (the
/// default action would kill it instead of draining).
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => tracing::info!(signal = "SIGINT", "shutdown requested"),
                    _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutdown requested"),
                }
                t.cancel();
            });
            return token;
        }
    }
    tokio::spawn(async move {
        signal().await;
        t.cancel();
    });
    token
}

/// Run `drain` after `token` fires, but give up after `grace`; warns when the grace period ran out.
/// Returns true when draining finished in time.
pub(crate) async fn drain_within<F: Future<Output = ()>>(grace: Duration, drain: F) -> bool {
    match tokio::time::timeout(grace, drain).await {
        Ok(()) => true,
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "grace period ran out; abandoning remaining work"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_grace() {
        let finished = drain_within(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
        })
        .await;
        assert!(!finished);
        let finished = drain_within(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .await;
        assert!(finished);
    }
}
