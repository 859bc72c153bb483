// connection.js speaks tandem's wire protocol (version 1, docs/protocol.md)
// and owns the visit's one RTCPeerConnection. It knows nothing about the page:
// the UI calls its methods and listens to the events it dispatches.
//
// Lifecycle: connect() opens the WebSocket. After the server's `welcome` the
// connection creates the RTCPeerConnection with the iceServers from welcome,
// adds the local tracks (or receive-only transceivers) and offers once.
// Partners then come and go with no renegotiation: the server swaps the media
// it forwards into the same remote tracks. When the WebSocket drops, the
// PeerConnection goes with it; the connection retries with exponential
// backoff and builds a fresh PeerConnection after the next welcome.
//
// Access tokens and refusals: a token given to the constructor goes with
// every attempt as /ws?token=... . A socket that closes without ever opening
// may have been refused before the upgrade; the connection then asks the same
// URL over plain HTTP(S), whose 401/429 JSON body names the reason
// (docs/api.md). A refused token ends the retries; a per-IP limit makes them
// wait longer.

/** Protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/** First reconnect delay; doubles on every failed attempt up to MAX_BACKOFF_MS. */
const BASE_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 15000;

/**
 * After a per-IP limit (HTTP 429) the next attempt waits at least this long
 * (or the server's Retry-After, if longer), doubling while refusals repeat up
 * to MAX_LIMITED_BACKOFF_MS.
 */
const LIMITED_BACKOFF_MS = 10000;
const MAX_LIMITED_BACKOFF_MS = 60000;

/** Codes of the JSON body of a refused /ws request (docs/api.md). */
const REFUSAL_CODES = new Set(['unauthorized', 'rate_limited', 'too_many_sessions']);

/**
 * Why /ws refused a socket before the upgrade.
 * @typedef {Object} Refusal
 * @property {'unauthorized'|'rate_limited'|'too_many_sessions'} code
 * @property {string} message     the server's reason, for the console
 * @property {number} retryAfterMs the server's Retry-After, or 0
 */

/**
 * Reads the access token from the page's own address (`?token=...`) and
 * removes it from the address bar with history.replaceState, so it is not
 * bookmarked, shared with a copied link or kept in the history. Call it once,
 * as the page loads.
 * @returns {string} the token, or "" when the address has none
 */
export function takeAccessToken() {
  const url = new URL(window.location.href);
  if (!url.searchParams.has('token')) return '';
  const token = url.searchParams.get('token') ?? '';
  url.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', url.href);
  return token;
}

/**
 * @typedef {Object} ConnectionEvents
 * Events dispatched (all CustomEvent; `detail` as listed):
 *  - "connecting"     {attempt}              a socket is being opened
 *  - "welcome"        {userId, reconnected, terms}  the server accepted the
 *                                            socket; terms ('' for none) must be
 *                                            accepted (acceptTerms) before findPartner
 *  - "disconnected"   {retryInMs}            the socket dropped; a retry is scheduled
 *  - "refused"        {code, message, retryInMs}  /ws refused the socket before
 *                                            the upgrade; retryInMs is null when
 *                                            no retry follows (unauthorized)
 *  - "waiting"        {}                     queued, waiting for a partner
 *  - "partner-found"  {roomId, commonInterests}
 *  - "partner-left"   {reason}
 *  - "chat"           {text, sentAt}         a message from the partner
 *  - "typing"         {active}
 *  - "remote-stream"  {stream}               the MediaStream carrying the partner's media
 *  - "media-state"    {state}                RTCPeerConnection.connectionState
 *  - "server-error"   {code, message, retryAfter}  retryAfter: seconds (slow_down), else 0
 *  - "banned"         {until, reason, message}  the server keeps this client out
 *                                            until then; the connection is closed for good
 *  - "report-received" {reportId}            the server stored a report
 */

