//! The adapter against the test peer: the basic path, end to end over real AMQP on loopback.

use std::net::Ipv4Addr;
use std::time::Duration;

use switchboard_queue::{OutgoingMessage, QueueConfig};
use switchboard_servicebus::peer::TestPeer;
use switchboard_servicebus::ServiceBusNamespace;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_receive_complete() {
    let config = QueueConfig::default();
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 200), &[("calls", config.clone())])
        .await
        .expect("peer");
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("calls", config).expect("queue");
    q.sender
        .send(OutgoingMessage::new("m1", "hello").with_property("k", 1))
        .await
        .expect("send");
    let got = q
        .receiver
        .receive(5, Duration::from_secs(5))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, "m1");
    assert_eq!(&got[0].body[..], b"hello");
    assert_eq!(got[0].delivery_count, 1);
    q.receiver.complete(&got[0]).await.expect("complete");
    assert!(q
        .receiver
        .receive(1, Duration::from_millis(300))
        .await
        .expect("receive")
        .is_empty());
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_after_an_empty_receive() {
    let config = QueueConfig::default();
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 201), &[("calls", config.clone())])
        .await
        .expect("peer");
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("calls", config).expect("queue");
    assert!(q
        .receiver
        .receive(5, Duration::from_millis(300))
        .await
        .expect("receive")
        .is_empty());
    q.sender
        .send(OutgoingMessage::new("m1", "hello"))
        .await
        .expect("send");
    let got = q
        .receiver
        .receive(5, Duration::from_secs(5))
        .await
        .expect("receive");
    assert_eq!(
        got.len(),
        1,
        "a receive after an empty one gets the message"
    );
    q.receiver.complete(&got[0]).await.expect("complete");
    peer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_while_receiving() {
    let config = QueueConfig::default();
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 202), &[("calls", config.clone())])
        .await
        .expect("peer");
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("calls", config).expect("queue");
    assert!(q
        .receiver
        .receive(5, Duration::from_millis(300))
        .await
        .expect("receive")
        .is_empty());
    let sender = std::sync::Arc::clone(&q.sender);
    let started = std::time::Instant::now();
    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = sender.send(OutgoingMessage::new("late", "x")).await;
        eprintln!("sent after {:?}: {r:?}", started.elapsed());
    });
    let got = q
        .receiver
        .receive(5, Duration::from_secs(5))
        .await
        .expect("receive");
    eprintln!("received after {:?}: {}", started.elapsed(), got.len());
    send.await.expect("join");
    let backing = peer.backing_queue("calls").expect("backing");
    eprintln!(
        "backing peek: {:?}",
        backing.receiver.peek(0, 10).await.map(|v| v
            .iter()
            .map(|m| (m.message_id.clone(), m.delivery_count))
            .collect::<Vec<_>>())
    );
    assert_eq!(got.len(), 1);
    peer.shutdown().await;
}

