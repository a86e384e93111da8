// vigremote signalling and media protocol, with no DOM code.
//
// One WebSocket (signalling) and one RTCPeerConnection (media) per page; the server is the only
// peer. The socket starts with a handshake:  -> {type:"hello", version:1, token}
//                                            <- {type:"welcome", you, session, iceServers}
// then the browser offers:  -> {type:"offer", sdp}  <- {type:"answer", sdp}
//                           -> {type:"candidate", candidate}   (null = end of candidates)
// and the server tells:     <- {type:"participants", participants}  <- {type:"control", action}
//                           <- {type:"consent", consent, wording?}  <- {type:"recording", state, …}
// recording (issue 3):      -> {type:"consent", version, purposes}  (family)
//                           -> {type:"record", action: start|pause|resume|stop}
//                           -> {type:"bookmark", note}  <- {type:"bookmarked", t_s, note}
// shared review (issue 5):  -> {type:"review", action: play|pause|seek|step|speed|loop|select|
//                               accept-pause|dismiss-pause|request-pause (family), ...}
//                           <- {type:"review-state", state, item, items, frame, frames, speed, …}
// The welcome lists the session's media slots in order ({name: camera|clip, kind, send}): the
// browser offers one transceiver per slot, and receives the clip on the clip slot.
//                           <- {type:"error", code, message}  (a user error: nothing changed)
//                           <- {type:"ended"}
// A protocol error closes the socket with a code and reason. aiortc has no ICE restart, so a
// lost media connection is rebuilt with a brand-new RTCPeerConnection and offer.

export const PROTOCOL_VERSION = 1;

/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSE_CODES = new Set([1002, 1008, 1009, 4001, 4002]);

/**
 * @typedef {{id: string, role: string, name: string, media: string}} Participant
 * @typedef {{id: string, kind: string}} SessionInfo
 * @typedef {{name: string, kind: 'audio'|'video', send: boolean}} Slot
 * @typedef {{you: Participant, session: SessionInfo, iceServers: RTCIceServer[], slots: Slot[]}} Welcome
 * @typedef {'connecting'|'connected'|'reconnecting'|'closed'} LinkState
 * @typedef {{id: string, purposes: string[], wording_version: string, given_at: number}} Consent
 * @typedef {{version: string, title: string, intro: string,
 *   purposes: {id: string, label: string, detail: string, required_for_recording: boolean}[]}} ConsentWording
 * @typedef {{state: string, paused_by: string|null, recording_id: string|null,
 *   elapsed_s: number, message: string|null}} RecordingStatus
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
    /** @type {number|undefined} */ this.heartbeat = undefined;
    /** @type {number|undefined} */ this.mediaWatchdog = undefined;

    // Callbacks for the page; all optional.
    /** @type {(state: LinkState, detail?: string) => void} */ this.onlinkstate = () => {};
    /** @type {(state: RTCPeerConnectionState) => void} */ this.onmediastate = () => {};
    /** @type {(welcome: Welcome) => void} */ this.onwelcome = () => {};
    /** @type {(list: Participant[]) => void} */ this.onparticipants = () => {};
    /** @type {(stream: MediaStream, slot: string) => void} */ this.onremotestream = () => {};
    /** @type {(action: string) => void} */ this.oncontrol = () => {};
    /** @type {(code: string, message: string) => void} */ this.onusererror = () => {};
    /** @type {() => void} */ this.onended = () => {};
    /** @type {(code: number, reason: string) => void} */ this.onfatal = () => {};
    /** @type {(consent: Consent|null, wording?: ConsentWording) => void} */ this.onconsent = () => {};
    /** @type {(status: RecordingStatus) => void} */ this.onrecording = () => {};
    /** @type {(message: any) => void} */ this.onmessage = () => {};
  }

  /** Connect (and keep reconnecting after network drops) until close() is called. */
  async start() {
    this.closedByUs = false;
    await this.connectSocket();
  }

  close() {
    this.closedByUs = true;
    window.clearInterval(this.heartbeat);
    this.closePeer();
    if (this.ws) this.ws.close(1000, 'bye');
  }

  /** @param {object} message */
  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
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
    this.onlinkstate(this.retries ? 'reconnecting' : 'connecting');
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      this.onfatal(0, String(error && error.message ? error.message : error));
      return;
    }
    const ws = new WebSocket(this.wsUrl);
    this.ws = ws;
    ws.onopen = () => {
      this.lastMessageAt = Date.now();
      ws.send(JSON.stringify({ type: 'hello', version: PROTOCOL_VERSION, token }));
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastMessageAt = Date.now();
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
        this.onlinkstate('closed');
      } else if (FINAL_CLOSE_CODES.has(event.code)) {
        this.onlinkstate('closed', event.reason);
        this.onfatal(event.code, event.reason);
      } else {
        this.scheduleReconnect();
      }
    };
    window.clearInterval(this.heartbeat);
    this.heartbeat = window.setInterval(() => this.beat(ws), 5000);
  }

  /** Ping the server; a socket silent for 20 s is dead (phones lose networks quietly). */
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

  scheduleReconnect() {
    this.retries += 1;
    const delay = Math.min(1000 * 2 ** Math.min(this.retries - 1, 3), 8000);
    this.onlinkstate('reconnecting');
    window.setTimeout(() => {
      if (!this.closedByUs) this.connectSocket();
    }, delay);
  }

  /** @param {any} message */
  async handle(message) {
    switch (message.type) {
      case 'welcome':
        this.retries = 0;
        this.welcome = message;
        this.onwelcome(message);
        this.onlinkstate('connected');
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
        this.onconsent(message.consent, message.wording);
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
    this.send({ type: 'offer', sdp: pc.localDescription ? pc.localDescription.sdp : offer.sdp });
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
 * A running "mm:ss" timer that follows the server's recording status.
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
  };
}