export class Connection extends EventTarget {
  /** @type {string} */ #url;
  /** @type {WebSocket|null} */ #ws = null;
  /** @type {RTCPeerConnection|null} */ #pc = null;
  /** @type {MediaStream|null} */ #localStream = null;
  /** @type {RTCIceCandidateInit[]} */ #pendingCandidates = [];
  /** Serialises every SDP operation on the current PeerConnection. */
  #negotiation = Promise.resolve();
  #attempt = 0;
  /** Consecutive per-IP refusals (HTTP 429), for their longer backoff. */
  #limited = 0;
  #reconnectTimer = 0;
  /** @type {AbortController|null} the refusal check under way, if any */
  #diagnosis = null;
  #started = false;
  #welcomed = false;
  #everWelcomed = false;
  #closed = false;

  /**
   * @param {string} url WebSocket URL of the server's /ws endpoint.
   * @param {{token?: string}} [options] token: an access token sent as
   *   /ws?token=... on every attempt, for servers that require one.
   */
  constructor(url, { token = '' } = {}) {
    super();
    const u = new URL(url);
    if (token) u.searchParams.set('token', token);
    this.#url = u.href;
  }

  /** True while the socket is open and the server has said welcome. */
  get ready() {
    return this.#welcomed && this.#ws?.readyState === WebSocket.OPEN;
  }

  /**
   * Sets the local media to send. Call before connect(); later calls take
   * effect on the next PeerConnection (use replaceTrack for a live one).
   * @param {MediaStream|null} stream
   */
  setLocalStream(stream) {
    this.#localStream = stream;
  }

  /** Opens the WebSocket (once; reconnects happen by themselves). */
  connect() {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#open();
  }

  /** Closes everything for good: no reconnect follows. */
  close() {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#diagnosis?.abort();
    this.#diagnosis = null;
    this.#closePeer();
    this.#ws?.close(1000, 'bye');
    this.#ws = null;
  }

  /** Enters the waiting queue. @param {string[]} interests lowercase tags */
  findPartner(interests = []) {
    return this.#send('find_partner', interests.length ? { interests } : undefined);
  }

  /** Ends the current pair and queues again at once. */
  nextPartner() {
    return this.#send('next_partner');
  }

  /** Ends the current pair or leaves the queue; stays connected. */
  leave() {
    return this.#send('leave');
  }

  /**
   * Reports the current partner, ending the pair; the server queues this
   * user again and answers with "report-received".
   * @param {string} reason one of REPORT_REASONS (moderation.js)
   * @param {string} comment optional, up to 500 characters
   */
  reportPartner(reason, comment) {
    return this.#send('report_partner', comment ? { reason, comment } : { reason });
  }

  /** Ends the pair like nextPartner; the two are not paired again this visit. */
  blockPartner() {
    return this.#send('block_partner');
  }

  /** Tells the server the user accepted the terms of the welcome. */
  acceptTerms() {
    return this.#send('accept_terms');
  }

  /** Sends a chat message to the partner. @param {string} text */
  sendChat(text) {
    return this.#send('chat_message', { text });
  }

  /** Tells the partner whether this user is typing. @param {boolean} active */
  setTyping(active) {
    return this.#send('typing', { active });
  }

  /**
   * Swaps the local track of one kind on the live PeerConnection (device
   * change) without renegotiation. If that kind was receive-only, the
   * transceiver becomes sendrecv and the connection offers again.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  async replaceTrack(kind, track) {
    const pc = this.#pc;
    if (!pc) return;
    const tr = pc.getTransceivers().find((t) => t.receiver.track.kind === kind);
    if (!tr) return;
    await tr.sender.replaceTrack(track);
    if (track && tr.direction === 'recvonly' && this.#localStream) {
      tr.sender.setStreams(this.#localStream);
      tr.direction = 'sendrecv'; // fires negotiationneeded: one new offer
    }
  }

  #open() {
    this.#attempt++;
    this.#dispatch('connecting', { attempt: this.#attempt });
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#onMessage(ev.data);
    };
    ws.onclose = () => {
      if (this.#ws === ws) this.#onSocketClosed(!opened);
    };
  }

  /** @param {boolean} neverOpened the handshake failed: maybe a refusal */
  #onSocketClosed(neverOpened) {
    this.#ws = null;
    this.#welcomed = false;
    this.#closePeer();
    if (this.#closed) return;
    if (neverOpened) this.#diagnose();
    else this.#retry();
  }

