// Supervision: what trainees shared (with me, or by me), each opened in a viewer with
// frame-exact, tagged comments; a click on a comment jumps to its frame. The server decides
// who sees what (supervision/api.py); this page only shows it.
import { api, ApiError, whoAmI } from './api.js';
import { describeFrame, frameAt, seekTimeFor } from './frames.js';
import { $, cannotOpen, cells, labelCells, notify, tell } from './ui.js';

/**
 * @typedef {{id: string, kind: string, title: string, family: string, trainee: {id: string, name: string},
 *   audience: string, created_at: number, mine: boolean, media: string[]}} ShareInfo
 * @typedef {{id: string, frame: number, tag: string, text: string, author: string, editable: boolean}} CommentInfo
 * @typedef {ShareInfo & {frames?: {times_ms: number[]}, comments: CommentInfo[]}} OpenShare
 */

const TAG_NAMES = /** @type {Record<string, string>} */ ({
  strength: 'Strength', question: 'Question', 'next-step': 'Next step', note: 'Note',
});

/** @type {OpenShare|null} */ let open = null;

/** The frame the first video shows now (0 for a still). */
function currentFrame() {
  const video = document.querySelector('#viewer-media video');
  if (!open || !open.frames || !(video instanceof HTMLVideoElement)) return 0;
  return frameAt(open.frames.times_ms, video.currentTime);
}

/** Jump every video of the item to `frame`, paused. @param {number} frame */
function jumpTo(frame) {
  if (!open || !open.frames) return;
  const at = seekTimeFor(open.frames.times_ms, frame);
  for (const video of document.querySelectorAll('#viewer-media video')) {
    if (!(video instanceof HTMLVideoElement)) continue;
    video.pause();
    video.currentTime = at;
  }
}

function showFrame() {
  if (!open || !open.frames) return;
  $('viewer-frame').textContent = `Now: ${describeFrame(open.frames.times_ms, currentFrame())}`;
}

function showComments() {
  const list = $('comments');
  list.replaceChildren();
  if (!open) return;
  const times = open.frames ? open.frames.times_ms : [];
  for (const comment of open.comments) {
    const item = document.createElement('li');
    item.dataset.frame = String(comment.frame);
    const jump = document.createElement('button');
    jump.type = 'button';
    jump.className = 'comment-jump';
    jump.textContent = times.length ? describeFrame(times, comment.frame) : 'Still';
    jump.title = 'Show this frame';
    jump.addEventListener('click', () => jumpTo(comment.frame));
    const text = document.createElement('span');
    text.textContent = ` ${TAG_NAMES[comment.tag] || comment.tag} · ${comment.author}: ${comment.text} `;
    item.append(jump, text);
    if (comment.editable) {
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.textContent = 'Edit';
      edit.addEventListener('click', async () => {
        const changed = window.prompt('Your comment', comment.text);
        if (!changed) return;
        try {
          await api('PATCH', `/api/comments/${comment.id}`, { text: changed });
          if (open) await openShare(open.id);
        } catch (error) {
          tell(/** @type {Error} */ (error).message);
        }
      });
      item.append(edit);
    }
    list.append(item);
  }
  if (!open.comments.length) list.textContent = 'No comments yet.';
}

/** Open a shared item in the viewer. @param {string} shareId */
async function openShare(shareId) {
  /** @type {OpenShare} */
  const share = await api('GET', `/api/shares/${shareId}`);
  const sameItem = open && open.id === share.id;
  open = share;
  $('viewer-title').textContent = `${share.title} (${share.family}, shared by ${share.trainee.name})`;
  if (!sameItem) {
    const media = $('viewer-media');
    media.replaceChildren();
    share.media.forEach((url, index) => {
      if (share.kind === 'still') {
        const image = document.createElement('img');
        image.src = url;
        image.alt = share.title;
        media.append(image);
        return;
      }
      const video = document.createElement('video');
      video.src = url;
      video.preload = 'auto';
      video.playsInline = true;
      video.muted = index > 0;
      video.controls = index === 0;
      video.setAttribute('aria-label', share.kind === 'recording' ? `Camera ${index + 1} of the recorded review` : share.title);
      video.addEventListener('timeupdate', showFrame);
      video.addEventListener('seeked', showFrame);
      media.append(video);
    });
    followFirstVideo();
  }
  showComments();
  showFrame();
  $('viewer').hidden = false;
}

/** A recorded review's other camera follows the first one's controls (play, pause, seek). */
function followFirstVideo() {
  const [first, ...others] = [...document.querySelectorAll('#viewer-media video')]
    .filter((v) => v instanceof HTMLVideoElement).map((v) => /** @type {HTMLVideoElement} */ (v));
  if (!first) return;
  const sync = () => {
    for (const other of others) {
      if (Math.abs(other.currentTime - first.currentTime) > 0.1) other.currentTime = first.currentTime;
      if (first.paused && !other.paused) other.pause();
      if (!first.paused && other.paused) other.play().catch(() => {});
    }
  };
  for (const event of ['play', 'pause', 'seeked']) first.addEventListener(event, sync);
}

