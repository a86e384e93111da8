// The family's copies page (/c/<address>): their clips to watch and keep, for as long as the
// link lasts. The address is the key; the server checks on every request that copies are still
// allowed (the organisation's setting, the family's consent, the link not revoked or expired).
import { languagePicker, onLanguageChange, setPlain, setText, startI18n } from './i18n.js';

/** @typedef {{id: string, title: string, duration_s: number, url: string, download_url: string}} CopyClip */

const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const token = window.location.pathname.split('/')[2] || '';

/** @type {{expires_at: number, clips: CopyClip[]}|null} */
let shown = null;

function render() {
  if (!shown) return;
  const until = new Date(shown.expires_at * 1000).toLocaleDateString(document.documentElement.lang || undefined,
    { day: 'numeric', month: 'long', year: 'numeric' });
  setText(byId('expires'), 'copies.expires', { date: until });
  byId('expires').hidden = false;
  setText(byId('status'), shown.clips.length ? 'copies.intro' : 'copies.none');
  const list = byId('clips');
  list.replaceChildren();
  for (const clip of shown.clips) {
    const item = document.createElement('li');
    const heading = document.createElement('h2');
    setPlain(heading, clip.title);
    const video = document.createElement('video');
    video.controls = true;
    video.playsInline = true;
    video.preload = 'metadata';
    video.src = clip.url;
    video.setAttribute('aria-label', clip.title);
    const save = document.createElement('a');
    save.className = 'button big';
    save.href = clip.download_url;
    save.setAttribute('download', '');
    setText(save, 'copies.save');
    item.append(heading, video, save);
    list.append(item);
  }
}

(async () => {
  await startI18n();
  languagePicker(byId('language-picker'));
  onLanguageChange(render);
  try {
    const response = await fetch(`/api/copies/${encodeURIComponent(token)}`);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const code = data.error && data.error.code;
      const key = code === 'revoked' ? 'copies.revoked' : code === 'expired' ? 'copies.expired'
        : code === 'no-copies' ? 'copies.unavailable' : 'copies.bad-link';
      setText(byId('status'), key);
      return;
    }
    shown = data;
    render();
  } catch {
    setText(byId('status'), 'copies.offline');
  }
})();
