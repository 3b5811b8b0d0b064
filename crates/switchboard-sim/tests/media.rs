//! Media: play (started/completed, invalid file, loop + cancel, queueing), recognize with
//! scripted DTMF (max tones, stop tone, inter-tone timeout, silence, choices), recognize
//! refused while a Teams user is in the call, hold/unhold, mute.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchboard_sim::StartCall;

fn file(uri: &str) -> Value {
    json!({"kind": "file", "file": {"uri": uri}})
}

fn recognize_dtmf(target: &str, max: u32, stop: &[&str]) -> Value {
    json!({
        "recognizeInputType": "dtmf",
        "playPrompt": {"kind": "text", "text": {"text": "Press 1 for sales", "sourceLocale": "en-US", "voiceName": "en-US-JennyNeural"}},
        "recognizeOptions": {
            "targetParticipant": {"kind": "phoneNumber", "phoneNumber": {"value": target.trim_start_matches("4:")}, "rawId": target},
            "initialSilenceTimeoutInSeconds": 1,
            "dtmfOptions": {"maxTonesToCollect": max, "interToneTimeoutInSeconds": 1, "stopTones": stop}
        },
        "operationContext": "ivr"
    })
}

fn sub_code(e: &Value) -> u64 {
    e["data"]["resultInformation"]["subCode"].as_u64().unwrap()
}

#[tokio::test]
async fn play_started_completed_and_failed() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    let r = h
        .post(&format!("/calling/callConnections/{ccid}:play"), json!({"playSources": [file("https://example.com/hold.wav")], "operationContext": "p1"}))
        .await;
    assert_eq!(r.status, 202);
    assert!(r.raw.is_empty());
    let evs = h.cb.until(Some(&ccid), "PlayCompleted").await;
    let types: Vec<String> = evs.iter().map(short_type).collect();
    assert_eq!(types, ["PlayStarted", "PlayCompleted"]);
    assert_eq!(evs[1]["data"]["operationContext"], "p1");
    assert_eq!(
        evs[1]["data"]["resultInformation"]["message"],
        "Action completed successfully."
    );

    // Invalid file: PlayFailed 400/8535 with the failing index, like the live capture.
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [{"kind": "text", "text": {"text": "hi"}}, file("https://example.com/song.ogg")], "operationContext": "p2"}),
    )
    .await;
    let e = h.cb.expect(&ccid, "PlayFailed").await;
    assert_eq!(e["data"]["failedPlaySourceIndex"], 1);
    assert_eq!(sub_code(&e), 8535);
    assert_eq!(e["data"]["resultInformation"]["code"], 400);

    // Shape errors are synchronous.
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:play"),
            json!({"playSources": []}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:play"),
            json!({"playSources": [{"kind": "file"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.plays, 2);
}

#[tokio::test]
async fn looped_play_runs_until_cancelled_and_queues_behind_it() {
    let h = start().await;
    let (_, ccid) = h.connected_call().await;
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [file("https://example.com/music.wav")], "playOptions": {"loop": true}, "operationContext": "music"}),
    )
    .await;
    h.cb.expect(&ccid, "PlayStarted").await;
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [file("https://example.com/a.wav")], "operationContext": "queued"}),
    )
    .await;
    let quiet = h.cb.drain(Duration::from_millis(200)).await;
    assert!(
        quiet.iter().all(|e| short_type(e) != "PlayCompleted"),
        "a loop never completes: {quiet:?}"
    );
    assert_eq!(h.sim.call(&ccid).unwrap().queued_media, 1);
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:cancelAllMediaOperations"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202);
    let evs = h.cb.until(Some(&ccid), "PlayCanceled").await;
    assert_eq!(evs.last().unwrap()["data"]["operationContext"], "music");
    let second = h.cb.expect(&ccid, "PlayCanceled").await;
    assert_eq!(second["data"]["operationContext"], "queued");
    assert_eq!(h.sim.call(&ccid).unwrap().media, None);

    // interruptCallMediaOperation barges in.
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [file("https://example.com/music.wav")], "playOptions": {"loop": true}, "operationContext": "m2"}),
    )
    .await;
    h.cb.expect(&ccid, "PlayStarted").await;
    h.post(
        &format!("/calling/callConnections/{ccid}:play"),
        json!({"playSources": [file("https://example.com/urgent.wav")], "interruptCallMediaOperation": true, "operationContext": "urgent"}),
    )
    .await;
    let c = h.cb.expect(&ccid, "PlayCanceled").await;
    assert_eq!(c["data"]["operationContext"], "m2");
    let done = h.cb.expect(&ccid, "PlayCompleted").await;
    assert_eq!(done["data"]["operationContext"], "urgent");
}

