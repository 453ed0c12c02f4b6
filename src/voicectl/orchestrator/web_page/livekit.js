// The LiveKit page's transport (/livekit): a room on a LiveKit server, joined with
// LiveKit's browser SDK (livekit-client, served by the orchestrator from npm's package).
// The orchestrator hands out the room and token (api/connection-details, the shape
// agent-starter-react uses) and is dispatched into the room as its agent; events
// travel as data packets on the "events" topic.
"use strict";

const EVENTS_TOPIC = "events";
const LIVEKIT_STATS = ["totalSamplesReceived", "concealedSamples", "silentConcealedSamples",
  "concealmentEvents", "jitterBufferDelay", "jitterBufferEmittedCount", "packetsLost"];

window.voicectlTransport = {
  async connect(stream, ui) {
    const { state, params, onEvent, playReply, line } = ui;
    const LK = window.LivekitClient;
    if (!LK) {
      line("error", "livekit-client is not installed next to the page: see docs/webrtc.md");
      return false;
    }
    const headers = { "Content-Type": "application/json" };
    if (params.get("token")) headers.Authorization = "Bearer " + params.get("token");
    const agent = params.get("agent") || "";
    const res = await fetch("api/connection-details", {
      method: "POST", headers, body: JSON.stringify({ room_config: { agents: [{ agent_name: agent }] } }),
    });
    const details = await res.json();
    if (!res.ok) {
      document.getElementById("status").textContent = "refused";
      line("error", `error ${details.code}: ${details.message}`);
      return false;
    }
    const room = new LK.Room({ adaptiveStream: false, dynacast: false });
    state.room = room;
    state.roomName = details.roomName;
    const decoder = new TextDecoder();
    room.on(LK.RoomEvent.DataReceived, (payload, participant, kind, topic) => {
      if (topic === EVENTS_TOPIC) onEvent(JSON.parse(decoder.decode(payload)));
    });
    room.on(LK.RoomEvent.TrackSubscribed, (track) => {
      if (track.kind !== LK.Track.Kind.Audio || state.replyTrack) return;
      state.replyTrack = track;
      playReply(new MediaStream([track.mediaStreamTrack]));
    });
    room.on(LK.RoomEvent.Disconnected, () => {
      state.connected = false;
      document.getElementById("status").textContent = "disconnected";
    });
    await room.connect(details.serverUrl, details.participantToken);
    state.connected = true;
    await room.localParticipant.publishTrack(state.mic, { source: LK.Track.Source.Microphone });
    return true;
  },
  async receiverStats(state) {
    const out = {};
    const track = state.replyTrack;
    const report = track && track.receiver ? await track.receiver.getStats() : null;
    if (!report) return out;
    report.forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") for (const k of LIVEKIT_STATS) out[k] = r[k];
    });
    return out;
  },
};
