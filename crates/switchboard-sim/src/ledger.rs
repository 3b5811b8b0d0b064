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

/// Counters of real side effects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Effects {
    pub creates: u32,
    pub answers: u32,
    pub redirects: u32,
    pub rejects: u32,
    pub adds: u32,
    pub removes: u32,
    pub cancels: u32,
    pub transfers: u32,
    pub mutes: u32,
    pub holds: u32,
    pub unholds: u32,
    pub plays: u32,
    pub recognizes: u32,
    pub cancel_media: u32,
    pub recordings: u32,
    pub recording_changes: u32,
    pub hangups: u32,
    pub terminates: u32,
}

/// One kind of effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
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
    pub fn add(&mut self, e: Effect) {
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
    pub correlation_id: String,
    pub server_call_id: String,
    pub call_connection_id: Option<String>,
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
}

impl Ledger {
    pub fn record(
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
    pub correlation_id: String,
    pub call_connection_id: Option<String>,
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
