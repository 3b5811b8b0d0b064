//! The effects ledger and call timelines: what the simulator did, so tests can prove
//! "exactly once" and read a call's story.
//!
//! An *effect* is counted only when an operation really changes the world: a repeated
//! request answered from the repeatability cache, a rejected or failed request, or a fault
//! counts nothing. Effects are keyed by the call's `correlationId` (known from the
//! IncomingCall on, before any call connection exists).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Counters of real side effects, one per Call Automation operation that changes a call.
///
/// Each counts accepted requests that changed the simulated world, so a test can assert
/// "answered exactly once" however often the worker retried. Counters saturate at
/// `u32::MAX` rather than wrap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Effects {
    /// `CreateCall`: outbound calls placed.
    pub creates: u32,
    /// `AnswerCall`.
    pub answers: u32,
    /// `RedirectCall`.
    pub redirects: u32,
    /// `RejectCall`.
    pub rejects: u32,
    /// `AddParticipant`: invitations sent (an agent starts ringing).
    pub adds: u32,
    /// `RemoveParticipant`.
    pub removes: u32,
    /// `CancelAddParticipant` that stopped a ringing invitation; a cancel that came too late
    /// counts nothing.
    pub cancels: u32,
    /// `TransferCallToParticipant`.
    pub transfers: u32,
    /// `Mute` (every accepted request, even for an already muted participant).
    pub mutes: u32,
    /// `Hold` (every accepted request).
    pub holds: u32,
    /// `Unhold` (every accepted request).
    pub unholds: u32,
    /// `Play` (to some participants or to all).
    pub plays: u32,
    /// `Recognize`.
    pub recognizes: u32,
    /// `CancelAllMediaOperations`.
    pub cancel_media: u32,
    /// `StartRecording`.
    pub recordings: u32,
    /// Pause, resume or stop of a recording that changed its state (pausing a paused
    /// recording counts nothing; stop always counts).
    pub recording_changes: u32,
    /// `HangupCall` (`DELETE` on the connection): our leg leaves, the other participants
    /// stay connected.
    pub hangups: u32,
    /// `TerminateCall` (`:terminate`): the call ends for everyone.
    pub terminates: u32,
}

/// One kind of effect: which [`Effects`] counter to raise (variants match the fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Effect {
    Create,
    Answer,
    Redirect,
    Reject,
    Add,
    Remove,
    Cancel,
    Transfer,
    Mute,
    Hold,
    Unhold,
    Play,
    Recognize,
    CancelMedia,
    Recording,
    RecordingChange,
    Hangup,
    Terminate,
}

impl Effects {
    /// Counts one effect, saturating.
    pub(crate) fn add(&mut self, e: Effect) {
        let c = match e {
            Effect::Create => &mut self.creates,
            Effect::Answer => &mut self.answers,
            Effect::Redirect => &mut self.redirects,
            Effect::Reject => &mut self.rejects,
            Effect::Add => &mut self.adds,
            Effect::Remove => &mut self.removes,
            Effect::Cancel => &mut self.cancels,
            Effect::Transfer => &mut self.transfers,
            Effect::Mute => &mut self.mutes,
            Effect::Hold => &mut self.holds,
            Effect::Unhold => &mut self.unholds,
            Effect::Play => &mut self.plays,
            Effect::Recognize => &mut self.recognizes,
            Effect::CancelMedia => &mut self.cancel_media,
            Effect::Recording => &mut self.recordings,
            Effect::RecordingChange => &mut self.recording_changes,
            Effect::Hangup => &mut self.hangups,
            Effect::Terminate => &mut self.terminates,
        };
        *c = c.saturating_add(1);
    }

    /// Sum of every counter.
    pub fn total(&self) -> u32 {
        [
            self.creates,
            self.answers,
            self.redirects,
            self.rejects,
            self.adds,
            self.removes,
            self.cancels,
            self.transfers,
            self.mutes,
            self.holds,
            self.unholds,
            self.plays,
            self.recognizes,
            self.cancel_media,
            self.recordings,
            self.recording_changes,
            self.hangups,
            self.terminates,
        ]
        .iter()
        .map(|&c| c as u64)
        .sum::<u64>()
        .min(u32::MAX as u64) as u32
    }
}

