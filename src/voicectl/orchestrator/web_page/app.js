// The voicectl page: microphone, reply, transcript and reply state. How they travel is
// the transport script's (window.voicectlTransport): webrtc.js straight to the
// orchestrator, livekit.js through a LiveKit server.
// window.voicectl exposes what the page saw (events, 10 ms levels of the microphone
// and of the reply on one clock) so tests and curious users can measure it.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const WINDOW_S = 0.01;

// Posts [time, rms, peak] per 10 ms of whatever is connected to it.
const LEVELS_WORKLET = `
class Levels extends AudioWorkletProcessor {
  constructor() { super(); this.n = 0; this.sum = 0; this.peak = 0; this.t = currentTime; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    const size = Math.round(sampleRate * ${WINDOW_S});
    const len = ch ? ch.length : 128;
    for (let i = 0; i < len; i++) {
      const x = ch ? ch[i] : 0;
      this.sum += x * x; this.peak = Math.max(this.peak, Math.abs(x));
      if (++this.n === size) {
        this.port.postMessage([this.t, Math.sqrt(this.sum / size), this.peak]);
        this.n = 0; this.sum = 0; this.peak = 0;
        this.t = currentTime + (i + 1) / sampleRate;
      }
    }
    return true;
  }
}
registerProcessor("levels", Levels);
`;

const state = {
  pc: null, channel: null, mic: null, ctx: null,
  events: [], levels: { mic: [], reply: [] }, sessionId: null, connected: false,
};
window.voicectl = state;

// What the browser's receiver says of the reply (the transport reads its stats).
state.receiverStats = async () => (window.voicectlTransport.receiverStats
  ? window.voicectlTransport.receiverStats(state) : {});

function now() { return state.ctx ? state.ctx.currentTime : performance.now() / 1000; }

function line(cls, text) {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  $("log").appendChild(p);
  p.scrollIntoView({ block: "end" });
  return p;
}

let partial = null;
let agentLine = null; // the reply being spoken: its words arrive one by one
function showReplyState(s, label) {
  $("reply-state").dataset.state = s;
  $("reply-state").textContent = label;
}
function flagInterrupt() {
  const el = $("interrupt");
  el.classList.add("on");
  clearTimeout(flagInterrupt.timer);
  flagInterrupt.timer = setTimeout(() => el.classList.remove("on"), 1500);
}

function onEvent(ev) {
  state.events.push({ t: now(), ...ev });
  switch (ev.type) {
    case "started": state.sessionId = ev.session_id; $("status").textContent = "connected"; break;
    case "transcript.partial":
      partial = partial || line("you partial", "");
      partial.textContent = "… " + ev.text; break;
    case "transcript.final":
      if (partial) { partial.remove(); partial = null; }
      line("you", "you: " + ev.text); agentLine = null; break;
    case "reply.text":
      if (!agentLine) agentLine = line("agent", "agent: " + ev.text.trimStart());
      else agentLine.textContent += ev.text;
      break;
    case "reply.started": case "reply.resumed": setMuted(false); showReplyState("speaking", "agent speaking"); break;
    case "reply.paused": showReplyState("paused", "agent paused"); flagInterrupt(); break;
    case "clear": setMuted(true); flagInterrupt(); break;
    case "reply.stopped":
      showReplyState("idle", "agent stopped"); flagInterrupt();
      if (agentLine) agentLine.textContent += " —"; agentLine = null; break;
    case "reply.done": showReplyState("idle", "agent idle"); agentLine = null; break;
    case "error": line("error", `error ${ev.code}: ${ev.message}`); break;
  }
}

// On "clear" the agent has stopped sending; what the browser's jitter buffer still
// holds is dropped by muting until the reply resumes or the next one starts.
let gain = null;
function setMuted(muted) { if (gain) gain.gain.value = muted ? 0 : 1; }

// Levels of what ``from`` carries (for the reply: after the mute, so what is heard).
function levels(from, into) {
  const node = new AudioWorkletNode(state.ctx, "levels");
  node.port.onmessage = (m) => into.push(m.data);
  const sink = state.ctx.createGain(); // pulled by the destination, heard by nobody
  sink.gain.value = 0;
  from.connect(node).connect(sink).connect(state.ctx.destination);
}

async function connect() {
  $("connect").disabled = true;
  $("status").textContent = "connecting";
  state.ctx = new AudioContext({ sampleRate: 48000 });
  await state.ctx.audioWorklet.addModule(
    URL.createObjectURL(new Blob([LEVELS_WORKLET], { type: "text/javascript" })));
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  });
  state.mic = stream.getAudioTracks()[0];
  setMode();
  levels(state.ctx.createMediaStreamSource(stream), state.levels.mic);

  const ok = await window.voicectlTransport.connect(stream, { state, params, onEvent, playReply, line });
  if (ok) $("talk").disabled = false;
}

// The agent's voice: played through WebAudio (muted on "clear"), levels measured after.
function playReply(remote) {
  // Chromium feeds a remote track to WebAudio only while a media element plays it;
  // the element is muted and the page plays the reply through WebAudio instead.
  const el = $("reply");
  el.srcObject = remote; el.muted = true;
  gain = state.ctx.createGain();
  state.ctx.createMediaStreamSource(remote).connect(gain).connect(state.ctx.destination);
  levels(gain, state.levels.reply);
}

function pushToTalk() { return document.querySelector('input[name="mode"]:checked').value === "ptt"; }
function setMode() {
  if (state.mic) state.mic.enabled = !pushToTalk();
  $("talk").textContent = pushToTalk() ? "Hold to talk (space)" : "Open mic: just talk";
}
function hold(down) {
  if (!pushToTalk() || !state.mic) return;
  state.mic.enabled = down;
  $("talk").classList.toggle("held", down);
}

$("connect").onclick = () => connect().catch((e) => { line("error", String(e)); $("status").textContent = "failed"; });
document.querySelectorAll('input[name="mode"]').forEach((r) => (r.onchange = setMode));
$("talk").onpointerdown = () => hold(true);
$("talk").onpointerup = $("talk").onpointerleave = () => hold(false);
document.addEventListener("keydown", (e) => { if (e.code === "Space" && !e.repeat) hold(true); });
document.addEventListener("keyup", (e) => { if (e.code === "Space") hold(false); });
if (params.get("mode") === "ptt") { document.querySelector('input[value="ptt"]').checked = true; }
if (params.get("autostart") === "1") $("connect").click();
