// The case page's material: its recordings (with what the family's consent allows and when each
// is deleted), clips, stills, what can go into a shared review, and sharing with a supervisor.
import { api } from './api.js';
import { day } from './governance.js';
import { $, cells, labelCells, notify, tell } from './ui.js';

/** Clips and stills that can go into a shared review (consent permitting). */
async function showReviewCandidates(/** @type {string} */ caseId) {
  const { items } = await api('GET', `/api/cases/${caseId}/review-items`);
  const list = $('review-candidates');
  list.replaceChildren();
  for (const item of items) {
    const entry = document.createElement('li');
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = `${item.kind}:${item.id}`;
    box.disabled = !item.eligible;
    label.append(box, ` ${item.kind === 'still' ? 'Still' : 'Clip'}: ${item.title}`);
    if (!item.eligible) label.append(' (no consent for shared review)');
    entry.append(label);
    list.append(entry);
  }
  $('review-form').dataset.caseId = caseId;
  $('create-review', HTMLButtonElement).disabled = !items.some((/** @type {any} */ i) => i.eligible);
}

const USE_NAMES = /** @type {Record<string, string>} */ ({
  analyse: 'analysis', review: 'shared review', replay: 'replay', supervise: 'supervision',
});

/** What the family's current consent allows for a recording, in words. @param {Record<string, boolean>} allowed */
function allowedUses(allowed) {
  const uses = Object.keys(USE_NAMES).filter((use) => allowed[use] && use !== 'replay');
  return uses.length ? `Now allowed: ${uses.map((use) => USE_NAMES[use]).join(', ')}` : 'Nothing (withdrawn)';
}

/**
 * The case's recordings, with when each is deleted.
 * @param {string} caseId @param {Record<string, number>} deletes recording id -> deletion time
 * @param {() => Promise<void>} reload shows the case page again after a change
 */
export async function showRecordings(caseId, deletes, reload) {
  const { recordings } = await api('GET', `/api/cases/${caseId}/recordings`);
  const body = $('recordings', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const r of recordings) {
    const row = document.createElement('tr');
    row.dataset.recordingId = r.id;
    const minutes = Math.floor(r.duration_s / 60);
    const seconds = String(Math.floor(r.duration_s % 60)).padStart(2, '0');
    const contents = [
      new Date(r.started_at * 1000).toLocaleString(),
      `${minutes}:${seconds}`,
      r.status,
      String(r.bookmarks.length),
      allowedUses(r.allowed),
      `${(r.size_bytes / 1e6).toFixed(1)} MB`,
      r.status === 'expired' ? 'Deleted (retention)' : deletes[r.id] ? day(deletes[r.id]) : 'Not set yet',
    ];
    row.append(...cells(contents));
    const cell = document.createElement('td');
    // The actions keep apart from each other; Delete is set off from the others (style.css).
    const actions = document.createElement('div');
    actions.className = 'actions';
    cell.append(actions);
    // Only what the family's current consent allows is offered.
    if (r.allowed.analyse) {
      const open = document.createElement('a');
      open.href = `/analysis/${r.id}`;
      open.textContent = 'Analyse';
      open.className = 'button analyse';
      actions.append(open);
    }
    if (r.kind === 'review' && r.allowed.replay) {
      const replay = document.createElement('a');
      replay.href = `/replay/${r.id}`;
      replay.textContent = 'Replay';
      replay.className = 'button replay';
      actions.append(replay);
    }
    if (r.kind === 'review' && r.allowed.replay) actions.append(shareButton('recording', r.id, 'The recorded review'));
    if (!r.allowed.analyse && !(r.kind === 'review' && r.allowed.replay)) {
      const why = document.createElement('span');
      why.textContent = 'Not available: the family has not agreed (or has withdrawn).';
      actions.append(why);
    }
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Delete';
    remove.className = 'delete-recording delete';
    remove.addEventListener('click', async () => {
      if (!window.confirm('Delete this recording and every clip and still made from it? This cannot be undone.')) return;
      try {
        await api('DELETE', `/api/recordings/${r.id}`);
        await reload();
      } catch (error) {
        tell(/** @type {Error} */ (error).message);
      }
    });
    actions.append(remove);
    row.append(cell);
    body.append(row);
  }
  labelCells($('recordings', HTMLTableElement));
  await showClips(caseId, recordings, reload);
}

/**
 * "Share with my supervisor" for a recorded review or a still (the server checks the family's
 * consent and says why it refuses).
 * @param {'recording'|'still'} kind @param {string} id @param {string} what
 */
