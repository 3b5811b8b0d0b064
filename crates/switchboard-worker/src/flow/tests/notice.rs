//! Step 7: the recording / transcription notice — text, audio file, transcription, and the
//! fallback when it cannot be played (issue 15 §4).

use switchboard_events::{PlayFailed, TranscriptionStarted};
use switchboard_routing::{NoticeFallback, QueueName, RecordingNotice};

use super::*;

fn rec(id: &str, state: RecordingState) -> AcsEvent {
    cb!(RecordingStateChanged {
        recording_id: Some(RecordingId::from(id)),
        state: Some(state),
    })
}

fn notice_done(n: u32) -> AcsEvent {
    cb!(PlayCompleted {
        operation_context: ctx(format!("sb1:notice:{n}"))
    })
}

fn notice_failed(n: u32) -> AcsEvent {
    cb!(PlayFailed {
        operation_context: ctx(format!("sb1:notice:{n}")),
        result_information: result(400, 8535),
    })
}

/// A driver whose `sales` queue (which records) has `notice`.
fn with_notice(notice: RecordingNotice) -> Driver {
    let mut d = Driver::new();
    let q = d
        .cfg
        .routing
        .queues
        .get_mut(&QueueName::from("sales"))
        .unwrap();
    q.recording_notice = notice;
    q.recording_notice_configured = true;
    d
}

