// A page's own camera or microphone, turned on or off by the person (never opened unasked):
// shared by the shared-review page and the supervision call page.

/**
 * Turn `kind` off if it is on, else ask the browser for it and send it.
 * @param {import('./protocol.js').ServerConnection} connection
 * @param {'audio'|'video'} kind
 * @param {HTMLVideoElement} selfView where the own camera shows
 * @param {() => boolean} [stillWanted] false once the page no longer wants it (e.g. the call
 *   ended while the browser was asking): the device is then closed again
 * @returns {Promise<boolean|null>} whether it is on now; null if it was no longer wanted
 */
export async function toggleDevice(connection, kind, selfView, stillWanted = () => true) {
  const current = connection.localTracks[kind];
  if (current) {
    current.stop();
    await connection.setLocalTrack(kind, null);
    if (kind === 'video') selfView.srcObject = null;
    return false;
  }
  const stream = await navigator.mediaDevices.getUserMedia({ [kind]: true });
  const track = stream.getTracks()[0];
  if (!stillWanted()) {
    track.stop();
    return null;
  }
  await connection.setLocalTrack(kind, track);
  if (kind === 'video') selfView.srcObject = stream;
  return true;
}