  /** Schedules the next attempt with the usual exponential backoff. */
  #retry() {
    const exp = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** Math.max(0, this.#attempt - 1));
    const retryInMs = Math.round(exp * (0.8 + Math.random() * 0.4));
    this.#dispatch('disconnected', { retryInMs });
    this.#reconnectTimer = setTimeout(() => this.#open(), retryInMs);
  }

  /**
   * Finds out why a socket never opened and acts on it: a refused token
   * stops the connection, a per-IP limit delays the next attempt longer,
   * anything else (server down, network gone) retries as usual.
   */
  async #diagnose() {
    const abort = new AbortController();
    this.#diagnosis = abort;
    const refusal = await this.#askWhyRefused(abort.signal);
    if (this.#diagnosis !== abort) return; // closed meanwhile
    this.#diagnosis = null;
    if (!refusal) {
      this.#retry();
      return;
    }
    const { code, message } = refusal;
    console.warn(`tandem: the server refused the connection: ${code}: ${message}`);
    if (code === 'unauthorized') {
      // The same token will be refused again: retrying cannot help.
      this.#closed = true;
      this.#dispatch('refused', { code, message, retryInMs: null });
      return;
    }
    this.#limited++;
    const wait = Math.min(MAX_LIMITED_BACKOFF_MS, LIMITED_BACKOFF_MS * 2 ** (this.#limited - 1));
    // Jitter only upwards, so the retry never comes before Retry-After.
    const retryInMs = Math.round(Math.max(wait, refusal.retryAfterMs) * (1 + Math.random() * 0.2));
    this.#dispatch('refused', { code, message, retryInMs });
    this.#reconnectTimer = setTimeout(() => this.#open(), retryInMs);
  }

  /**
   * Requests the /ws URL over HTTP(S) without upgrade headers: the server
   * answers a refusal the same way it refused the WebSocket (401 or 429
   * with a JSON reason), and anything else when it would have admitted it.
   * @param {AbortSignal} signal
   * @returns {Promise<Refusal|null>} null when it was no refusal, or unknown
   */
  async #askWhyRefused(signal) {
    const url = new URL(this.#url);
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    try {
      const res = await fetch(url, { cache: 'no-store', credentials: 'same-origin', signal });
      if (res.status !== 401 && res.status !== 429) return null;
      const body = await res.json().catch(() => null);
      let code = typeof body?.code === 'string' ? body.code : '';
      // A 429 from a proxy in front of tandem has no JSON: still a limit.
      if (!REFUSAL_CODES.has(code)) code = res.status === 429 ? 'rate_limited' : '';
      if (!code) return null;
      const retryAfter = Number(res.headers.get('Retry-After'));
      return {
        code: /** @type {Refusal['code']} */ (code),
        message: typeof body?.error === 'string' ? body.error : `HTTP ${res.status}`,
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0,
      };
    } catch {
      return null; // unreachable, or aborted by close()
    }
  }

  /** @param {string} type @param {object} [data] @returns {boolean} sent */
  #send(type, data) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(data === undefined ? { type } : { type, data }));
    return true;
  }

  /** @param {unknown} raw */
  #onMessage(raw) {
    let msg;
    try {
      msg = JSON.parse(String(raw));
    } catch {
      console.warn('tandem: ignoring a frame that is not JSON');
      return;
    }
    const data = msg && typeof msg.data === 'object' && msg.data !== null ? msg.data : {};
    switch (msg?.type) {
      case 'welcome': return this.#onWelcome(data);
      case 'waiting_for_partner': return this.#dispatch('waiting', data);
      case 'partner_found':
        return this.#dispatch('partner-found', {
          roomId: String(data.roomId ?? ''),
          commonInterests: Array.isArray(data.commonInterests) ? data.commonInterests.map(String) : [],
        });
      case 'partner_left': return this.#dispatch('partner-left', { reason: String(data.reason ?? '') });
      case 'chat_message':
        return this.#dispatch('chat', { text: String(data.text ?? ''), sentAt: String(data.sentAt ?? '') });
      case 'partner_typing': return this.#dispatch('typing', { active: data.active === true });
      case 'video_paused':
      case 'video_resumed':
        return this.#dispatch('video-paused', { weak: String(data.weak ?? ''), paused: msg.type === 'video_paused' });
      case 'webrtc_answer': return this.#onAnswer(String(data.sdp ?? ''));
      case 'webrtc_offer': return this.#onOffer(String(data.sdp ?? ''));
      case 'ice_candidate': return this.#onRemoteCandidate(data);
      case 'report_received': return this.#dispatch('report-received', { reportId: String(data.reportId ?? '') });
      case 'error':
        if (data.code === 'banned') return this.#onBanned(data);
        this.#dispatch('server-error', {
          code: String(data.code ?? ''),
          message: String(data.message ?? ''),
          retryAfter: Number(data.retryAfter) || 0,
        });
        // This session's PeerConnection is dead and the server pairs it with
        // no one: start over with a new socket, which brings a new one.
        if (data.code === 'media_failed') this.#ws?.close(4000, 'media failed');
        return undefined;
      default:
        // Unknown types are ignored so that newer servers stay compatible.
        return undefined;
    }
  }

  /**
   * The server keeps this client out: retrying would be refused again, so
   * the connection closes for good (the server closes the socket, 1008).
   * @param {{until?: string, reason?: string, message?: string}} data
   */
  #onBanned(data) {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    this.#dispatch('banned', {
      until: String(data.until ?? ''),
      reason: String(data.reason ?? ''),
      message: String(data.message ?? ''),
    });
  }

  /** @param {{userId?: string, iceServers?: RTCIceServer[], protocol?: number, terms?: string}} data */
  #onWelcome(data) {
    if (data.protocol !== undefined && data.protocol !== PROTOCOL_VERSION) {
      console.warn(`tandem: server speaks protocol ${data.protocol}, this page speaks ${PROTOCOL_VERSION}`);
    }
    const reconnected = this.#everWelcomed;
    this.#attempt = 0;
    this.#limited = 0;
    this.#welcomed = true;
    this.#everWelcomed = true;
    this.#startPeer(Array.isArray(data.iceServers) ? data.iceServers : []);
    this.#dispatch('welcome', { userId: String(data.userId ?? ''), reconnected, terms: String(data.terms ?? '') });
  }

  /** Creates this socket session's one PeerConnection. @param {RTCIceServer[]} iceServers */
  #startPeer(iceServers) {
    this.#closePeer();
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.#pc = pc;
    const remote = new MediaStream();
    const stream = this.#localStream;
    for (const kind of /** @type {const} */ (['audio', 'video'])) {
      const track = stream?.getTracks().find((t) => t.kind === kind);
      if (track && stream) pc.addTransceiver(track, { direction: 'sendrecv', streams: [stream] });
      else pc.addTransceiver(kind, { direction: 'recvonly' });
    }
    pc.onnegotiationneeded = () => this.#queue(pc, () => this.#offer(pc));
    pc.onicecandidate = ({ candidate }) => {
      if (this.#pc !== pc) return;
      this.#send('ice_candidate', candidate
        ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
        : { candidate: '', sdpMid: null, sdpMLineIndex: null });
    };
    pc.ontrack = ({ track }) => {
      if (this.#pc !== pc) return;
      for (const old of remote.getTracks()) {
        if (old.kind === track.kind) remote.removeTrack(old);
      }
      remote.addTrack(track);
      this.#dispatch('remote-stream', { stream: remote });
    };
    pc.onconnectionstatechange = () => {
      if (this.#pc !== pc) return;
      this.#dispatch('media-state', { state: pc.connectionState });
    };
    pc.oniceconnectionstatechange = () => {
      // A failed ICE session gets one restart per failure; restartIce fires
      // negotiationneeded, and the new offer carries fresh credentials.
      if (this.#pc === pc && pc.iceConnectionState === 'failed') pc.restartIce();
    };
  }

  #closePeer() {
    const pc = this.#pc;
    this.#pc = null;
    this.#pendingCandidates = [];
    this.#negotiation = Promise.resolve();
    if (pc) {
      pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = null;
      pc.onconnectionstatechange = pc.oniceconnectionstatechange = null;
      pc.close();
      this.#dispatch('media-state', { state: 'closed' });
    }
  }

  /**
   * Runs fn after every earlier SDP step on the same PeerConnection; a step
   * for a PeerConnection that has since been replaced is skipped.
   * @param {RTCPeerConnection} pc @param {() => Promise<void>} fn
   */
  #queue(pc, fn) {
    this.#negotiation = this.#negotiation
      .then(() => (this.#pc === pc ? fn() : undefined))
      .catch((err) => console.warn('tandem: negotiation step failed:', err));
  }

  /** @param {RTCPeerConnection} pc */
  async #offer(pc) {
    if (pc.signalingState !== 'stable') return;
    await pc.setLocalDescription();
    this.#send('webrtc_offer', { sdp: pc.localDescription?.sdp ?? '' });
  }

  /** @param {string} sdp */
  #onAnswer(sdp) {
    const pc = this.#pc;
    if (!pc) return;
    this.#queue(pc, async () => {
      // An answer to an offer that was rolled back (see #onOffer) is stale.
      if (pc.signalingState !== 'have-local-offer') return;
      await pc.setRemoteDescription({ type: 'answer', sdp });
      await this.#flushCandidates(pc);
    });
  }

  /**
   * Answers a renegotiation offer from the server. If this client's own
   * offer is still unanswered, the client yields (rolls its offer back),
   * answers, and offers again afterwards if it still has changes to make.
   * @param {string} sdp
   */
  #onOffer(sdp) {
    const pc = this.#pc;
    if (!pc) return;
    this.#queue(pc, async () => {
      if (pc.signalingState === 'have-local-offer') {
        await pc.setLocalDescription({ type: 'rollback' });
      }
      await pc.setRemoteDescription({ type: 'offer', sdp });
      await this.#flushCandidates(pc);
      await pc.setLocalDescription();
      this.#send('webrtc_answer', { sdp: pc.localDescription?.sdp ?? '' });
    });
  }

  /** @param {{candidate?: string, sdpMid?: string|null, sdpMLineIndex?: number|null}} data */
  #onRemoteCandidate(data) {
    const pc = this.#pc;
    if (!pc || !data.candidate) return; // an empty candidate only ends the list
    const init = { candidate: data.candidate, sdpMid: data.sdpMid ?? null, sdpMLineIndex: data.sdpMLineIndex ?? null };
    if (!pc.remoteDescription) {
      this.#pendingCandidates.push(init);
      return;
    }
    pc.addIceCandidate(init).catch((err) => console.warn('tandem: remote candidate refused:', err));
  }

  /** @param {RTCPeerConnection} pc */
  async #flushCandidates(pc) {
    const pending = this.#pendingCandidates;
    this.#pendingCandidates = [];
    for (const init of pending) {
      await pc.addIceCandidate(init).catch((err) => console.warn('tandem: remote candidate refused:', err));
    }
  }

  /** @param {string} type @param {object} detail */
  #dispatch(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
