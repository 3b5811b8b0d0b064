//! Child processes of the side-by-side benchmark: spawn, wait for a ready line, read CPU time
//! and peak RSS from `/proc`, stop.
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`), 100 on every
/// Linux platform we run on; reading it would take libc and unsafe code for one constant.
const CLK_TCK: f64 = 100.0;

/// A routing-side process the benchmark started and measures.
pub struct Proc {
    /// Short label (`ingress`, `worker 1`, `node`).
    pub name: String,
    child: Child,
}

impl Proc {
    /// Starts `cmd` (stdout piped, stderr to `log`) and waits until a stdout line starts with
    /// `ready`; returns the process and that line. Later stdout is drained so the child never
    /// blocks on a full pipe.
    pub async fn start(
        name: &str,
        mut cmd: Command,
        log: &Path,
        ready: &str,
        timeout: Duration,
    ) -> anyhow::Result<(Self, String)> {
        let err = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(timeout, async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with(ready) {
                    return Ok::<_, std::io::Error>(Some(line));
                }
            }
            Ok(None)
        })
        .await;
        let line = match found {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) | Ok(Err(_)) => {
                anyhow::bail!("{name} exited before it was ready (see {})", log.display())
            }
            Err(_) => anyhow::bail!(
                "{name} was not ready within {timeout:?} (see {})",
                log.display()
            ),
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((
            Self {
                name: name.to_string(),
                child,
            },
            line,
        ))
    }

    /// Starts `cmd` (stdout piped, stderr to `log`) without waiting for it; the receiver gets
    /// the moment a stdout line starting with `ready` appears (stdout is drained throughout).
    pub fn spawn(
        name: &str,
        mut cmd: Command,
        log: &Path,
        ready: &str,
    ) -> anyhow::Result<(Self, tokio::sync::oneshot::Receiver<std::time::Instant>)> {
        let err = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(err))
            .kill_on_drop(true);
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ready = ready.to_string();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            let mut tx = Some(tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with(&ready) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(std::time::Instant::now());
                    }
                }
            }
        });
        Ok((
            Self {
                name: name.to_string(),
                child,
            },
            rx,
        ))
    }

    /// The process id (0 once it has exited).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// User + system CPU time used so far.
    pub fn cpu(&self) -> Duration {
        cpu_of(self.pid()).unwrap_or_default()
    }

    /// Peak resident set size (`VmHWM`) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM:").unwrap_or(0)
    }

    /// Asks the process to stop (SIGTERM) and waits up to `grace` for it to exit, then
    /// SIGKILLs it.
    pub async fn terminate(mut self, grace: Duration) {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = self.child.kill().await;
    }

    /// Stops the process: SIGKILL (its figures were read already; nothing of it is reused).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `utime + stime` of `pid`.
pub fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 → indexes 11 and 12 here.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / CLK_TCK))
}

/// A `kB` line of `/proc/<pid>/status`.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A free loopback TCP port (bound and released; fine on a machine we do not race for ports).
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        let pid = std::process::id();
        assert!(cpu_of(pid).is_some());
        assert!(status_kib(pid, "VmHWM:").unwrap_or(0) > 0);
        assert!(cpu_of(u32::MAX).is_none());
    }
}
