// app.js is the page: it wires the buttons, the chat box and the videos to a
// Connection (connection.js) and to the local media (media.js). All protocol
// and WebRTC details live in connection.js; this file only reacts to events.

import { Connection, takeAccessToken } from './connection.js';
import { ChatLog } from './chatlog.js';
import { InterestTags } from './interests.js';
import { cameraReason, listDevices, openLocalMedia, openTrack } from './media.js';
import { REASON_TEXT, ReportDialog, TermsDialog } from './moderation.js';

/** Status line texts, one per phase of the chat view. */
const STATUS = {
  connecting: 'Connecting',
  searching: 'Looking for someone',
  talking: "You're talking to a stranger",
  left: 'Stranger left',
  reconnecting: 'Reconnecting',
};

/** Why a partner went away, as a notice in the chat. @type {Record<string, string>} */
const LEFT_REASONS = {
  next: 'Stranger skipped to someone else.',
  leave: 'Stranger left the chat.',
  disconnect: 'Stranger disconnected.',
  media_failed: 'The video connection to the stranger failed.',
  ended: 'The chat was ended by the server.',
};

/**
 * Why the server refused to connect, as a banner (see onRefused, which adds
 * when the page tries again after a limit).
 * @type {Record<string, string>}
 */
const REFUSALS = {
  unauthorized: 'This link is invalid or has expired. Go back to the site that sent you here for a new one.',
  unauthorizedNoToken: 'This tandem server admits visitors only through a link from its own website. Open it from there.',
  limited: 'Too many connections from your network right now.',
};

/** What the stage says on the landing view when there is no camera preview. */
const LANDING_OVERLAY = "Press Start to meet a stranger. Your partner's video will appear here.";

const ESC_CONFIRM_MS = 3000;
const TYPING_IDLE_MS = 4000;
const ONLINE_POLL_MS = 15000;

/**
 * Finds an element of the page by id and checks its type.
 * @template {HTMLElement} T
 * @param {string} id @param {{new (): T}} type
 * @returns {T}
 */
function $(id, type) {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`tandem: #${id} is missing from the page`);
  return el;
}

/**
 * The access token of an embedding site's link (`/?token=...`), taken out of
 * the address bar at once and sent with every WebSocket attempt.
 */
const accessToken = takeAccessToken();

/**
 * Browsers give the camera and microphone only to secure contexts (https://,
 * or http://localhost): on any other http:// page a call cannot start.
 */
const insecure = !window.isSecureContext;

const ui = {
  online: $('online', HTMLElement),
  banner: $('banner', HTMLElement),
  insecure: $('insecure-notice', HTMLElement),
  secureLink: $('secure-link', HTMLAnchorElement),
  remote: $('remote', HTMLElement),
  remoteVideo: $('remote-video', HTMLVideoElement),
  localVideo: $('local-video', HTMLVideoElement),
  localPlaceholder: $('local-placeholder', HTMLElement),
  overlay: $('remote-overlay', HTMLElement),
  overlayText: $('remote-overlay-text', HTMLElement),
  unmute: $('unmute', HTMLButtonElement),
  weakLink: $('weak-link', HTMLElement),
  cameraOffLabel: $('camera-off-label', HTMLElement),
  mediaNote: $('media-note', HTMLElement),
  status: $('status', HTMLElement),
  common: $('common-interests', HTMLElement),
  typing: $('typing', HTMLElement),
  composer: $('composer', HTMLFormElement),
  message: $('message', HTMLInputElement),
  send: $('send', HTMLButtonElement),
  escHint: $('esc-hint', HTMLElement),
  start: $('start', HTMLButtonElement),
  next: $('next', HTMLButtonElement),
  stop: $('stop', HTMLButtonElement),
  report: $('report', HTMLButtonElement),
  block: $('block', HTMLButtonElement),
  mute: $('mute', HTMLButtonElement),
  camera: $('camera', HTMLButtonElement),
  cameraSelect: $('camera-select', HTMLSelectElement),
  micSelect: $('mic-select', HTMLSelectElement),
};

