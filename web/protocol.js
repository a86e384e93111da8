// vigremote signalling and media protocol, with no DOM code.
//
// One WebSocket (signalling) and one RTCPeerConnection (media) per page; the server is the only
// peer. Every message is defined once, in vigremote/messages.py (web/messages.d.ts is generated
// from it: ClientMessage, ServerMessage); how a socket goes:
//   -> hello (token)    <- welcome (you, session, iceServers, the media slots in order)
//   -> offer            <- answer       (one transceiver per slot; the clip comes on the clip slot)
//   -> candidate …      (null: end of candidates)
//   -> muted            (what this browser turned off; again after each welcome)
//   then, whenever they change: <- participants, consent, recording, review-state
//   and commands: -> record, bookmark, review, consent (family), control, end, ping
//   <- error: a user error (nothing changed, the socket stays open); <- ended
// A protocol error closes the socket with a code and reason. aiortc has no ICE restart, so a
// lost media connection is rebuilt with a brand-new RTCPeerConnection and offer.
//
// Reconnecting: a dropped socket, a server that is down or restarting, a token fetch that fails
// for a network reason (no answer, 5xx, a proxy's 502/503) are retried for as long as the page is
// open, with back-off (capped at 8 s, with jitter); only a definite answer ends it (a close code
// in FINAL_CLOSE_CODES, or the token refused with 4xx: not logged in, session ended). While the
// link is not 'connected' nothing the page last heard is known to be true any more (a recording
// may have stopped): pages show "reconnecting" and wait for what the server sends after welcome.

export const PROTOCOL_VERSION = 1;

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES = new Set([1002, 1008, 1009, 4001, 4002]);
/** Longest wait between two reconnection attempts, in ms. */
const MAX_BACKOFF_MS = 8000;
/** HTTP statuses of a token request that may be worth asking again (timeout, rate limit). */
const RETRYABLE_4XX = new Set([408, 425, 429]);

/**
 * Whether a failed token request is the server's definite "no" (then reconnecting cannot help)
 * rather than a network failure, a server that is down, or a proxy in front of a restarting one.
 * Errors carry the HTTP status as `.status` (ApiError in api.js); a failed fetch has none.
 * @param {unknown} error
 * @returns {error is {status: number}}
 */
export function isDefiniteRefusal(error) {
  const status = /** @type {{status?: unknown}} */ (error || {}).status;
  return typeof status === 'number' && status >= 400 && status < 500 && !RETRYABLE_4XX.has(status);
}

/**
 * Milliseconds to wait before attempt number `retries` (1, 2, …): doubling from about 1 s up to
 * MAX_BACKOFF_MS, with jitter so that every page of a restarted server does not come back at once.
 * @param {number} retries
 * @returns {number}
 */
export function backoffDelay(retries) {
  const base = Math.min(1000 * 2 ** Math.min(Math.max(retries - 1, 0), 4), MAX_BACKOFF_MS);
  return Math.round(base * (0.5 + Math.random() * 0.5));
}

/**
 * The messages' types, for the pages to import from here (see vigremote/messages.py).
 * @typedef {import('./messages').ClientMessage} ClientMessage
 * @typedef {import('./messages').ServerMessage} ServerMessage
 * @typedef {import('./messages').Participant} Participant
 * @typedef {import('./messages').Slot} Slot
 * @typedef {import('./messages').Welcome} Welcome
 * @typedef {import('./messages').Consent} Consent
 * @typedef {import('./messages').ConsentWording} ConsentWording
 * @typedef {import('./messages').RecordingStatus} RecordingStatus
 * @typedef {import('./messages').ReviewState} ReviewState
 * @typedef {'connecting'|'connected'|'reconnecting'|'closed'} LinkState  only 'connected' means
 *   that what the server said is current; in the others the session's state is unknown
 * @typedef {{records: string, confirmed: boolean}} ConsentContext  what this session records
 *   ("analysis" or "supervision") and whether the family has answered in this session
 */

