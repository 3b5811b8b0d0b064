//! One file per subcommand. Each exposes `Args` and `async fn run(Args) -> anyhow::Result<ExitCode>`.
pub mod agents;
pub mod bench;
pub mod call;
pub mod calls;
pub mod chaos;
pub mod common;
pub mod demo;
pub mod dlq;
pub mod doctor;
pub mod events;
pub mod ingress;
pub mod procs;
pub mod replay;
pub mod sidebyside;
pub mod sim;
pub mod stats;
pub mod worker;
