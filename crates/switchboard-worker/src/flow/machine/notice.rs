//! The recording / transcription notice: telling participants that the call is recorded or
//! transcribed is the application's duty. Recording starts paused and is resumed only once
//! the queue's notice has played; a recording found running untold is paused first. A notice
//! that fails (or is cancelled) is played again up to the queue's `max_tries`, then the
//! queue's fallback applies: `pause` (recording stays paused; transcription, which cannot be
//! paused, is stopped), `stop` (both stopped) or `hang_up`. Recording never runs after a
//! notice that did not play.

use switchboard_routing::{NoticeFallback, RecordingNotice};

use super::*;

impl Cx<'_> {
    /// The notice of the queue the call is in (the default English text when none is
    /// configured).
    fn notice(&self) -> RecordingNotice {
        self.queue_cfg()
            .map(|q| q.recording_notice.clone())
            .unwrap_or_default()
    }

    pub(super) fn on_recording(&mut self, r: &RecordingStateChanged) -> Disposition {
        let active = match &r.state {
            Some(RecordingState::Active) => true,
            Some(RecordingState::Inactive) => false,
            _ => return self.ignore("recording state unknown"),
        };
        self.s.recording.active = active;
        let id = r.recording_id.clone().unwrap_or_else(|| "unknown".into());
        let state = if active { "active" } else { "inactive" };
        if self.s.recording.notified.contains(&id) {
            self.decide(format!("recording {state}: participants already told"));
            return Disposition::Applied;
        }
        if self.s.phase.is_over() {
            self.s.recording.notified.push(id);
            self.decide(format!("recording {state} while ending: no notice"));
            return Disposition::Applied;
        }
        if self.s.recording.held.as_ref() == Some(&id) {
            if active {
                // Resumed by someone else before the notice played: hold it again.
                self.decide("recording active before the notice played: pausing it again");
                self.cmd("pause-recording", Op::PauseRecording { recording_id: id });
            } else {
                self.decide("recording paused until the notice has played");
            }
            return Disposition::Applied;
        }
        if let Some(old) = self.s.recording.held.replace(id.clone()) {
            // A new recording replaced the held one: that one never ran past its notice.
            self.s.recording.notified.push(old);
        }
        if active {
            self.decide("recording active before the notice played: pausing it");
            self.cmd(
                "pause-recording",
                Op::PauseRecording {
                    recording_id: id.clone(),
                },
            );
        } else {
            self.decide("recording started paused");
        }
        self.owe_notice("recording");
        Disposition::Applied
    }

    pub(super) fn on_transcription_started(&mut self) -> Disposition {
        if self.s.recording.transcription_notified || self.s.recording.transcription_owed {
            return self.stale("transcription started: participants told (or being told)");
        }
        if self.s.phase.is_over() {
            return self.ignore("transcription started while ending: no notice");
        }
        self.s.recording.transcription_owed = true;
        self.decide("transcription started");
        self.owe_notice("transcription");
        Disposition::Applied
    }

    /// Plays the notice unless one is already playing (that one covers this too).
    fn owe_notice(&mut self, why: &str) {
        if self.s.recording.playing.is_some() {
            self.decide(format!("the notice playing covers the {why}"));
            return;
        }
        self.s.recording.failures = 0;
        self.decide(format!("playing the notice for the {why}"));
        self.play_notice();
    }

    fn play_notice(&mut self) {
        self.s.recording.notices += 1;
        let n = self.s.recording.notices;
        self.s.recording.playing = Some(n);
        // Hold music loops forever, so a queued notice would never play: interrupt it (and
        // restart the music when the notice ends).
        let interrupt = self.s.media.hold.take().is_some();
        self.cmd(
            format!("play:notice:{n}"),
            Op::Play {
                source: self.notice().source,
                loop_playback: false,
                play_to: None,
                interrupt,
                operation_context: OpCtx::Notice { n }.to_string(),
            },
        );
    }

    /// A notice playback ended: `played` when it completed.
    pub(super) fn on_notice_ended(&mut self, n: u32, played: bool, how: &str) -> Disposition {
        if self.s.recording.playing != Some(n) {
            return self.stale(format!("older recording notice {how}"));
        }
        self.s.recording.playing = None;
        self.decide(format!("recording notice {how}"));
        if self.s.phase.is_over() {
            return Disposition::Applied;
        }
        if played {
            self.s.recording.failures = 0;
            if let Some(id) = self.s.recording.held.take() {
                self.s.recording.notified.push(id.clone());
                self.decide("resuming the recording");
                self.cmd("resume-recording", Op::ResumeRecording { recording_id: id });
            }
            if self.s.recording.transcription_owed {
                self.s.recording.transcription_owed = false;
                self.s.recording.transcription_notified = true;
            }
        } else {
            self.s.recording.failures += 1;
            let notice = self.notice();
            if self.s.recording.failures < notice.max_tries {
                self.decide(format!(
                    "trying the notice again ({}/{})",
                    self.s.recording.failures + 1,
                    notice.max_tries
                ));
                self.play_notice();
                return Disposition::Applied;
            }
            self.notice_fallback(notice.fallback);
        }
        // The notice interrupted hold music: start it again while the caller waits.
        if self.s.phase.is_queued() && self.s.media.hold.is_none() {
            self.start_hold_music();
        }
        Disposition::Applied
    }

    fn notice_fallback(&mut self, fallback: NoticeFallback) {
        self.s.recording.fallback = Some(fallback.as_str().to_string());
        self.decide(format!(
            "the notice could not be played: fallback {}",
            fallback.as_str()
        ));
        let transcription = std::mem::take(&mut self.s.recording.transcription_owed);
        match fallback {
            NoticeFallback::Pause => {
                if self.s.recording.held.is_some() {
                    self.decide("recording stays paused");
                }
                if transcription {
                    self.cmd("stop-transcription", Op::StopTranscription);
                }
            }
            NoticeFallback::Stop => {
                if let Some(id) = self.s.recording.held.take() {
                    self.s.recording.notified.push(id.clone());
                    self.cmd("stop-recording", Op::StopRecording { recording_id: id });
                }
                if transcription {
                    self.cmd("stop-transcription", Op::StopTranscription);
                }
            }
            NoticeFallback::HangUp => self.hang_up("recording notice could not be played"),
        }
    }
}