/// Effects of one call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEffects {
    /// The call's `correlationId`, known from the IncomingCall on; the ledger's key.
    pub correlation_id: String,
    /// The call's `serverCallId`.
    pub server_call_id: String,
    /// Our call connection, once one exists (answer or create); `None` for a call that was
    /// only redirected or rejected.
    pub call_connection_id: Option<String>,
    /// What was done to this call.
    pub effects: Effects,
}

/// The whole ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// Per call, by correlation id.
    pub calls: BTreeMap<String, CallEffects>,
    /// Sum over all calls.
    pub total: Effects,
    /// Requests answered from the repeatability cache (no effect).
    pub replayed_requests: u64,
    /// Callback POSTs that got a 2xx.
    pub callbacks_delivered: u64,
    /// Callbacks given up after the last retry.
    pub callbacks_failed: u64,
    /// IncomingCall messages accepted by the sink.
    pub incoming_calls_delivered: u64,
    /// Requests handled whose answer a `lost` fault then withheld from the client.
    pub lost_answers: u64,
    /// Faults the request rules injected, by kind (`throttle`, `status`, `reset`, `lost`, …);
    /// complete, unlike the bounded request log.
    #[serde(default)]
    pub faults_injected: BTreeMap<String, u64>,
}

impl Ledger {
    /// Counts `e` for the call and in the total. The first connection id seen sticks, so a
    /// later record without one does not erase it.
    pub(crate) fn record(
        &mut self,
        correlation_id: &str,
        server_call_id: &str,
        call_connection_id: Option<&str>,
        e: Effect,
    ) {
        let entry = self
            .calls
            .entry(correlation_id.to_owned())
            .or_insert_with(|| CallEffects {
                correlation_id: correlation_id.to_owned(),
                server_call_id: server_call_id.to_owned(),
                call_connection_id: None,
                effects: Effects::default(),
            });
        if entry.call_connection_id.is_none() {
            entry.call_connection_id = call_connection_id.map(str::to_owned);
        }
        entry.effects.add(e);
        self.total.add(e);
    }

    /// Effects of the call with this correlation id, call connection id or server call id.
    pub fn call(&self, id: &str) -> Option<&CallEffects> {
        self.calls.get(id).or_else(|| {
            self.calls
                .values()
                .find(|c| c.call_connection_id.as_deref() == Some(id) || c.server_call_id == id)
        })
    }
}

/// What a timeline entry is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TimelineKind {
    /// A Call Automation request and its status.
    Request,
    /// State change inside the simulated call (participants, media, recording, state).
    Call,
    /// A callback POST (delivered, failed, dropped, duplicated, reordered).
    Callback,
    /// The IncomingCall going to the sink.
    EventGrid,
    /// What the caller did (dial, DTMF, hang up).
    Caller,
    /// What an agent did (ring, accept, decline, hang up).
    Agent,
}

/// One line of a call's story.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// Global order across all calls.
    pub seq: u64,
    /// Milliseconds since the simulator started.
    pub elapsed_ms: u64,
    /// The call the entry belongs to (timelines are kept per correlation id).
    pub correlation_id: String,
    /// Our call connection, when the entry concerns one (not before answer/create).
    pub call_connection_id: Option<String>,
    /// What the entry is about.
    pub kind: TimelineKind,
    /// Short name: operation id, event type, `dtmf`, `accepted`, …
    pub what: String,
    /// Details (status, attempt, participant, …).
    pub detail: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_counts_per_call_and_total() {
        let mut l = Ledger::default();
        l.record("c1", "s1", None, Effect::Answer);
        l.record("c1", "s1", Some("cc1"), Effect::Add);
        l.record("c2", "s2", Some("cc2"), Effect::Add);
        assert_eq!(l.total.adds, 2);
        assert_eq!(l.total.answers, 1);
        assert_eq!(l.call("c1").unwrap().effects.adds, 1);
        assert_eq!(l.call("cc2").unwrap().correlation_id, "c2");
        assert_eq!(
            l.call("s1").unwrap().call_connection_id.as_deref(),
            Some("cc1")
        );
        assert_eq!(l.total.total(), 3);
        let json = serde_json::to_value(&l).unwrap();
        assert_eq!(json["total"]["adds"], 2);
    }
}
