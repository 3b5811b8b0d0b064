//! [`Recorder`]: every decision and command of every worker of a stack, in order, for
//! tests that read a call's timeline.
use std::sync::Mutex;
use std::time::Duration;

use switchboard_events::CorrelationId;
use switchboard_worker::executor::{CommandOutcome, Observer};
use switchboard_worker::flow::{Command, FlowInput, Transition};

/// Every decision and command, in order (the timeline tests read).
#[derive(Default)]
pub struct Recorder {
    pub lines: Mutex<Vec<Line>>,
    /// (op, duration) of every command.
    pub timings: Mutex<Vec<(String, Duration)>>,
}

#[derive(Clone, Debug)]
pub enum Line {
    Decision {
        call: String,
        input: String,
        disposition: String,
        decision: String,
    },
    Command {
        call: String,
        op: String,
        action: String,
        operation_context: Option<String>,
        outcome: CommandOutcome,
    },
}

impl Observer for Recorder {
    fn decision(&self, call: &CorrelationId, input: &FlowInput, t: &Transition) {
        self.lines.lock().unwrap().push(Line::Decision {
            call: call.to_string(),
            input: input.type_name().to_string(),
            disposition: t.disposition.as_str().to_string(),
            decision: t.decision.clone(),
        });
    }

    fn command(&self, call: &CorrelationId, c: &Command, outcome: &CommandOutcome, took: Duration) {
        self.timings
            .lock()
            .unwrap()
            .push((c.op.name().to_string(), took));
        self.lines.lock().unwrap().push(Line::Command {
            call: call.to_string(),
            op: c.op.name().to_string(),
            action: c.key.action.clone(),
            operation_context: c.op.operation_context().map(str::to_string),
            outcome: outcome.clone(),
        });
    }
}

impl Recorder {
    /// Successful commands of `op` for `call`, with their operation contexts.
    pub fn done(&self, call: &str, op: &str) -> Vec<Option<String>> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| match l {
                Line::Command {
                    call: c,
                    op: o,
                    operation_context,
                    outcome: CommandOutcome::Done { .. },
                    ..
                } if c == call && o == op => Some(operation_context.clone()),
                _ => None,
            })
            .collect()
    }

    /// Decisions for `call` on inputs of `input` type.
    pub fn decisions(&self, call: &str, input: &str) -> Vec<(String, String)> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| match l {
                Line::Decision {
                    call: c,
                    input: i,
                    disposition,
                    decision,
                } if c == call && i == input => Some((disposition.clone(), decision.clone())),
                _ => None,
            })
            .collect()
    }

    /// The timeline of `call`, one line per entry.
    pub fn dump(&self, call: &str) -> String {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| match l {
                Line::Decision { call: c, .. } | Line::Command { call: c, .. } => c == call,
            })
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