#[tokio::test]
async fn recognize_scripted_digits() {
    let h = start().await;
    let (call, ccid) = h
        .connected_call_with(StartCall {
            dtmf: Some("42".into()),
            ..Default::default()
        })
        .await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:recognize"),
            recognize_dtmf(&call.from, 2, &[]),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let e = h.cb.expect(&ccid, "RecognizeCompleted").await;
    assert_eq!(e["data"]["recognitionType"], "dtmf");
    assert_eq!(e["data"]["dtmfResult"]["tones"], json!(["four", "two"]));
    assert_eq!(e["data"]["operationContext"], "ivr");
    assert_eq!(sub_code(&e), 8531);

    // Digits pressed while listening, ended by a stop tone.
    h.post(
        &format!("/calling/callConnections/{ccid}:recognize"),
        recognize_dtmf(&call.from, 5, &["pound"]),
    )
    .await;
    h.sim.press_digits(&ccid, "7*#").unwrap();
    let e = h.cb.expect(&ccid, "RecognizeCompleted").await;
    assert_eq!(
        e["data"]["dtmfResult"]["tones"],
        json!(["seven", "asterisk"])
    );
    assert_eq!(sub_code(&e), 8514);

    // Fewer tones than wanted: the inter-tone timeout ends it.
    h.post(
        &format!("/calling/callConnections/{ccid}:recognize"),
        recognize_dtmf(&call.from, 4, &[]),
    )
    .await;
    h.sim.press_digits(&ccid, "9").unwrap();
    let e = h.cb.expect(&ccid, "RecognizeCompleted").await;
    assert_eq!(e["data"]["dtmfResult"]["tones"], json!(["nine"]));
    assert_eq!(sub_code(&e), 8532);

    // Nothing pressed: RecognizeFailed with the initial silence timeout.
    h.post(
        &format!("/calling/callConnections/{ccid}:recognize"),
        recognize_dtmf(&call.from, 1, &[]),
    )
    .await;
    let e = h.cb.expect(&ccid, "RecognizeFailed").await;
    assert_eq!(sub_code(&e), 8510);
    assert_eq!(e["data"]["resultInformation"]["code"], 400);
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.recognizes, 4);
}

#[tokio::test]
async fn recognize_choices_by_tone() {
    let h = start().await;
    let (call, ccid) = h
        .connected_call_with(StartCall {
            dtmf: Some("2".into()),
            ..Default::default()
        })
        .await;
    let body = json!({
        "recognizeInputType": "choices",
        "recognizeOptions": {
            "targetParticipant": {"kind": "phoneNumber", "phoneNumber": {"value": call.from.trim_start_matches("4:")}},
            "choices": [{"label": "sales", "phrases": ["sales"], "tone": "one"}, {"label": "support", "phrases": ["support"], "tone": "two"}]
        },
        "operationContext": "menu"
    });
    assert_eq!(
        h.post(
            &format!("/calling/callConnections/{ccid}:recognize"),
            body.clone()
        )
        .await
        .status,
        202
    );
    let e = h.cb.expect(&ccid, "RecognizeCompleted").await;
    assert_eq!(e["data"]["recognitionType"], "choices");
    assert_eq!(e["data"]["choiceResult"]["label"], "support");
    h.sim.press_digits(&ccid, "9").unwrap();
    h.post(&format!("/calling/callConnections/{ccid}:recognize"), body)
        .await;
    let e = h.cb.expect(&ccid, "RecognizeFailed").await;
    assert_eq!(sub_code(&e), 8534);
}

