// The built-in page's transport: one peer connection to the orchestrator itself
// (POST /api/offer, aiortc there), events as JSON on the "events" data channel.
"use strict";

const INBOUND_STATS = ["totalSamplesReceived", "concealedSamples", "silentConcealedSamples",
  "concealmentEvents", "jitterBufferDelay", "jitterBufferEmittedCount", "packetsLost"];

// Concealment is audio the browser had to invent because packets came late or not at all.
function inboundAudio(report) {
  const out = {};
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "audio") for (const k of INBOUND_STATS) out[k] = r[k];
  });
  return out;
}

window.voicectlTransport = {
  async connect(stream, ui) {
    const { state, params, onEvent, playReply, line } = ui;
    const pc = new RTCPeerConnection({ iceServers: [] });
    state.pc = pc;
    pc.addTrack(state.mic, stream);
    state.channel = pc.createDataChannel("events");
    state.channel.onmessage = (m) => onEvent(JSON.parse(m.data));
    pc.ontrack = (e) => playReply(e.streams[0] || new MediaStream([e.track]));
    pc.onconnectionstatechange = () => {
      state.connected = pc.connectionState === "connected";
      if (["failed", "closed", "disconnected"].includes(pc.connectionState)) {
        document.getElementById("status").textContent = pc.connectionState;
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === "complete") return done();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    });
    const headers = { "Content-Type": "application/json" };
    if (params.get("token")) headers.Authorization = "Bearer " + params.get("token");
    const body = { type: "offer", sdp: pc.localDescription.sdp };
    if (params.get("model_id")) body.model_id = params.get("model_id");
    if (params.get("voice")) body.voice = params.get("voice");
    const res = await fetch("api/offer", { method: "POST", headers, body: JSON.stringify(body) });
    const answer = await res.json();
    if (!res.ok) {
      document.getElementById("status").textContent = "refused";
      line("error", `error ${answer.code}: ${answer.message}`);
      return false;
    }
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    return true;
  },
  async receiverStats(state) { return state.pc ? inboundAudio(await state.pc.getStats()) : {}; },
};
