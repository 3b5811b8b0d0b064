// The sample-style peer: what Microsoft's Call Automation quick-starts build, sized for a
// benchmark. One Node process, the official SDK, an Event Grid webhook that answers each
// IncomingCall, a callback route that adds an agent on CallConnected, every piece of state in
// memory. No queue, no callback token check, no idempotency: a crash loses every call in flight.
//
// Configuration (environment):
//   ACS_CONNECTION_STRING  endpoint=...;accesskey=...
//   CALLBACK_HOST          base URL the callbacks reach this process on (http://127.0.0.1:PORT)
//   PORT                   port to listen on (0 = any free port)
//   AGENTS                 comma-separated Teams user object ids, picked longest-idle first
// Prints "sample-js listening on http://127.0.0.1:PORT" once it listens.
"use strict";

const express = require("express");
const { CallAutomationClient } = require("@azure/communication-call-automation");

const connectionString = process.env.ACS_CONNECTION_STRING;
const port = Number(process.env.PORT || 0);
if (!connectionString) {
  console.error("ACS_CONNECTION_STRING is required");
  process.exit(64);
}
// The simulator serves plain http on loopback; against ACS this option changes nothing.
const acsClient = new CallAutomationClient(connectionString, { allowInsecureConnection: true });

// Longest-idle first: agents wait in a FIFO; a freed agent goes to the back.
const idle = (process.env.AGENTS || "").split(",").filter((a) => a.length > 0);
// callConnectionId -> { agent, joined, ended }
const calls = new Map();

function nextAgent() {
  return idle.shift();
}

function release(call) {
  if (call && call.agent) {
    idle.push(call.agent);
    call.agent = undefined;
  }
}

async function addAgent(callConnectionId) {
  const call = calls.get(callConnectionId);
  if (!call || call.ended) return;
  const agent = nextAgent();
  if (!agent) {
    // Nobody free: try again shortly, like the samples' simple retry.
    setTimeout(() => addAgent(callConnectionId), 100);
    return;
  }
  call.agent = agent;
  call.joined = false;
  try {
    await acsClient
      .getCallConnection(callConnectionId)
      .addParticipant({ targetParticipant: { microsoftTeamsUserId: agent } }, {
        operationContext: "addAgent",
      });
  } catch (e) {
    console.error(`addParticipant failed for ${callConnectionId}: ${e.message}`);
    release(call);
  }
}

async function hangUp(callConnectionId) {
  try {
    await acsClient.getCallConnection(callConnectionId).hangUp(true);
  } catch (e) {
    console.error(`hangUp failed for ${callConnectionId}: ${e.message}`);
  }
}

const app = express();
app.use(express.json({ limit: "1mb", type: ["application/json", "application/cloudevents+json"] }));

// Event Grid webhook subscription for Microsoft.Communication.IncomingCall.
app.post("/api/incomingCall", async (req, res) => {
  const events = Array.isArray(req.body) ? req.body : [req.body];
  for (const event of events) {
    const type = event.eventType || event.type;
    const data = event.data || {};
    if (type === "Microsoft.EventGrid.SubscriptionValidationEvent") {
      res.status(200).json({ validationResponse: data.validationCode });
      return;
    }
    if (type === "Microsoft.Communication.IncomingCall") {
      const callbackUri = `${process.env.CALLBACK_HOST}/api/callbacks`;
      try {
        await acsClient.answerCall(data.incomingCallContext, callbackUri);
      } catch (e) {
        console.error(`answerCall failed: ${e.message}`);
      }
    }
  }
  res.sendStatus(200);
});

// Call Automation callbacks (CloudEvents), unauthenticated as in the samples.
app.post("/api/callbacks", (req, res) => {
  const events = Array.isArray(req.body) ? req.body : [req.body];
  res.sendStatus(200);
  for (const event of events) {
    const data = event.data || {};
    const id = data.callConnectionId;
    switch (event.type) {
      case "Microsoft.Communication.CallConnected":
        calls.set(id, { agent: undefined, joined: false, ended: false });
        addAgent(id);
        break;
      case "Microsoft.Communication.AddParticipantSucceeded": {
        const call = calls.get(id);
        if (call) call.joined = true;
        break;
      }
      case "Microsoft.Communication.AddParticipantFailed": {
        const call = calls.get(id);
        release(call);
        addAgent(id);
        break;
      }
      case "Microsoft.Communication.ParticipantsUpdated": {
        const call = calls.get(id);
        if (!call || !call.joined || call.ended || !call.agent) break;
        const here = (data.participants || []).some(
          (p) => p.identifier && p.identifier.rawId && p.identifier.rawId.endsWith(call.agent),
        );
        if (!here) {
          // The agent hung up: end the call for the caller too.
          call.ended = true;
          hangUp(id);
        }
        break;
      }
      case "Microsoft.Communication.CallDisconnected": {
        const call = calls.get(id);
        release(call);
        calls.delete(id);
        break;
      }
      default:
        break;
    }
  }
});

const server = app.listen(port, "127.0.0.1", () => {
  console.log(`sample-js listening on http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
process.on("SIGINT", () => server.close(() => process.exit(0)));