const chat = new ChatLog($('messages', HTMLOListElement));
const reportDialog = new ReportDialog($('report-dialog', HTMLDialogElement), $('report-form', HTMLFormElement),
  $('report-comment', HTMLTextAreaElement), $('report-cancel', HTMLButtonElement));
const termsDialog = new TermsDialog($('terms-dialog', HTMLDialogElement), $('terms-text', HTMLElement),
  $('terms-accept', HTMLButtonElement), $('terms-decline', HTMLButtonElement));
const interests = new InterestTags($('interest-tags', HTMLUListElement), $('interests', HTMLInputElement));

/** Everything the page remembers; changed only by the functions below. */
const state = {
  /** @type {'landing'|'connecting'|'searching'|'talking'|'left'|'reconnecting'} */
  phase: 'landing',
  /** The user asked for a partner (Start/Next) and has not stopped since. */
  wantPartner: false,
  /** @type {MediaStream|null} */ local: null,
  /** @type {Connection|null} */ conn: null,
  escArmedUntil: 0,
  /** The server paused video for the user's weak downlink, or the partner's. */
  weakSelf: false,
  weakPartner: false,
  escTimer: 0,
  typingSent: false,
  typingTimer: 0,
  /** The banner shows why the server refused to connect (hidden on welcome). */
  refusalShown: false,
  /** The operator's terms from welcome ('' for none), and whether the user accepted them. */
  terms: '',
  termsAccepted: false,
  /** The phase before the last Start or Next, to go back to if the server refuses it. */
  /** @type {'landing'|'connecting'|'searching'|'talking'|'left'|'reconnecting'} */
  beforeRequest: 'landing',
};

const mediaReady = setUpLocalMedia();

/** Opens the camera for the preview and fills the device lists. */
async function setUpLocalMedia() {
  if (insecure) {
    showInsecureNotice();
    return;
  }
  const { stream, note } = await openLocalMedia();
  state.local = stream;
  ui.localVideo.srcObject = stream;
  ui.mediaNote.textContent = note;
  ui.mediaNote.hidden = note === '';
  ui.mute.disabled = !stream?.getAudioTracks().length;
  ui.camera.disabled = !stream?.getVideoTracks().length;
  document.body.classList.toggle('no-camera', !stream?.getVideoTracks().length);
  await refreshDevices();
}

/**
 * Explains why no call can start on this page, disables Start, and offers
 * the same address over https:// in case the server has one.
 */
function showInsecureNotice() {
  const secure = new URL(window.location.href);
  secure.protocol = 'https:';
  ui.secureLink.href = secure.href;
  ui.secureLink.textContent = secure.href;
  ui.insecure.hidden = false;
  ui.start.disabled = true;
  ui.mute.disabled = ui.camera.disabled = true;
  document.body.classList.add('no-camera');
}

async function refreshDevices() {
  if (!state.local) return;
  const { cameras, microphones } = await listDevices();
  fillSelect(ui.cameraSelect, cameras, state.local.getVideoTracks()[0]);
  fillSelect(ui.micSelect, microphones, state.local.getAudioTracks()[0]);
}

/**
 * @param {HTMLSelectElement} select @param {MediaDeviceInfo[]} devices
 * @param {MediaStreamTrack|undefined} current
 */
function fillSelect(select, devices, current) {
  const currentId = current?.getSettings().deviceId ?? '';
  select.replaceChildren(...devices.map((d, i) => {
    const option = document.createElement('option');
    option.value = d.deviceId;
    option.textContent = d.label || `Device ${i + 1}`;
    option.selected = d.deviceId === currentId;
    return option;
  }));
  select.disabled = devices.length < 2 || !current;
}

/** @param {'audio'|'video'} kind @param {string} deviceId */
async function switchDevice(kind, deviceId) {
  const local = state.local;
  if (!local) return;
  const old = local.getTracks().find((t) => t.kind === kind);
  let track;
  try {
    track = await openTrack(kind, deviceId);
  } catch (err) {
    chat.addNotice(kind === 'video' ? cameraReason(err) : 'The microphone could not be opened.');
    return;
  }
  track.enabled = old ? old.enabled : true;
  if (old) {
    local.removeTrack(old);
    old.stop();
  }
  local.addTrack(track);
  await state.conn?.replaceTrack(kind, track);
}