fn notice_source(t: &Transition) -> PlaySource {
    match find(t, "play") {
        Op::Play { source, .. } => source.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn recording_starts_paused_and_resumes_only_after_the_text_notice() {
    let mut d = with_notice(RecordingNotice {
        source: PlaySource::Text {
            text: "Cette conversation est enregistrée.".into(),
            voice: Some("fr-FR-DeniseNeural".into()),
            locale: Some("fr-FR".into()),
        },
        ..RecordingNotice::default()
    });
    let t = d.connect(SALES);
    assert!(ops(&t).contains(&"start_recording"));
    // Started paused (pauseOnStart): the notice plays, interrupting hold music, to everyone.
    let t = d.acs(rec("rec-1", RecordingState::Inactive));
    assert_eq!(ops(&t), ["play"], "{}", t.decision);
    match find(&t, "play") {
        Op::Play {
            interrupt,
            play_to,
            operation_context,
            source,
            ..
        } => {
            assert!(interrupt, "hold music loops: the notice must interrupt it");
            assert!(play_to.is_none(), "everyone hears it");
            assert_eq!(operation_context, "sb1:notice:1");
            assert_eq!(
                source,
                &PlaySource::Text {
                    text: "Cette conversation est enregistrée.".into(),
                    voice: Some("fr-FR-DeniseNeural".into()),
                    locale: Some("fr-FR".into()),
                }
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.state().recording.held, Some(RecordingId::from("rec-1")));
    // The interrupted hold music's PlayCanceled (an older playback) changes nothing.
    let t = d.acs(cb!(PlayCanceled {
        operation_context: ctx("sb1:hold:1".into())
    }));
    assert_eq!(t.disposition, Disposition::Stale);
    // The notice played: resume the recording, restart hold music.
    let t = d.acs(notice_done(1));
    assert_eq!(ops(&t), ["resume_recording", "play"], "{}", t.decision);
    assert_eq!(
        find(&t, "resume_recording"),
        &Op::ResumeRecording {
            recording_id: "rec-1".into()
        }
    );
    assert!(d.state().recording.held.is_none());
    // Recording now active: nothing more (told once per recording).
    let t = d.acs(rec("rec-1", RecordingState::Active));
    assert!(t.commands.is_empty(), "{:?}", ops(&t));
    assert!(d.state().recording.active);
}

#[test]
fn a_recording_running_before_the_notice_is_paused_first() {
    let mut d = Driver::new();
    d.connect(SALES);
    let t = d.acs(rec("rec-9", RecordingState::Active));
    assert_eq!(ops(&t), ["pause_recording", "play"], "{}", t.decision);
    // The default notice is English text.
    assert!(
        matches!(notice_source(&t), PlaySource::Text { text, .. } if text.contains("recorded"))
    );
    // Our pause's own state change: still held, nothing new.
    let t = d.acs(rec("rec-9", RecordingState::Inactive));
    assert!(t.commands.is_empty());
    // Resumed by someone else before the notice ended: paused again.
    let t = d.acs(rec("rec-9", RecordingState::Active));
    assert_eq!(ops(&t), ["pause_recording"]);
    let t = d.acs(notice_done(1));
    assert!(ops(&t).contains(&"resume_recording"));
}

#[test]
fn the_audio_file_notice_is_played_as_a_file() {
    let mut d = with_notice(RecordingNotice {
        source: PlaySource::File {
            url: "https://example.com/notice-de.wav".into(),
        },
        ..RecordingNotice::default()
    });
    d.connect(SALES);
    let t = d.acs(rec("rec-1", RecordingState::Inactive));
    assert_eq!(
        notice_source(&t),
        PlaySource::File {
            url: "https://example.com/notice-de.wav".into()
        }
    );
    let t = d.acs(notice_done(1));
    assert!(ops(&t).contains(&"resume_recording"));
}

#[test]
fn transcription_starting_plays_the_notice_once() {
    let mut d = Driver::new();
    d.ringing_a1();
    d.acs(participants(3, &[caller(), teams(A1)]));
    let t = d.acs(cb!(TranscriptionStarted {}));
    assert_eq!(ops(&t), ["play"], "{}", t.decision);
    match find(&t, "play") {
        Op::Play {
            interrupt,
            operation_context,
            ..
        } => {
            assert!(!interrupt, "no hold music while talking");
            assert_eq!(operation_context, "sb1:notice:1");
        }
        other => panic!("{other:?}"),
    }
    let t = d.acs(notice_done(1));
    assert!(
        t.commands.is_empty(),
        "talking: no hold music, nothing to resume"
    );
    assert!(d.state().recording.transcription_notified);
    // Transcription restarted later: told already.
    let t = d.acs(cb!(TranscriptionStarted {}));
    assert_eq!(t.disposition, Disposition::Stale);
}

#[test]
fn a_failed_notice_is_retried_then_recording_stays_paused_by_default() {
    let mut d = Driver::new();
    d.connect(SALES);
    d.acs(rec("rec-1", RecordingState::Inactive));
    // Attempt 1 fails (event), attempt 2 fails (the play request itself was refused).
    let t = d.acs(notice_failed(1));
    assert_eq!(ops(&t), ["play"]);
    assert_eq!(find(&t, "play").operation_context(), Some("sb1:notice:2"));
    let cmd = t.commands[0].clone();
    let t = d.internal(Internal::CommandFailed {
        command: Box::new(cmd),
        reason: "405 8522".into(),
        gone: false,
    });
    assert_eq!(ops(&t), ["play"], "{}", t.decision);
    // Attempt 3 fails: max_tries (3) reached, fallback `pause`: never resumed.
    let t = d.acs(notice_failed(3));
    assert!(!ops(&t).contains(&"resume_recording"), "{:?}", ops(&t));
    assert!(!ops(&t).iter().any(|o| o.contains("notice")));
    assert_eq!(d.state().recording.fallback.as_deref(), Some("pause"));
    assert_eq!(d.state().recording.held, Some(RecordingId::from("rec-1")));
    // Hold music comes back for the waiting caller.
    assert_eq!(ops(&t), ["play"]);
    assert!(find(&t, "play")
        .operation_context()
        .unwrap()
        .starts_with("sb1:hold:"));
}

#[test]
fn fallback_stop_stops_recording_and_transcription_and_hang_up_ends_the_call() {
    let mut d = with_notice(RecordingNotice {
        fallback: NoticeFallback::Stop,
        max_tries: 1,
        ..RecordingNotice::default()
    });
    d.connect(SALES);
    d.acs(rec("rec-1", RecordingState::Inactive));
    d.acs(cb!(TranscriptionStarted {}));
    let t = d.acs(notice_failed(1));
    assert!(
        ops(&t).starts_with(&["stop_recording", "stop_transcription"]),
        "{:?}",
        ops(&t)
    );
    assert!(d.state().recording.held.is_none());

    let mut d = with_notice(RecordingNotice {
        fallback: NoticeFallback::HangUp,
        max_tries: 1,
        ..RecordingNotice::default()
    });
    d.connect(SALES);
    d.acs(rec("rec-1", RecordingState::Inactive));
    let t = d.acs(notice_failed(1));
    assert!(ops(&t).contains(&"hang_up"), "{:?}", ops(&t));
    assert!(d.phase().is_over());
}