async function showShares() {
  /** @type {{shares: ShareInfo[]}} */
  const { shares } = await api('GET', '/api/shares');
  const body = $('shares', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const share of shares) {
    const row = document.createElement('tr');
    row.dataset.shareId = share.id;
    const to = share.audience === 'supervisor' ? '' : ' (peer group)';
    row.append(...cells([share.trainee.name, share.family, `${share.title}${to}`, new Date(share.created_at * 1000).toLocaleDateString()]));
    const cell = document.createElement('td');
    const actions = document.createElement('div');
    actions.className = 'actions';
    const view = document.createElement('button');
    view.type = 'button';
    view.className = 'open-share';
    view.textContent = 'Open';
    view.addEventListener('click', () => openShare(share.id).catch((e) => tell(e.message)));
    actions.append(view);
    if (share.mine) {
      const withdraw = document.createElement('button');
      withdraw.type = 'button';
      withdraw.className = 'delete';
      withdraw.textContent = 'Withdraw';
      withdraw.addEventListener('click', async () => {
        try {
          await api('DELETE', `/api/shares/${share.id}`);
          notify('Withdrawn: it is no longer shared.');
          if (open && open.id === share.id) { open = null; $('viewer').hidden = true; }
          await showShares();
        } catch (error) {
          tell(/** @type {Error} */ (error).message);
        }
      });
      actions.append(withdraw);
    }
    cell.append(actions);
    row.append(cell);
    body.append(row);
  }
  if (!shares.length) body.textContent = 'Nothing is shared yet.';
  labelCells($('shares', HTMLTableElement));
  showCallButtons(shares);
}

/**
 * One "Start a call" per trainee: the server plays their shared clips, stills and recorded
 * reviews into it.
 * @param {ShareInfo[]} shares
 */
function showCallButtons(shares) {
  const box = $('call-buttons');
  box.replaceChildren();
  /** @type {Map<string, ShareInfo[]>} */
  const byTrainee = new Map();
  for (const share of shares) {
    byTrainee.set(share.trainee.id, [...(byTrainee.get(share.trainee.id) || []), share]);
  }
  for (const [, mine] of byTrainee) {
    const start = document.createElement('button');
    start.type = 'button';
    start.className = 'primary start-call';
    start.textContent = `Start a call on ${mine[0].trainee.name}'s shared items`;
    start.addEventListener('click', async () => {
      try {
        const { call } = await api('POST', '/api/supervision-calls', { shares: mine.map((s) => s.id) });
        window.location.href = call.url;
      } catch (error) {
        tell(/** @type {Error} */ (error).message);
      }
    });
    box.append(start);
  }
}

/**
 * Links to progress pages: my own as a trainee, each trainee's as a supervisor.
 * @param {{id: string, role: string}} user @param {{id: string, name: string}[]} trainees
 */
function showProgressLinks(user, trainees) {
  const list = $('progress-links');
  list.replaceChildren();
  const links = user.role === 'practitioner' ? [{ href: '/progress', text: 'My progress toward accreditation' }]
    : trainees.map((t) => ({ href: `/progress?trainee=${encodeURIComponent(t.id)}`, text: `Progress of ${t.name}` }));
  for (const { href, text } of links) {
    const item = document.createElement('li');
    const link = document.createElement('a');
    link.href = href;
    link.textContent = text;
    item.append(link);
    list.append(item);
  }
}

/** The admin's part: link a trainee to a supervisor, make a peer group, see the history. */
async function showAdmin() {
  const { links } = await api('GET', '/api/supervision/links');
  const body = $('link-history', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const link of links) {
    const row = document.createElement('tr');
    const until = link.ended_at ? new Date(link.ended_at * 1000).toLocaleDateString() : 'now';
    row.append(...cells([link.trainee, link.supervisor, new Date(link.started_at * 1000).toLocaleDateString(), until]));
    body.append(row);
  }
  labelCells($('link-history', HTMLTableElement));
  $('admin').hidden = false;
}

$('link-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  try {
    await api('POST', '/api/supervision/links', { trainee: data.get('trainee'), supervisor: data.get('supervisor') });
    form.reset();
    notify('Linked: the trainee\'s previous supervisor (if any) no longer sees their shares.', 8);
    await showAdmin();
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});
$('group-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  const members = String(data.get('members') || '').split(',').map((m) => m.trim()).filter(Boolean);
  try {
    await api('POST', '/api/supervision/groups', { name: data.get('name'), members });
    form.reset();
    notify('The peer group is made.');
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});

$('comment-form').addEventListener('submit', async (/** @type {SubmitEvent} */ event) => {
  event.preventDefault();
  if (!open) return;
  const form = /** @type {HTMLFormElement} */ (event.target);
  const data = new FormData(form);
  try {
    await api('POST', `/api/shares/${open.id}/comments`, { frame: currentFrame(), tag: data.get('tag'), text: data.get('text') });
    form.reset();
    await openShare(open.id);
  } catch (error) {
    tell(/** @type {Error} */ (error).message);
  }
});

(async () => {
  try {
    const me = await whoAmI();
    $('who').textContent = me.user.name;
    const mine = await api('GET', '/api/supervision/me');
    const parts = [];
    if (mine.supervisor) parts.push(`Your supervisor: ${mine.supervisor}.`);
    if (mine.trainees.length) parts.push(`You supervise: ${mine.trainees.map((/** @type {{name: string}} */ t) => t.name).join(', ')}.`);
    showProgressLinks(me.user, mine.trainees);
    if (mine.groups.length) parts.push(`Your peer groups: ${mine.groups.map((/** @type {{name: string}} */ g) => g.name).join(', ')}.`);
    $('links').textContent = parts.join(' ') || 'You are not in supervision yet: an admin links trainees and supervisors.';
    if (me.user.role === 'admin') await showAdmin();
    await showShares();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) window.location.href = '/app';
    else cannotOpen('Supervision cannot be opened', /** @type {Error} */ (error).message);
  }
})();