/// The broker goes away and comes back (a new peer on the same address): the adapter's next
/// calls reconnect — the SDK re-opens the connection with backoff, the adapter re-opens links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_broker_restarts() {
    let config = QueueConfig::default();
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 203), &[("calls", config.clone())])
        .await
        .expect("peer");
    // The restarted broker comes back on the very same address.
    let ip = peer.addr().ip();
    let std::net::IpAddr::V4(ip) = ip else {
        unreachable!("the peer listens on IPv4 loopback")
    };
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("calls", config.clone()).expect("queue");
    q.sender
        .send(OutgoingMessage::new("before", "1"))
        .await
        .expect("send");
    let got = q
        .receiver
        .receive(1, Duration::from_secs(5))
        .await
        .expect("receive");
    q.receiver.complete(&got[0]).await.expect("complete");
    peer.shutdown().await;

    let peer = TestPeer::start(ip, &[("calls", config)])
        .await
        .expect("peer again");
    let mut sent = Err(None);
    for _ in 0..10 {
        match q.sender.send(OutgoingMessage::new("after", "2")).await {
            Ok(()) => {
                sent = Ok(());
                break;
            }
            Err(e) => {
                assert!(e.is_retryable(), "a lost connection is retryable: {e}");
                sent = Err(Some(e));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    sent.expect("send after the restart");
    let mut got = Vec::new();
    for _ in 0..10 {
        match q.receiver.receive(1, Duration::from_secs(2)).await {
            Ok(batch) if !batch.is_empty() => {
                got = batch;
                break;
            }
            Ok(_) => {}
            Err(e) => assert!(e.is_retryable(), "a lost connection is retryable: {e}"),
        }
    }
    assert_eq!(got.len(), 1, "received after the restart");
    assert_eq!(got[0].message_id, "after");
    q.receiver.complete(&got[0]).await.expect("complete");
    peer.shutdown().await;
}

/// fe2o3-amqp 0.14.1 put an unsettled delivery in its link's map only after handing the transfer
/// to the session task; a settlement that came back before the sending task resumed found no
/// entry and was dropped, and that send (a CBS `put-token`, a queue send, a `$management`
/// request) waited forever (vendor/fe2o3-amqp/VENDORED.md). Here many links send to `$cbs`,
/// which the peer settles at once, while spinning threads oversubscribe the two cores so the
/// sending tasks get preempted in that gap: every send must still get its outcome. Without the
/// patch this lost a settlement in most runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_settlement_that_beats_the_sender_is_not_lost() {
    use fe2o3_amqp::sasl_profile::SaslProfile;
    use fe2o3_amqp::types::messaging::Message;
    use fe2o3_amqp::{Connection, Sender, Session};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const LINKS: usize = 16;
    const SENDS: usize = 1500;
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 204), &[])
        .await
        .expect("peer");
    let stop = Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..3)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();

    let mut connection = Connection::builder()
        .container_id("settlement-race")
        .sasl_profile(SaslProfile::Anonymous)
        .open(format!("amqp://{}", peer.addr()).as_str())
        .await
        .expect("connection");
    let mut session = Session::begin(&mut connection).await.expect("session");
    let mut links = tokio::task::JoinSet::new();
    for l in 0..LINKS {
        let mut sender = Sender::attach(&mut session, format!("race-{l}"), "$cbs")
            .await
            .expect("attach");
        links.spawn(async move {
            for i in 0..SENDS {
                let message = Message::builder().value(format!("{l}/{i}")).build();
                match tokio::time::timeout(Duration::from_secs(10), sender.send(message)).await {
                    Ok(outcome) => {
                        outcome
                            .expect("send")
                            .accepted_or("not accepted")
                            .expect("accepted");
                    }
                    // Closing would wait for the lost outcome too; the connection goes below.
                    Err(_) => return Some(i),
                }
            }
            sender.close().await.expect("close");
            None
        });
    }
    let mut hung = Vec::new();
    while let Some(link) = links.join_next().await {
        if let Some(at) = link.expect("link task") {
            hung.push(at);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        s.join().expect("spinner");
    }
    assert!(
        hung.is_empty(),
        "{} of {LINKS} links had a send that never got its outcome (at sends {hung:?})",
        hung.len()
    );
    session.end().await.expect("end session");
    connection.close().await.expect("close connection");
    peer.shutdown().await;
}

/// How long the concurrent receive below waits on an empty queue (as a worker's
/// `receive_wait`, made long): a settle must not wait it out.
const LONG_WAIT: Duration = Duration::from_secs(10);

