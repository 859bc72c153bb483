package netbench

// probeJS runs in every page before its own scripts: it keeps the page's
// RTCPeerConnections (window.__nb.pcs), offers the peer-to-peer baseline
// (window.__nb.offer, answer, accept: a call set up without trickle, so the
// parent relays one description each way), and samples getStats
// (window.__nb.sample).
const probeJS = `(() => {
  const nb = { pcs: [] };
  Object.defineProperty(window, '__nb', { value: nb });
  const PC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends PC {
    constructor(...args) { super(...args); nb.pcs.push(this); }
  };

  // The baseline: the same camera and microphone constraints as tandem's page.
  const media = () => navigator.mediaDevices.getUserMedia({
    video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24, max: 30 } },
    audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const gathered = (pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
  const start = async () => {
    const pc = new window.RTCPeerConnection();
    const stream = await media();
    for (const track of stream.getTracks()) pc.addTrack(track, stream);
    pc.addEventListener('track', (ev) => { nb.remote = ev.streams[0]; });
    return pc;
  };
  nb.offer = async () => {
    const pc = await start();
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    return pc.localDescription.sdp;
  };
  nb.answer = async (sdp) => {
    const pc = await start();
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    return pc.localDescription.sdp;
  };
  nb.accept = (sdp) => nb.pcs.at(-1).setRemoteDescription({ type: 'answer', sdp }).then(() => true);
  nb.connected = () => nb.pcs.length > 0 && nb.pcs.at(-1).connectionState === 'connected';

  // One sample of the newest PeerConnection's video: what it receives and
  // what it sends, as counters (the parent takes differences).
  nb.sample = async () => {
    const pc = nb.pcs.at(-1);
    const out = { at: performance.now() };
    if (!pc) return out;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.in = { framesDecoded: s.framesDecoded || 0, freezeCount: s.freezeCount || 0,
          totalFreezesDuration: s.totalFreezesDuration || 0, packetsLost: s.packetsLost || 0,
          packetsReceived: s.packetsReceived || 0, nackCount: s.nackCount || 0,
          keyFramesDecoded: s.keyFramesDecoded || 0, frameHeight: s.frameHeight || 0 };
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.out = { bytesSent: s.bytesSent || 0, retransmittedBytesSent: s.retransmittedBytesSent || 0,
          qualityLimitationReason: s.qualityLimitationReason || '', frameHeight: s.frameHeight || 0 };
      }
    }
    return out;
  };
})();`