export class ServerConnection {
  /**
   * @param {string} wsUrl  the signalling URL (ws: or wss:)
   * @param {() => Promise<string>} getToken  returns the signed token to present
   */
  constructor(wsUrl, getToken) {
    this.wsUrl = wsUrl;
    this.getToken = getToken;
    /** @type {WebSocket|null} */ this.ws = null;
    /** @type {RTCPeerConnection|null} */ this.pc = null;
    /** @type {Welcome|null} */ this.welcome = null;
    /** @type {{audio: MediaStreamTrack|null, video: MediaStreamTrack|null}} */
    this.localTracks = { audio: null, video: null };
    /** @type {Record<string, MediaStream>} one stream per slot name ("camera", "clip") */
    this.remoteStreams = {};
    /** @type {Slot[]} */ this.slots = [];
    this.closedByUs = false;
    this.retries = 0;
    this.lastMessageAt = 0;
    /** @type {LinkState} */ this.linkState = 'connecting';
    /** @type {number|undefined} */ this.heartbeat = undefined;
    /** @type {number|undefined} */ this.mediaWatchdog = undefined;
    /** @type {number|undefined} the pending reconnection attempt */ this.reconnectTimer = undefined;
    /** A phone that gets its network back retries at once instead of waiting out the back-off. */
    this.retryNow = () => {
      if (this.reconnectTimer === undefined || this.closedByUs) return;
      window.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.connectSocket();
    };

    // Callbacks for the page; all optional.
    /**
     * The link to the server changed. Anything but 'connected' means "disconnected: the state
     * of the session is unknown": a page stops live timers and hides indicators it cannot vouch
     * for until the server sends them again after the next welcome.
     * @type {(state: LinkState, detail?: string) => void}
     */
    this.onlinkstate = () => {};
    /** @type {(state: RTCPeerConnectionState) => void} */ this.onmediastate = () => {};
    /** @type {(welcome: Welcome) => void} */ this.onwelcome = () => {};
    /** @type {(list: Participant[]) => void} */ this.onparticipants = () => {};
    /** @type {(stream: MediaStream, slot: string) => void} */ this.onremotestream = () => {};
    /** @type {(action: string) => void} */ this.oncontrol = () => {};
    /** @type {(code: string, message: string) => void} */ this.onusererror = () => {};
    /** @type {() => void} */ this.onended = () => {};
    /**
     * Reconnecting cannot help. `code` is the WebSocket close code, or the HTTP status (401, 403,
     * 404, 409) when the server refused the token; `reason` is readable.
     * @type {(code: number, reason: string) => void}
     */
    this.onfatal = () => {};
    /** @type {(consent: Consent|null, wording: ConsentWording|undefined, context: ConsentContext) => void} */
    this.onconsent = () => {};
    /** @type {(status: RecordingStatus) => void} */ this.onrecording = () => {};
    /** Any other message (bookmarked, review-state, pong…). @type {(message: ServerMessage) => void} */
    this.onmessage = () => {};
  }

  /** Connect (and keep reconnecting after network drops) until close() is called. */
  async start() {
    this.closedByUs = false;
    window.addEventListener('online', this.retryNow);
    await this.connectSocket();
  }

  close() {
    this.closedByUs = true;
    window.removeEventListener('online', this.retryNow);
    window.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    window.clearInterval(this.heartbeat);
    this.closePeer();
    if (this.ws) this.ws.close(1000, 'bye');
  }

  /**
   * Send a message if the socket is open.
   * @param {ClientMessage} message
   * @returns {boolean} false when it was not sent (the link is down: nothing is queued)
   */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** @param {LinkState} state @param {string} [detail] */
  setLinkState(state, detail) {
    this.linkState = state;
    this.onlinkstate(state, detail);
  }

  /** Give up for good: tell the page why. @param {number} code @param {string} reason */
  fail(code, reason) {
    this.closedByUs = true;
    window.removeEventListener('online', this.retryNow);
    this.setLinkState('closed', reason);
    this.onfatal(code, reason);
  }

  /**
   * Send these tracks (null stops sending that kind) without renegotiating.
   * @param {'audio'|'video'} kind
   * @param {MediaStreamTrack|null} track
   */
  async setLocalTrack(kind, track) {
    this.localTracks[kind] = track;
    const transceiver = this.transceiver(kind);
    if (transceiver) await transceiver.sender.replaceTrack(track);
  }

  /** The transceiver that carries this browser's own camera or microphone. @param {string} kind */
  transceiver(kind) {
    if (!this.pc) return null;
    const index = this.slots.findIndex((slot) => slot.send && slot.kind === kind);
    return index < 0 ? null : this.pc.getTransceivers()[index] || null;
  }