/** Creates the Connection on first use and subscribes the page to it. */
function connection() {
  if (state.conn) return state.conn;
  const url = new URL('/ws', window.location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const conn = new Connection(url.href, { token: accessToken });
  conn.setLocalStream(state.local);
  const on = (/** @type {string} */ type, /** @type {(d: any) => void} */ fn) =>
    conn.addEventListener(type, (ev) => fn(/** @type {CustomEvent} */ (ev).detail));
  on('welcome', (d) => { onWelcome(d.terms); refreshOnline(); });
  on('disconnected', () => { if (state.phase !== 'landing') setPhase('reconnecting'); });
  on('waiting', () => { if (state.wantPartner) setPhase('searching'); });
  on('partner-found', onPartnerFound);
  on('partner-left', onPartnerLeft);
  on('chat', (d) => { ui.typing.hidden = true; chat.addMessage('stranger', d.text, new Date(d.sentAt)); });
  on('typing', (d) => { ui.typing.hidden = !(d.active && state.phase === 'talking'); });
  on('video-paused', onVideoPaused);
  on('remote-stream', (d) => showRemote(d.stream));
  on('server-error', onServerError);
  on('refused', onRefused);
  on('banned', onBanned);
  on('report-received', () => chat.addNotice('Thank you: your report was received.'));
  conn.connect();
  state.conn = conn;
  return conn;
}

/** @param {string} terms the operator's terms, '' for none */
function onWelcome(terms) {
  if (state.refusalShown) {
    state.refusalShown = false;
    ui.banner.hidden = true;
  }
  state.terms = terms;
  if (terms && state.termsAccepted) state.conn?.acceptTerms(); // once per connection
  if (state.wantPartner) {
    findWhenAccepted();
  } else if (state.phase === 'reconnecting') {
    setPhase('left');
  }
}

/**
 * Looks for a partner, first asking the user to accept the operator's terms
 * if there are any and they have not yet; declining goes back to the start.
 */
async function findWhenAccepted() {
  const conn = state.conn;
  if (!conn) return;
  if (state.terms && !state.termsAccepted) {
    setPhase('connecting');
    const accepted = await termsDialog.ask(state.terms);
    if (state.conn !== conn || !state.wantPartner) return;
    if (!accepted) {
      state.wantPartner = false;
      setPhase('landing');
      return;
    }
    state.termsAccepted = true;
    conn.acceptTerms();
  }
  if (conn.findPartner(interests.read())) setPhase('searching');
}

/**
 * The server keeps this browser out (a ban): the page says until when and
 * why, and goes back to the start; Start would be refused the same way.
 * @param {{until: string, reason: string}} d
 */
function onBanned(d) {
  state.conn = null; // closed for good
  state.wantPartner = false;
  reportDialog.close();
  setPhase('landing');
  const until = new Date(d.until);
  const when = Number.isNaN(until.getTime()) ? 'further notice' : until.toLocaleString();
  showBanner(`You have been banned from this site until ${when} for ${REASON_TEXT[d.reason] ?? d.reason}.`);
  ui.banner.classList.add('banned');
}

/** @param {{commonInterests: string[]}} d */
function onPartnerFound(d) {
  // A match that crossed the user's Stop on the wire: the leave already sent
  // ends it, so the page stays where it is.
  if (!state.wantPartner) return;
  setPhase('talking');
  showWeakLink(false, false); // a new partner starts with video on both ways
  refreshOnline();
  chat.clear();
  chat.addNotice("You're now chatting with a stranger. Say hi!");
  const common = d.commonInterests;
  ui.common.textContent = common.length ? `You both like: ${common.join(', ')}` : '';
  ui.common.hidden = common.length === 0;
  playRemote();
  revealRemoteOnNextFrame();
}

/**
 * Keeps the stranger's video hidden until it presents a new frame. With no
 * partner the server's tracks are silent, so the first frame after
 * partner_found is the new stranger's, never the last one of the previous.
 */
function revealRemoteOnNextFrame() {
  const video = ui.remoteVideo;
  ui.remote.classList.remove('live');
  if (!('requestVideoFrameCallback' in video)) {
    ui.remote.classList.add('live');
    return;
  }
  video.requestVideoFrameCallback(() => ui.remote.classList.add('live'));
}

/** @param {{reason: string}} d */
function onPartnerLeft(d) {
  showWeakLink(false, false);
  if (state.phase === 'landing') return;
  state.wantPartner = false;
  setPhase('left');
  chat.addNotice(LEFT_REASONS[d.reason] ?? 'Stranger left.');
}

/**
 * The server paused or resumed video for a weak link: the user's own
 * downlink ('self': no video arrives) or the partner's ('partner': the
 * user's video does not get through). Audio goes on either way.
 * @param {{weak: string, paused: boolean}} d
 */
function onVideoPaused(d) {
  if (state.phase !== 'talking') return;
  const self = d.weak === 'self' ? d.paused : state.weakSelf;
  const partner = d.weak === 'partner' ? d.paused : state.weakPartner;
  showWeakLink(self, partner);
}

/**
 * Shows which links are too weak for video, or hides the note.
 * @param {boolean} self @param {boolean} partner
 */
function showWeakLink(self, partner) {
  state.weakSelf = self;
  state.weakPartner = partner;
  const lines = [];
  if (self) lines.push('Your connection is weak: video paused, audio goes on.');
  if (partner) lines.push("Your partner's connection is weak: video paused.");
  ui.weakLink.textContent = lines.join('\n');
  ui.weakLink.hidden = lines.length === 0;
}

/** @param {{code: string, message: string, retryAfter: number}} d */
function onServerError(d) {
  console.warn(`tandem: server refused a request: ${d.code}: ${d.message}`);
  if (d.code === 'draining') {
    // No new matches: the server is shutting down. A chat in progress goes
    // on; anyone waiting is sent back to the start with the reason.
    state.wantPartner = false;
    showBanner('The server is restarting and takes no new chats right now. Try again in a minute.');
    if (state.phase !== 'talking') setPhase('landing');
  } else if (d.code === 'media_failed') {
    // The connection reconnects by itself with a new PeerConnection; a user
    // who was chatting or searching searches again once it is back.
    if (state.phase === 'talking') chat.addNotice('Your video connection failed. Reconnecting to find a new stranger.');
  } else if (d.code === 'rate_limited') {
    showBanner('You are sending messages too fast. Slow down a little.');
  } else if (d.code === 'slow_down') {
    // The Start or Next was not carried out: back to where the user was.
    state.wantPartner = state.beforeRequest === 'talking';
    if (state.phase === 'searching' || state.phase === 'connecting') setPhase(state.beforeRequest === 'talking' ? 'talking' : 'left');
    showBanner(`You are skipping faster than anyone can say hi. Wait ${d.retryAfter || 'a few'} seconds, then try again.`);
  } else if (d.code === 'terms_required') {
    state.termsAccepted = false;
    if (state.wantPartner) findWhenAccepted();
  } else if (d.code === 'link_refused') {
    chat.addNotice('Links are not allowed in the chat here; your message was not sent.');
  } else if (d.code === 'report_failed') {
    chat.addNotice('Your report could not be sent. The chat has ended all the same.');
  }
}

/**
 * The server refused the WebSocket before it opened. A refused token ends
 * the visit's connection: the page goes back to the landing view with the
 * reason (Start tries once more). A per-IP limit says when the connection
 * tries again by itself.
 * @param {{code: string, retryInMs: number|null}} d
 */
function onRefused(d) {
  if (d.retryInMs === null) {
    state.conn = null; // closed for good; Start makes a new one
    state.wantPartner = false;
    setPhase('landing');
    showBanner(accessToken ? REFUSALS.unauthorized : REFUSALS.unauthorizedNoToken);
  } else {
    if (state.phase !== 'landing') setPhase('reconnecting');
    showBanner(`${REFUSALS.limited} Trying again in ${Math.ceil(d.retryInMs / 1000)} s.`);
  }
  state.refusalShown = true;
}

/** @param {string} text */
function showBanner(text) {
  state.refusalShown = false;
  ui.banner.textContent = text;
  ui.banner.hidden = false;
}

/** @param {MediaStream} stream */
function showRemote(stream) {
  if (ui.remoteVideo.srcObject !== stream) ui.remoteVideo.srcObject = stream;
  playRemote();
}

/** Plays the remote video; if sound may not autoplay, plays muted and offers a button. */
function playRemote() {
  const video = ui.remoteVideo;
  if (!video.srcObject) return;
  video.play().catch(() => {
    video.muted = true;
    ui.unmute.hidden = false;
    video.play().catch(() => {});
  });
}

/** @param {typeof state.phase} phase */
function setPhase(phase) {
  state.phase = phase;
  const landing = phase === 'landing';
  const idle = landing || phase === 'left';
  document.body.classList.toggle('view-landing', landing);
  document.body.classList.toggle('view-chat', !landing);
  document.body.classList.toggle('talking', phase === 'talking');
  ui.status.textContent = landing ? '' : STATUS[phase];
  ui.overlayText.textContent = landing
    ? (insecure ? 'Video chat needs a secure (https) page' : LANDING_OVERLAY)
    : STATUS[phase];
  ui.overlay.classList.toggle('busy', phase === 'connecting' || phase === 'searching' || phase === 'reconnecting');
  ui.start.hidden = !idle;
  ui.next.hidden = landing;
  ui.next.disabled = !(phase === 'talking' || phase === 'left');
  ui.stop.hidden = landing;
  ui.report.hidden = ui.block.hidden = phase !== 'talking';
  if (phase !== 'talking') reportDialog.close();
  ui.message.disabled = ui.send.disabled = phase !== 'talking';
  if (phase !== 'talking') {
    ui.typing.hidden = true;
    ui.common.hidden = true;
    stopTyping();
  }
  disarmEsc();
}

/** Start (landing or after the stranger left): look for a partner. */
async function start() {
  if (insecure) return;
  state.beforeRequest = state.phase;
  ui.banner.hidden = true;
  ui.banner.classList.remove('banned');
  ui.start.disabled = true;
  await mediaReady;
  ui.start.disabled = false;
  state.wantPartner = true;
  const conn = connection();
  if (conn.ready) findWhenAccepted();
  else setPhase('connecting');
}

/** Next: leave the current stranger and look for another at once. */
function next() {
  const conn = state.conn;
  if (state.phase === 'left') {
    start();
    return;
  }
  if (state.phase !== 'talking' || !conn) return;
  state.beforeRequest = state.phase;
  if (!conn.nextPartner()) return;
  state.wantPartner = true;
  setPhase('searching');
  chat.addNotice('You skipped to the next stranger.');
}

/**
 * Report: the user picks a reason (and may comment); the pair ends at once,
 * the stranger is never met again, and the page looks for someone else.
 */
async function report() {
  if (state.phase !== 'talking') return;
  const answer = await reportDialog.ask();
  const conn = state.conn;
  if (!answer || state.phase !== 'talking' || !conn) return;
  if (!conn.reportPartner(answer.reason, answer.comment)) return;
  state.wantPartner = true;
  setPhase('searching');
  chat.addNotice('You reported the stranger and the chat has ended. You will not be matched with them again.');
}

/** Block: end the chat like Next, and never meet this stranger again this visit. */
function block() {
  const conn = state.conn;
  if (state.phase !== 'talking' || !conn || !conn.blockPartner()) return;
  state.wantPartner = true;
  setPhase('searching');
  chat.addNotice('You blocked the stranger. You will not be matched with them again.');
}

/** Stop: end the chat or leave the queue and go back to the landing view. */
function stop() {
  state.wantPartner = false;
  state.conn?.leave();
  setPhase('landing');
}

/** @param {SubmitEvent} ev */
function sendMessage(ev) {
  ev.preventDefault();
  const text = ui.message.value.trim();
  if (!text || state.phase !== 'talking' || !state.conn) return;
  if (!state.conn.sendChat(text)) return;
  chat.addMessage('you', text, new Date());
  ui.message.value = '';
  stopTyping();
}

function onMessageInput() {
  const active = ui.message.value.trim() !== '';
  if (active !== state.typingSent) {
    state.typingSent = active;
    state.conn?.setTyping(active);
  }
  clearTimeout(state.typingTimer);
  if (active) state.typingTimer = window.setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  if (!state.typingSent) return;
  state.typingSent = false;
  state.conn?.setTyping(false);
}

/** Esc once arms, Esc again within a few seconds goes to the next stranger. */
function onKeyDown(/** @type {KeyboardEvent} */ ev) {
  if (ev.key !== 'Escape' || ui.next.hidden || ui.next.disabled) return;
  ev.preventDefault();
  if (performance.now() < state.escArmedUntil) {
    disarmEsc();
    next();
    return;
  }
  state.escArmedUntil = performance.now() + ESC_CONFIRM_MS;
  ui.escHint.hidden = false;
  ui.next.classList.add('armed');
  state.escTimer = window.setTimeout(disarmEsc, ESC_CONFIRM_MS);
}

function disarmEsc() {
  clearTimeout(state.escTimer);
  state.escArmedUntil = 0;
  ui.escHint.hidden = true;
  ui.next.classList.remove('armed');
}

/** @param {'audio'|'video'} kind @param {HTMLButtonElement} button */
function toggleTrack(kind, button) {
  const tracks = state.local?.getTracks().filter((t) => t.kind === kind) ?? [];
  if (!tracks.length) return;
  const off = tracks[0].enabled;
  for (const t of tracks) t.enabled = !off;
  button.setAttribute('aria-pressed', String(off));
  if (kind === 'video') ui.cameraOffLabel.hidden = !off;
}

/** Shows how many people are connected, from the server's /api/stats. */
async function refreshOnline() {
  try {
    const res = await fetch('/api/stats', { cache: 'no-store' });
    if (!res.ok) throw new Error(`status ${res.status}`);
    const stats = await res.json();
    const n = Number(stats.connectedUsers);
    ui.online.textContent = `${n} online`;
    ui.online.hidden = !Number.isFinite(n);
  } catch {
    ui.online.hidden = true;
  }
}

// The stage explains itself (#local-placeholder) until the camera preview
// shows a frame; the preview keeps playing across device switches.
ui.localVideo.addEventListener('playing', () => { ui.localPlaceholder.hidden = true; });
ui.start.addEventListener('click', start);
ui.next.addEventListener('click', next);
ui.stop.addEventListener('click', stop);
ui.report.addEventListener('click', report);
ui.block.addEventListener('click', block);
ui.mute.addEventListener('click', () => toggleTrack('audio', ui.mute));
ui.camera.addEventListener('click', () => toggleTrack('video', ui.camera));
ui.cameraSelect.addEventListener('change', () => switchDevice('video', ui.cameraSelect.value));
ui.micSelect.addEventListener('change', () => switchDevice('audio', ui.micSelect.value));
ui.unmute.addEventListener('click', () => { ui.remoteVideo.muted = false; ui.unmute.hidden = true; playRemote(); });
ui.composer.addEventListener('submit', sendMessage);
ui.message.addEventListener('input', onMessageInput);
document.addEventListener('keydown', onKeyDown);
navigator.mediaDevices?.addEventListener?.('devicechange', () => { refreshDevices(); });
window.addEventListener('pagehide', () => {
  // Leaving the page ends the visit; a page restored from the back/forward
  // cache starts over on the landing view with a new connection.
  state.conn?.close();
  state.conn = null;
  state.wantPartner = false;
  setPhase('landing');
});
setPhase('landing');
refreshOnline();
window.setInterval(refreshOnline, ONLINE_POLL_MS);
