//! The call flow: a pure state machine from (call state, input) to (new state, commands).
//!
//! [`step`] is the whole brain of the worker and does no I/O: the executor loads the call's
//! [`CallState`] from the store, calls `step`, saves the new state with compare-and-set and
//! only then runs the [`Command`]s (see [`crate::executor`]). Everything here is therefore
//! deterministic and tested without a network, a clock or a queue.
//!
//! # The flow (issue 6, steps 1–8)
//! 1. **IncomingCall** to a number we serve: classify to a queue ([`classify`](fn@switchboard_routing::classify)),
//!    then answer (operation context `sb1:answer`). In a queue with `direct = true` the call is
//!    routed first and redirected to the reserved agent instead; nobody free → answer and
//!    queue normally; overflow → redirect to the target / reject. Numbers we do not serve are
//!    ignored, never answered. A second IncomingCall for the same correlation id does nothing.
//! 2. **CallConnected**: if the entry queue has an IVR menu and no Teams user is in the call
//!    (recognize is unsupported with Teams users — a Teams caller skips the menu), play it
//!    with DTMF recognize (`sb1:ivr:<try>`); the choice is classified again; unknown choices
//!    and silence replay the menu up to `max_tries`, then the menu's fallback applies.
//! 3. **Queue**: start recording if the queue records, play the announcement, loop hold
//!    music, then [`Op::Route`]: the executor ranks agents (routing engine) and reserves the
//!    first free one atomically in the store. Reserved → add the Teams agent
//!    (`sb1:add:<seq>:<oid>`, `sourceDisplayName`, invitation timeout = ring timeout) and
//!    schedule a [`Internal::RingTimeout`] at ring timeout + grace. Nobody free → wait,
//!    re-check on a timer ([`Internal::QueueRecheck`]) and join the queue's waitlist
//!    ([`Op::JoinWaitlist`]): an agent who frees up pulls the call that should be served next
//!    (queue priority, then longest wait) at once. Max wait / max attempts / nobody eligible
//!    → overflow (transfer to a
//!    phone number, a Teams user or a Teams voice app, another queue, an announcement,
//!    voicemail, or hang up). A queue with `transfer_to` blind-transfers every call to its
//!    target (a Teams call queue / auto attendant, a Teams user, a number) instead; transfers
//!    name a PSTN caller as transferee and give phone targets our dialled number as caller id.
//! 4. **AddParticipantSucceeded** or a **ParticipantsUpdated** that lists the agent: stop
//!    hold music, confirm the reservation (agent busy). ParticipantsUpdated is the source of
//!    truth for who is in the call; updates with an older `sequenceNumber` are ignored.
//! 5. **AddParticipantFailed** for the current offer: release the agent with a cool-down by
//!    outcome (no answer / declined / busy; refused by the Teams tenant's interop policy, 403:
//!    a long cool-down, counted), route again excluding the agents tried. No
//!    outcome by the ring timeout: withdraw the invitation (cancel add) and do the same.
//!    Results of older offers (e.g. the 487 of our own cancel) are stale and ignored; an
//!    agent who joins after their offer was withdrawn is removed again.
//! 6. **CallTransferAccepted**: our leg is done. **CallTransferFailed**: retry
//!    (`transfer_retries`; not when the tenant's policy refused the target), then hang up.
//! 7. **The recording notice** (`machine/notice.rs`): recording starts paused; its
//!    **RecordingStateChanged** plays the queue's notice (text + locale + voice, SSML or an
//!    audio file), interrupting hold music and restarting it afterwards, and the recording is
//!    resumed only once the notice has played (a recording found running untold is paused
//!    first). **TranscriptionStarted** plays it too. A notice that fails or is cancelled is
//!    tried again up to the queue's `max_tries`, then its fallback applies: `pause` (default:
//!    recording stays paused, transcription is stopped), `stop` or `hang_up`.
//! 8. **CallDisconnected**, caller gone from the participants, or the agent gone: release the
//!    reservation (with the agent's wrap-up after a conversation), withdraw a pending
//!    invitation, terminate the call if it is still up, archive the state (short audit record).
//!
//! 9. **Waiting announcements and the callback offer** (`machine/waiting.rs`): a queue with
//!    `announcements` or `callback` reads the waiting call's position and estimated wait
//!    every period ([`Internal::WaitStatusDue`] → [`Op::QueryWaitStatus`]: the executor reads
//!    the queue's waitlist and callback requests in the store, so every replica agrees →
//!    [`Internal::WaitStatus`]). The announcement interrupts hold music, which is queued again
//!    behind it. Once the estimate reaches the queue's callback threshold, a caller on a
//!    phone number with no Teams user in the call hears the offer (DTMF recognize, once per
//!    call); the digit stores a [`CallbackRequest`] ([`Op::RequestCallback`]), plays the
//!    confirmation and ends the call; anything else resumes hold music.
//!
//! # Idempotency and order tolerance
//! - Each applied input's id is remembered in the state: the same event twice is a
//!   [`Disposition::Duplicate`] with no commands.
//! - Results carry the operation context of the request that caused them, so results of
//!   older attempts, superseded timers and older participant lists are [`Disposition::Stale`].
//! - Every command carries a [`RepeatKey`] (input id + action + the time it was decided) from
//!   which the executor derives `Repeatability-Request-ID`/`First-Sent`, so re-running a
//!   command after a redelivery or a crash has one effect at ACS, and an input that arrives
//!   late (a backlog) is not refused for its age. An `IncomingCall` older than the ringing
//!   window is [`Disposition::Expired`]: the caller is gone and it is not answered.
//! - **Reordering before the state exists**: the state is written before the answer is sent,
//!   and Call Automation only sends callbacks after the answer, so a callback can only find no
//!   state when the call has already ended and been archived (or is not ours). Such inputs are
//!   [`Disposition::Orphan`]: completed and counted, never used to create state. No deferral
//!   is needed; with session ordering on the callback queue, a call's callbacks and timers
//!   are handled one at a time in arrival order.
//!
//! # Layout
//! - [`machine`]: [`step`], [`Transition`], [`Disposition`].
//! - [`state`]: [`CallState`] (the stored document) and its parts, [`Phase`].
//! - [`input`]: [`FlowInput`], `InternalMessage` (timers on the queue, decoded by
//!   `crate::inbox`).
//! - [`command`]: [`Command`], [`Op`], [`RepeatKey`] and the [`Internal`] inputs (the two
//!   contain each other, so they share a file and `input` imports from `command` only).
//! - `opctx`: the `sb1:` operation-context format, `OpCtx`.
//! - [`callback`]: [`CallbackRequest`], the stored virtual-hold callback request.
//! - [`config`]: the flow's configuration, [`FlowConfig`].

pub mod callback;
pub mod command;
pub mod config;
mod describe;
pub mod input;
pub mod machine;
pub(crate) mod opctx;
pub mod state;

#[cfg(test)]
mod tests;

pub use callback::{callback_key, CallbackCall, CallbackOutcome, CallbackRequest};
pub use command::{Command, Op, RepeatKey};
pub use config::{Cooldowns, FlowConfig};
pub use input::{FlowInput, InputKind, Internal};
pub(crate) use input::{InternalMessage, INTERNAL_TYPE_PREFIX};
pub use machine::{step, Disposition, Transition};
#[allow(unused_imports)]
pub(crate) use opctx::OpCtx;
pub use state::{CallState, Lease, Phase, WaitInfo};