/// A worker handles a message while its receive loop already waits for the next one on the
/// same link (an empty queue). The settle cuts that wait short instead of waiting it out — a
/// worker started from zero settled its first message one `receive_wait` late — and the
/// receive then goes on waiting on the same link and still gets the next message: its credit
/// was drained, not lost, and nothing was left in a buffer nobody reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settle_cuts_a_waiting_receive_short_and_the_receive_goes_on() {
    let config = QueueConfig::default();
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 206), &[("calls", config.clone())])
        .await
        .expect("peer");
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("calls", config).expect("queue");
    q.sender
        .send(OutgoingMessage::new("m1", "hello"))
        .await
        .expect("send");
    let got = q
        .receiver
        .receive(1, Duration::from_secs(5))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    let receiver = std::sync::Arc::clone(&q.receiver);
    let waiting = tokio::spawn(async move { receiver.receive(1, LONG_WAIT).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiting.is_finished(),
        "the empty queue's receive returned early"
    );
    tokio::time::timeout(LONG_WAIT / 2, q.receiver.complete(&got[0]))
        .await
        .expect("the settle waited for the concurrent receive to run out")
        .expect("complete");
    // Ordering, not a stopwatch: the settle is done while that receive still waits.
    assert!(
        !waiting.is_finished(),
        "the receive ended instead of waiting on after the settle"
    );
    // Read from the peer's backing queue, outside the AMQP connection, so the broker may
    // apply the disposition a moment later; it must not need the receive to end for that.
    let backing = peer.backing_queue("calls").expect("backing");
    let mut active = 1;
    for _ in 0..100 {
        active = backing
            .receiver
            .runtime_properties()
            .await
            .expect("props")
            .active_message_count;
        if active == 0 || waiting.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(active, 0, "the message is settled");
    assert!(!waiting.is_finished(), "the receive stopped waiting");
    // The receive that was cut short is still asking for the next message.
    q.sender
        .send(OutgoingMessage::new("m2", "next"))
        .await
        .expect("send");
    let next = tokio::time::timeout(LONG_WAIT, waiting)
        .await
        .expect("the waiting receive ends")
        .expect("join")
        .expect("receive");
    assert_eq!(
        next.iter()
            .map(|d| d.message_id.as_str())
            .collect::<Vec<_>>(),
        ["m2"]
    );
    q.receiver.complete(&next[0]).await.expect("complete m2");
    peer.shutdown().await;
}

/// A dead-letter made while a receive waits on its link reaches the broker before the settle
/// returns, so what follows sees it (the order the reverted multi-link fix lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_made_while_a_receive_waits_is_seen_right_after() {
    let config = QueueConfig::default();
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 207), &[("calls", config.clone())])
        .await
        .expect("peer");
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("calls", config).expect("queue");
    for id in ["d1", "d2"] {
        q.sender
            .send(OutgoingMessage::new(id, "x"))
            .await
            .expect("send");
    }
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(
            q.receiver
                .receive(2 - got.len(), Duration::from_secs(5))
                .await
                .expect("receive"),
        );
    }
    let receiver = std::sync::Arc::clone(&q.receiver);
    let waiting = tokio::spawn(async move { receiver.receive(1, LONG_WAIT).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (i, d) in got.iter().enumerate() {
        tokio::time::timeout(
            LONG_WAIT / 2,
            q.receiver
                .dead_letter(d, &format!("reason-{i}"), "described"),
        )
        .await
        .expect("the dead-letter waited for the concurrent receive to run out")
        .expect("dead-letter");
    }
    assert!(!waiting.is_finished(), "the receive stopped waiting");
    let dead = q.dead_letters.peek(0, 10).await.expect("peek");
    assert_eq!(
        dead.iter()
            .map(|m| m.message_id.as_str())
            .collect::<Vec<_>>(),
        ["d1", "d2"]
    );
    assert_eq!(q.dead_letters.purge().await.expect("purge"), 2);
    waiting.abort();
    peer.shutdown().await;
}

/// An accept waiting on the broker for a session does not hold up another accept: the SDK's
/// accept borrows its connection for the whole wait, so with one session connection a named
/// accept waited out the other accept's attempt (the peer answers one within 1 s: about
/// 900 ms here); with several it is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accept_waiting_for_a_session_does_not_hold_up_another() {
    let config = QueueConfig {
        requires_session: true,
        ..QueueConfig::default()
    };
    let peer = TestPeer::start_near(Ipv4Addr::new(127, 0, 0, 208), &[("events", config.clone())])
        .await
        .expect("peer");
    let ns = ServiceBusNamespace::connect(peer.options())
        .await
        .expect("connect");
    let q = ns.queue("events", config).expect("queue");
    assert!(q.receiver.concurrent_accepts() > 1);
    let receiver = std::sync::Arc::clone(&q.receiver);
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let got = receiver.accept_next_session(Duration::from_secs(3)).await;
        (got.map(|s| s.is_none()), started.elapsed())
    });
    // Let the first accept reach the broker and wait there.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let named = q
        .receiver
        .accept_session("call-1")
        .await
        .expect("named accept");
    let took = started.elapsed();
    assert_eq!(named.session_id(), "call-1");
    assert!(
        took < Duration::from_millis(500),
        "the named accept waited {took:?}"
    );
    assert!(
        !waiting.is_finished(),
        "the first accept is still waiting on the broker"
    );
    named.close().await.expect("close");
    let (none, waited) = waiting.await.expect("join");
    assert!(none.expect("accept"), "no session had messages");
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    peer.shutdown().await;
}