#[tokio::test]
async fn recognize_is_refused_with_a_teams_user_in_the_call() {
    let h = start().await;
    let (call, ccid) = h.connected_call().await;
    h.add(&ccid, AGENT_ACCEPT, "a").await;
    h.cb.expect(&ccid, "AddParticipantSucceeded").await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:recognize"),
            recognize_dtmf(&call.from, 1, &[]),
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["error"]["code"], "8520");
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.recognizes, 0);
    // Speech is not simulated.
    let mut speech = recognize_dtmf(&call.from, 1, &[]);
    speech["recognizeInputType"] = json!("speech");
    assert_eq!(
        h.post(
            &format!("/calling/callConnections/{ccid}:recognize"),
            speech
        )
        .await
        .status,
        405
    );
}

#[tokio::test]
async fn hold_unhold_and_mute_show_in_participants_updated() {
    let h = start().await;
    let (call, ccid) = h
        .connected_call_with(StartCall {
            from: Some("8:acs:caller-resource_0001".into()),
            ..Default::default()
        })
        .await;
    let target = json!({"kind": "communicationUser", "communicationUser": {"id": call.from}});
    let r = h
        .post(&format!("/calling/callConnections/{ccid}:hold"), json!({"targetParticipant": target, "playSourceInfo": file("https://example.com/hold.wav")}))
        .await;
    assert_eq!(r.status, 200);
    let pu = h.cb.expect(&ccid, "ParticipantsUpdated").await;
    let caller = pu["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identifier"]["rawId"] == call.from.as_str())
        .unwrap()
        .clone();
    assert_eq!(caller["isOnHold"], true);
    assert_eq!(
        h.post(
            &format!("/calling/callConnections/{ccid}:unhold"),
            json!({"targetParticipant": target})
        )
        .await
        .status,
        200
    );
    let pu = h.cb.expect(&ccid, "ParticipantsUpdated").await;
    assert!(pu["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["isOnHold"] == false));

    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:mute"),
            json!({"targetParticipants": [target], "operationContext": "m"}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["operationContext"], "m");
    let pu = h.cb.expect(&ccid, "ParticipantsUpdated").await;
    assert!(pu["data"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["isMuted"] == true));
    // Only ACS users can be muted.
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}/participants:mute"),
            json!({"targetParticipants": [teams(AGENT_ACCEPT)]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let fx = h.sim.call_effects(&ccid).unwrap().effects;
    assert_eq!((fx.holds, fx.unholds, fx.mutes), (1, 1, 1));
}

/// ADR 0009: text and SSML need Azure AI services named at answer; without them the service
/// refuses play and recognize-with-a-text-prompt synchronously (405 / 8522), while audio
/// files still play.
#[tokio::test]
async fn text_to_speech_needs_cognitive_services_on_the_call() {
    let h = start().await;
    let (call, ccid) = h.connected_call_ai(StartCall::default(), None).await;
    let play = format!("/calling/callConnections/{ccid}:play");
    let text = json!({"kind": "text", "text": {"text": "Welcome", "sourceLocale": "en-US", "voiceName": "en-US-JennyNeural"}});
    let ssml = json!({"kind": "ssml", "ssml": {"ssmlText": "<speak version=\"1.0\" xml:lang=\"en-US\"><voice name=\"en-US-JennyNeural\">Hi</voice></speak>"}});
    for source in [text.clone(), ssml] {
        let r = h
            .post(
                &play,
                json!({"playSources": [source], "operationContext": "tts"}),
            )
            .await;
        assert_eq!(r.status, 405, "{:?}", r.body);
        assert_eq!(r.body["error"]["code"], "8522");
        assert_eq!(
            r.body["error"]["message"],
            "Request not allowed when Cognitive Service Configuration not set during call setup."
        );
    }
    // A text prompt before recognizing tones: refused the same way.
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid}:recognize"),
            recognize_dtmf(&call.from, 1, &[]),
        )
        .await;
    assert_eq!(r.status, 405, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "8522");
    // Audio files need no AI services.
    let r = h
        .post(&play, json!({"playSources": [file("https://example.com/hello.wav")], "operationContext": "file"}))
        .await;
    assert_eq!(r.status, 202);
    h.cb.expect(&ccid, "PlayCompleted").await;
    assert_eq!(h.sim.call_effects(&ccid).unwrap().effects.plays, 1);

    // The same text on a call answered with the endpoint plays.
    let (_, ccid2) = h.connected_call().await;
    let r = h
        .post(
            &format!("/calling/callConnections/{ccid2}:play"),
            json!({"playSources": [text], "operationContext": "tts"}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    h.cb.expect(&ccid2, "PlayCompleted").await;
}
