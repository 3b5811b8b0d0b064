//! `operationContext` strings: how a request tells its own results apart from everyone else's.
//!
//! Every Call Automation request the flow sends carries an operation context that encodes what
//! the request was for and which attempt it belongs to (`sb1:add:3:<oid>`: the third offer of
//! this call, to that agent). ACS echoes it on the events the request causes, so a late
//! `AddParticipantFailed` for offer 2 can be told apart from the current offer 3 and ignored.
//! The `sb1:` prefix versions the format and marks contexts that are ours; anything else
//! (another application on the same resource, a hand-made test) parses to `None`.

use std::fmt;

use switchboard_events::TeamsUserId;

/// Prefix (and format version) of every operation context Switchboard writes.
pub(crate) const PREFIX: &str = "sb1";

/// A decoded operation context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OpCtx {
    /// The answer request.
    Answer,
    /// IVR prompt + recognize, try `try_no` (1-based).
    Ivr { try_no: u32 },
    /// Offer `seq` of the call: add-participant of `agent`.
    Add { seq: u32, agent: TeamsUserId },
    /// Withdrawing offer `seq`.
    Cancel { seq: u32 },
    /// Removing an agent who joined after their offer was withdrawn.
    Remove { seq: u32 },
    /// Hold music, playback `n`.
    Hold { n: u32 },
    /// A queue's entry announcement, playback `n`.
    Announce { n: u32 },
    /// The recording notice, playback `n`.
    Notice { n: u32 },
    /// Overflow transfer attempt `n`.
    Transfer { n: u32 },
    /// Overflow announcement (played before hanging up).
    OverflowAnnouncement,
    /// Voicemail greeting (played before recording a message).
    VoicemailGreeting,
    /// A position / estimated-wait announcement, playback `n`.
    Position { n: u32 },
    /// The callback offer ("press 1"), for wait status `n`.
    CallbackOffer { n: u32 },
    /// The callback confirmation (played before hanging up).
    CallbackConfirm,
    /// Callback offer `seq`: the outbound call to the agent.
    CallbackAgent { seq: u32 },
    /// Callback: adding the customer, attempt `attempt`.
    CallbackCustomer { attempt: u32 },
}

impl OpCtx {
    /// Parses one of our contexts; `None` for anything we did not write.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.splitn(4, ':');
        if parts.next()? != PREFIX {
            return None;
        }
        let kind = parts.next()?;
        let num = |p: Option<&str>| p.and_then(|v| v.parse::<u32>().ok());
        let ctx = match kind {
            "answer" => Self::Answer,
            "ivr" => Self::Ivr {
                try_no: num(parts.next())?,
            },
            "add" => {
                let seq = num(parts.next())?;
                let agent = parts.next().filter(|a| !a.is_empty())?;
                Self::Add {
                    seq,
                    agent: TeamsUserId::from(agent),
                }
            }
            "cancel" => Self::Cancel {
                seq: num(parts.next())?,
            },
            "remove" => Self::Remove {
                seq: num(parts.next())?,
            },
            "hold" => Self::Hold {
                n: num(parts.next())?,
            },
            "announce" => Self::Announce {
                n: num(parts.next())?,
            },
            "notice" => Self::Notice {
                n: num(parts.next())?,
            },
            "transfer" => Self::Transfer {
                n: num(parts.next())?,
            },
            "overflow-announcement" => Self::OverflowAnnouncement,
            "voicemail-greeting" => Self::VoicemailGreeting,
            "position" => Self::Position {
                n: num(parts.next())?,
            },
            "callback-offer" => Self::CallbackOffer {
                n: num(parts.next())?,
            },
            "callback-confirm" => Self::CallbackConfirm,
            "callback-agent" => Self::CallbackAgent {
                seq: num(parts.next())?,
            },
            "callback-customer" => Self::CallbackCustomer {
                attempt: num(parts.next())?,
            },
            _ => return None,
        };
        Some(ctx)
    }
}

impl fmt::Display for OpCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Answer => write!(f, "{PREFIX}:answer"),
            Self::Ivr { try_no } => write!(f, "{PREFIX}:ivr:{try_no}"),
            Self::Add { seq, agent } => write!(f, "{PREFIX}:add:{seq}:{agent}"),
            Self::Cancel { seq } => write!(f, "{PREFIX}:cancel:{seq}"),
            Self::Remove { seq } => write!(f, "{PREFIX}:remove:{seq}"),
            Self::Hold { n } => write!(f, "{PREFIX}:hold:{n}"),
            Self::Announce { n } => write!(f, "{PREFIX}:announce:{n}"),
            Self::Notice { n } => write!(f, "{PREFIX}:notice:{n}"),
            Self::Transfer { n } => write!(f, "{PREFIX}:transfer:{n}"),
            Self::OverflowAnnouncement => write!(f, "{PREFIX}:overflow-announcement"),
            Self::VoicemailGreeting => write!(f, "{PREFIX}:voicemail-greeting"),
            Self::Position { n } => write!(f, "{PREFIX}:position:{n}"),
            Self::CallbackOffer { n } => write!(f, "{PREFIX}:callback-offer:{n}"),
            Self::CallbackConfirm => write!(f, "{PREFIX}:callback-confirm"),
            Self::CallbackAgent { seq } => write!(f, "{PREFIX}:callback-agent:{seq}"),
            Self::CallbackCustomer { attempt } => {
                write!(f, "{PREFIX}:callback-customer:{attempt}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips() {
        let all = [
            OpCtx::Answer,
            OpCtx::Ivr { try_no: 2 },
            OpCtx::Add {
                seq: 3,
                agent: TeamsUserId::from("6e0c7d0e-1f7e-4e3e-9a57-1c1a4c1c7c11"),
            },
            OpCtx::Cancel { seq: 3 },
            OpCtx::Remove { seq: 1 },
            OpCtx::Hold { n: 4 },
            OpCtx::Announce { n: 1 },
            OpCtx::Notice { n: 1 },
            OpCtx::Transfer { n: 2 },
            OpCtx::OverflowAnnouncement,
            OpCtx::VoicemailGreeting,
            OpCtx::Position { n: 2 },
            OpCtx::CallbackOffer { n: 3 },
            OpCtx::CallbackAgent { seq: 2 },
            OpCtx::CallbackCustomer { attempt: 3 },
            OpCtx::CallbackConfirm,
        ];
        for c in all {
            assert_eq!(OpCtx::parse(&c.to_string()), Some(c.clone()), "{c}");
        }
    }

    #[test]
    fn foreign_and_malformed_contexts_are_not_ours() {
        for s in [
            "",
            "sb1",
            "sb1:",
            "sb2:answer",
            "answer",
            "sb1:add:3",
            "sb1:add:x:oid",
            "sb1:add:3:",
            "sb1:hold:-1",
            "sb1:hold:",
            "sb1:whatever:1",
            "my-own-context",
        ] {
            assert_eq!(OpCtx::parse(s), None, "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,64}") {
            let _ = OpCtx::parse(&s);
        }

        #[test]
        fn add_contexts_round_trip(seq in 0u32.., agent in "[a-zA-Z0-9:-]{1,40}") {
            let c = OpCtx::Add { seq, agent: TeamsUserId::from(agent.as_str()) };
            prop_assert_eq!(OpCtx::parse(&c.to_string()), Some(c));
        }
    }
}
