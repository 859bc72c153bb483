// media.js owns the local camera and microphone: it asks for them once,
// falls back to microphone only and then to receive-only, explains why in
// words a person understands, and swaps devices on request.

/** Video constraints: modest, so that phones and small uplinks cope. */
const VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * The outcome of asking for local media.
 * @typedef {Object} LocalMedia
 * @property {MediaStream|null} stream  null when nothing could be opened
 * @property {string} note  why video or audio is missing, or "" when both work
 */

/**
 * Asks for camera and microphone, falling back to the microphone alone and
 * then to nothing (receive-only). Never throws.
 * @returns {Promise<LocalMedia>}
 */
export async function openLocalMedia() {
  if (!navigator.mediaDevices?.getUserMedia) {
    // On a secure page (app.js handles insecure ones before asking): an old
    // or locked-down browser, or a frame not allowed to use the camera.
    return {
      stream: null,
      note: 'This browser does not let the page use a camera or microphone. You can still watch and chat by text.',
    };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ video: VIDEO, audio: AUDIO }), note: '' };
  } catch (bothErr) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: AUDIO });
      return { stream, note: `${cameraReason(bothErr)} The stranger hears you but cannot see you.` };
    } catch (audioErr) {
      return { stream: null, note: `${cameraReason(bothErr)} You can still watch and chat by text.` };
    }
  }
}

/**
 * Turns a getUserMedia error into a sentence.
 * @param {unknown} err
 */
export function cameraReason(err) {
  const name = err instanceof Error ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was denied.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found.';
    case 'NotReadableError':
    case 'AbortError':
      return 'The camera is in use by another program.';
    default:
      return 'The camera could not be opened.';
  }
}

/**
 * Lists the cameras and microphones the browser offers.
 * @returns {Promise<{cameras: MediaDeviceInfo[], microphones: MediaDeviceInfo[]}>}
 */
export async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
  const devices = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: devices.filter((d) => d.kind === 'videoinput' && d.deviceId),
    microphones: devices.filter((d) => d.kind === 'audioinput' && d.deviceId),
  };
}

/**
 * Opens one track of the given kind from a chosen device.
 * @param {'audio'|'video'} kind
 * @param {string} deviceId
 * @returns {Promise<MediaStreamTrack>}
 */
export async function openTrack(kind, deviceId) {
  const base = kind === 'video' ? VIDEO : AUDIO;
  const constraints = { [kind]: { ...base, deviceId: { exact: deviceId } } };
  const stream = await navigator.mediaDevices.getUserMedia(constraints);
  return stream.getTracks()[0];
}