function shareButton(kind, id, what) {
  const share = document.createElement('button');
  share.type = 'button';
  share.textContent = 'Share with my supervisor';
  share.className = 'share';
  share.addEventListener('click', async () => {
    try {
      await api('POST', '/api/shares', { kind, id });
      notify(`${what} is shared with your supervisor (see Supervision).`, 8);
    } catch (error) {
      tell(/** @type {Error} */ (error).message);
    }
  });
  return share;
}

/**
 * The case's clips in their order, with what a practitioner does to them.
 * @param {string} caseId @param {{id: string, started_at: number}[]} recordings
 * @param {() => Promise<void>} reload
 */
async function showClips(caseId, recordings, reload) {
  const { clips } = await api('GET', `/api/cases/${caseId}/clips`);
  const body = $('clips', HTMLTableElement).tBodies[0];
  body.replaceChildren();
  const when = Object.fromEntries(recordings.map((r) => [r.id, new Date(r.started_at * 1000).toLocaleString()]));
  clips.forEach((/** @type {any} */ clip, /** @type {number} */ index) => {
    const row = document.createElement('tr');
    row.dataset.clipId = clip.id;
    const poster = document.createElement(clip.available ? 'img' : 'span');
    if (clip.available) {
      /** @type {HTMLImageElement} */ (poster).src = clip.poster_url;
      /** @type {HTMLImageElement} */ (poster).alt = `First frame of ${clip.title}`;
    } else {
      poster.textContent = 'Not available (consent withdrawn)';
    }
    const contents = [poster, clip.title, `${clip.duration_s.toFixed(1)} s`, clip.tags.join(', '), when[clip.recording_id] || ''];
    row.append(...cells(contents));
    const cell = document.createElement('td');
    const actions = document.createElement('div');
    actions.className = 'actions';
    cell.append(actions);
    const button = (/** @type {string} */ label, /** @type {() => Promise<void>} */ act, spoken = '', className = '') => {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      if (className) b.className = className;
      if (spoken) b.setAttribute('aria-label', spoken); // "↑" alone says nothing to a screen reader
      b.addEventListener('click', () => act().then(() => reload()).catch((e) => tell(e.message)));
      actions.append(b);
    };
    if (index > 0) button('↑', () => api('PATCH', `/api/clips/${clip.id}`, { position: index - 1 }), `Move “${clip.title}” up`);
    if (index < clips.length - 1) button('↓', () => api('PATCH', `/api/clips/${clip.id}`, { position: index + 1 }), `Move “${clip.title}” down`);
    button('Rename', async () => {
      const title = window.prompt('New title', clip.title);
      if (title) await api('PATCH', `/api/clips/${clip.id}`, { title });
    });
    if (clip.available) {
      const trim = document.createElement('a');
      trim.href = `/analysis/${clip.recording_id}?clip=${clip.id}`;
      trim.textContent = 'Re-trim';
      trim.className = 'button';
      actions.append(trim);
    }
    if (clip.available) {
      button('Share with my supervisor', async () => {
        await api('POST', '/api/shares', { kind: 'clip', id: clip.id });
        notify(`“${clip.title}” is shared with your supervisor (see Supervision).`, 8);
      }, '', 'share');
    }
    button('Delete', async () => {
      if (window.confirm(`Delete the clip "${clip.title}"?`)) await api('DELETE', `/api/clips/${clip.id}`);
    }, '', 'delete');
    row.append(cell);
    body.append(row);
  });
  labelCells($('clips', HTMLTableElement));
  await showReviewCandidates(caseId);
  const { stills } = await api('GET', `/api/cases/${caseId}/stills`);
  const box = $('stills');
  box.replaceChildren();
  for (const still of stills) {
    const figure = document.createElement('figure');
    const image = document.createElement(still.available ? 'img' : 'span');
    if (still.available) {
      /** @type {HTMLImageElement} */ (image).src = still.image_url;
      /** @type {HTMLImageElement} */ (image).alt = still.caption || `Frame ${still.frame}`;
    } else {
      image.textContent = 'Not available (consent withdrawn)';
    }
    const caption = document.createElement('figcaption');
    caption.textContent = `${still.caption || 'Still'} (frame ${still.frame})`;
    figure.append(image, caption);
    if (still.available) figure.append(shareButton('still', still.id, 'The still'));
    box.append(figure);
  }
}