  async connectSocket() {
    this.setLinkState(this.retries ? 'reconnecting' : 'connecting');
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      if (this.closedByUs) return;
      const reason = error instanceof Error ? error.message : String(error);
      if (isDefiniteRefusal(error)) this.fail(error.status, reason);
      else this.scheduleReconnect(); // the server is down or restarting: ask again later
      return;
    }
    if (this.closedByUs) return;
    const ws = new WebSocket(this.wsUrl);
    this.ws = ws;
    ws.onopen = () => {
      this.lastMessageAt = Date.now();
      /** @type {ClientMessage} */ const hello = { type: 'hello', version: PROTOCOL_VERSION, token };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = Date.now();
      /** @type {ServerMessage} the server sends only what vigremote/messages.py defines */
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handle(message).catch((error) => console.error('vigremote:', error));
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      window.clearInterval(this.heartbeat);
      this.closePeer();
      if (this.closedByUs) {
        this.setLinkState('closed');
      } else if (FINAL_CLOSE_CODES.has(event.code)) {
        this.fail(event.code, event.reason);
      } else {
        this.scheduleReconnect();
      }
    };
    window.clearInterval(this.heartbeat);
    this.heartbeat = window.setInterval(() => this.beat(ws), 5000);
  }

  /**
   * Ping the server; a socket silent for 20 s is dead (phones lose networks quietly).
   * @param {WebSocket} ws
   */
  beat(ws) {
    if (ws !== this.ws) return;
    if (Date.now() - this.lastMessageAt > 20000) {
      ws.close();
      this.ws = null;
      window.clearInterval(this.heartbeat);
      this.closePeer();
      this.scheduleReconnect();
      return;
    }
    this.send({ type: 'ping' });
  }

  /** Try again after a back-off; indefinitely, while the page is open and not told to stop. */
  scheduleReconnect() {
    if (this.closedByUs || this.reconnectTimer !== undefined) return;
    this.retries += 1;
    this.setLinkState('reconnecting');
    this.reconnectTimer = window.setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closedByUs) this.connectSocket();
    }, backoffDelay(this.retries));
  }

  /** @param {ServerMessage} message */
  async handle(message) {
    switch (message.type) {
      case 'welcome':
        this.retries = 0; // back-off starts afresh after a successful welcome
        this.welcome = message;
        this.onwelcome(message);
        this.setLinkState('connected');
        await this.negotiate();
        break;
      case 'answer':
        if (this.pc && this.pc.signalingState === 'have-local-offer') {
          await this.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        }
        break;
      case 'participants':
        this.onparticipants(message.participants);
        break;
      case 'control':
        this.oncontrol(message.action);
        break;
      case 'error':
        this.onusererror(message.code, message.message);
        break;
      case 'ended':
        this.closedByUs = true;
        this.onended();
        break;
      case 'consent':
        this.onconsent(message.consent, message.wording, { records: message.records, confirmed: message.confirmed });
        break;
      case 'recording':
        this.onrecording(message);
        break;
      default:
        this.onmessage(message);
        break;
    }
  }

  /** Build a fresh RTCPeerConnection and offer it: the only way to recover media with aiortc. */
  async negotiate() {
    this.closePeer();
    const config = { iceServers: this.welcome ? this.welcome.iceServers : [] };
    const pc = new RTCPeerConnection(config);
    this.pc = pc;
    // One transceiver per slot, in the server's order: it maps m-lines to slots the same way.
    this.slots = this.welcome && this.welcome.slots ? this.welcome.slots : [
      { name: 'camera', kind: 'audio', send: true },
      { name: 'camera', kind: 'video', send: true },
    ];
    for (const slot of this.slots) {
      const transceiver = pc.addTransceiver(slot.kind, { direction: slot.send ? 'sendrecv' : 'recvonly' });
      const track = slot.send ? this.localTracks[slot.kind] : null;
      if (track) await transceiver.sender.replaceTrack(track);
    }
    /** @type {Record<string, MediaStream>} */
    const streams = {};
    for (const slot of this.slots) streams[slot.name] = streams[slot.name] || new MediaStream();
    this.remoteStreams = streams;
    pc.ontrack = (event) => {
      if (pc !== this.pc) return;
      const index = pc.getTransceivers().indexOf(event.transceiver);
      const name = (this.slots[index] || this.slots[0]).name;
      streams[name].addTrack(event.track);
      this.onremotestream(streams[name], name);
    };
    pc.onicecandidate = (event) => {
      if (pc !== this.pc) return;
      this.send({ type: 'candidate', candidate: event.candidate ? event.candidate.toJSON() : null });
    };
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      this.onmediastate(pc.connectionState);
      window.clearTimeout(this.mediaWatchdog);
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        this.renegotiateSoon(1000);
      } else if (pc.connectionState === 'disconnected') {
        this.renegotiateSoon(5000);
      }
    };
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.send({ type: 'offer', sdp: pc.localDescription ? pc.localDescription.sdp : offer.sdp || '' });
  }

  /** @param {number} delay */
  renegotiateSoon(delay) {
    window.clearTimeout(this.mediaWatchdog);
    this.mediaWatchdog = window.setTimeout(() => {
      const state = this.pc ? this.pc.connectionState : 'closed';
      const open = this.ws && this.ws.readyState === WebSocket.OPEN;
      if (open && state !== 'connected' && state !== 'connecting') this.negotiate();
    }, delay);
  }

  closePeer() {
    window.clearTimeout(this.mediaWatchdog);
    if (this.pc) {
      const pc = this.pc;
      this.pc = null;
      pc.ontrack = null;
      pc.onicecandidate = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
  }
}

/** The signalling URL of the server that served this page. */
export function signallingUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}/ws`;
}

/**
 * A running "mm:ss" timer that follows the server's recording status; stop() when the link is
 * down, as the server's clock is then unknown (it shows "--:--" until the next status).
 * @param {(text: string) => void} show
 */
export function recordingTimer(show) {
  /** @type {number|undefined} */ let interval;
  let base = 0;
  let since = 0;
  const format = (/** @type {number} */ seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  };
  return {
    /** @param {RecordingStatus} status */
    update(status) {
      window.clearInterval(interval);
      base = status.elapsed_s || 0;
      since = Date.now();
      show(format(base));
      if (status.state === 'recording') {
        interval = window.setInterval(() => show(format(base + (Date.now() - since) / 1000)), 500);
      }
    },
    stop() {
      window.clearInterval(interval);
      interval = undefined;
      show('--:--');
    },
  };
}
