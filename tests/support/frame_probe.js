// Injected by bench/review_holds.py and tests/test_e2e_review_holds.py into every page before
// the page's own scripts run. It never changes what the page does; it only notes, in window.__vig:
// - every <video id="clip-video"> frame presented (requestVideoFrameCallback), with the number
//   drawn on it (tests/support/numbered_video.py's code, read back here so that no polling from
//   outside adds latency), its presentation time, and the receive time and RTP timestamp WebRTC
//   gives for it;
// - the review commands this page sent and the review-state messages it received;
// - the RTCPeerConnections it made (for getStats on the clip receiver, and the server's answer).
// (The bench's --jitter-target experiment sets window.__vigJitterTarget: then, and only then, it
// sets jitterBufferTarget on every video receiver.)
// Times are epoch milliseconds (performance.timeOrigin + page time), like the server's clock.
(() => {
  const now = () => performance.timeOrigin + performance.now();
  const epoch = (/** @type {number|undefined} */ t) => (t === undefined ? null : performance.timeOrigin + t);
  const vig = {
    pcs: /** @type {RTCPeerConnection[]} */ ([]),
    sent: /** @type {{at: number, data: any}[]} */ ([]),
    states: /** @type {{at: number, state: any}[]} */ ([]),
    shown: /** @type {any[]} */ ([]),
    inputs: /** @type {{at: number, type: string, id: string}[]} */ ([]),
  };
  /** @type {any} */ (window).__vig = vig;

  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(/** @type {any[]} */ ...args) {
      super(...args);
      vig.pcs.push(this);
      const forced = /** @type {any} */ (window).__vigJitterTarget;
      if (typeof forced === 'number') {
        this.addEventListener('track', (event) => {
          if (event.track.kind === 'video') /** @type {any} */ (event.receiver).jitterBufferTarget = forced;
        });
      }
    }
  };

  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(/** @type {any[]} */ ...args) {
      super(.../** @type {[string]} */ (args));
      this.addEventListener('message', (event) => {
        if (typeof event.data !== 'string' || !event.data.includes('"review-state"')) return;
        try {
          vig.states.push({ at: now(), state: JSON.parse(event.data) });
        } catch { /* not JSON */ }
      });
    }

    send(/** @type {any} */ data) {
      if (typeof data === 'string' && data.includes('"type":"review"')) vig.sent.push({ at: now(), data: JSON.parse(data) });
      super.send(data);
    }
  };
  for (const type of ['click', 'change']) {
    document.addEventListener(type, (event) => {
      const target = /** @type {HTMLElement|null} */ (event.target);
      vig.inputs.push({ at: now(), type, id: (target && target.id) || '' });
    }, true);
  }

  // -- reading the number drawn on a frame (numbered_video.py's layout) --------------------
  const W = 160;
  const H = 120;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true }));
  /** @type {number[][]} x0, y0, x1, y1 (normalised) */
  const boxes = [];
  for (let row = 0; row < 2; row += 1) {
    for (let col = 0; col < 8; col += 1) {
      const y0 = 0.06 + row * 0.3;
      boxes.push([col / 8, y0, (col + 1) / 8, y0 + 0.3]);
    }
  }
  const WHITE = [0, 0.72, 0.25, 0.96];
  const BLACK = [0.25, 0.72, 0.5, 0.96];
  /** @param {Uint8ClampedArray} d @param {number[]} box */
  function mean(d, box) {
    const [x0, y0, x1, y1] = box;
    const cx = ((x0 + x1) / 2) * W;
    const cy = ((y0 + y1) / 2) * H;
    const hw = Math.max(((x1 - x0) * W * 0.4) / 2, 0.5);
    const hh = Math.max(((y1 - y0) * H * 0.4) / 2, 0.5);
    const c0 = Math.round(cx - hw);
    const c1 = Math.max(Math.round(cx + hw), c0 + 1);
    const r0 = Math.round(cy - hh);
    const r1 = Math.max(Math.round(cy + hh), r0 + 1);
    let sum = 0;
    let n = 0;
    for (let y = Math.max(r0, 0); y < Math.min(r1, H); y += 1) {
      for (let x = Math.max(c0, 0); x < Math.min(c1, W); x += 1) {
        const i = (y * W + x) * 4;
        sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        n += 1;
      }
    }
    return n ? sum / n : NaN;
  }
  /** @param {HTMLVideoElement} video @returns {number|null} */
  function readNumber(video) {
    ctx.drawImage(video, 0, 0, W, H);
    const d = ctx.getImageData(0, 0, W, H).data;
    const white = mean(d, WHITE);
    const black = mean(d, BLACK);
    const contrast = white - black;
    if (!(contrast >= 48)) return null;
    const threshold = (white + black) / 2;
    let number = 0;
    for (const box of boxes) {
      const value = mean(d, box);
      if (Math.abs(value - threshold) < 0.2 * contrast) return null;
      number = number * 2 + (value > threshold ? 1 : 0);
    }
    return number;
  }

  /** @param {HTMLVideoElement} video */
  function watch(video) {
    let last = 0;
    const onFrame = (/** @type {number} */ _t, /** @type {any} */ meta) => {
      const at = now();
      // Frames presented with no callback of their own (rVFC may skip some): their number and
      // time are unknown, so a held frame may have been on screen before the one noted here.
      const skipped = last ? Math.max(0, meta.presentedFrames - last - 1) : 0;
      last = meta.presentedFrames;
      vig.shown.push({
        skipped,
        at,
        presented: epoch(meta.presentationTime),
        expected: epoch(meta.expectedDisplayTime),
        received: epoch(meta.receiveTime),
        rtp: meta.rtpTimestamp === undefined ? null : meta.rtpTimestamp,
        processing_ms: meta.processingDuration === undefined ? null : meta.processingDuration * 1000,
        presented_frames: meta.presentedFrames,
        number: readNumber(video),
        read_ms: now() - at,
      });
      if (vig.shown.length > 30000) vig.shown.splice(0, 10000);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }
  document.addEventListener('DOMContentLoaded', () => {
    const video = document.getElementById('clip-video');
    if (video instanceof HTMLVideoElement) watch(video);
  });

  /** The first presented frame showing `number` presented at or after `since` (epoch ms). */
  /** @type {any} */ (vig).firstShown = (/** @type {number} */ number, /** @type {number} */ since) =>
    vig.shown.find((f) => f.number === number && f.presented >= since) || null;

  /** The clip video's transceiver (in the page's live connection), or null. */
  function clipTransceiver() {
    const video = /** @type {HTMLVideoElement|null} */ (document.getElementById('clip-video'));
    const stream = video && /** @type {MediaStream|null} */ (video.srcObject);
    const track = stream && stream.getVideoTracks()[0];
    if (!track) return null;
    for (const pc of vig.pcs) {
      if (pc.connectionState === 'closed') continue;
      const found = pc.getTransceivers().find((t) => t.receiver.track === track);
      if (found) return { pc, transceiver: found };
    }
    return null;
  }

  /** The server's answer for the clip video's m-line (SDP text), or null. */
  /** @type {any} */ (vig).clipAnswer = () => {
    const found = clipTransceiver();
    const answer = found && found.pc.remoteDescription;
    if (!found || !answer) return null;
    const mid = `\r\na=mid:${found.transceiver.mid}\r\n`;
    return answer.sdp.split('\r\nm=').find((section) => `\r\n${section}\r\n`.includes(mid)) || null;
  };

  /** The clip receiver's inbound-rtp stats, and its jitterBufferTarget. */
  /** @type {any} */ (vig).clipStats = async () => {
    const video = /** @type {HTMLVideoElement|null} */ (document.getElementById('clip-video'));
    const stream = video && /** @type {MediaStream|null} */ (video.srcObject);
    const track = stream && stream.getVideoTracks()[0];
    if (!track) return null;
    for (const pc of vig.pcs) {
      if (pc.connectionState === 'closed') continue;
      for (const receiver of pc.getReceivers()) {
        if (receiver.track !== track) continue;
        const report = await receiver.getStats();
        for (const stats of report.values()) {
          if (stats.type === 'inbound-rtp') {
            const quality = video ? video.getVideoPlaybackQuality() : null;
            return {
              ...stats,
              jitterBufferTargetSetting: /** @type {any} */ (receiver).jitterBufferTarget ?? null,
              totalVideoFrames: quality ? quality.totalVideoFrames : null,
              droppedVideoFrames: quality ? quality.droppedVideoFrames : null,
            };
          }
        }
      }
    }
    return null;
  };
})();
