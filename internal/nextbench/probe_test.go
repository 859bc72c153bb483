package nextbench

// probeJS runs in every page before its own scripts and defines
// window.__nx:
//   - userId and the arrival time of each server message type (WebSocket
//     wrapped), for matching the page with the server's timelines;
//   - next(want): presses Next and resolves, at the first frame presented in
//     the remote video whose colour is want, with the press time and that
//     frame's requestVideoFrameCallback metadata (all performance.now()
//     times, plus the page's time origin to put them on the wall clock);
//   - offer, answer, accept, firstFrame: a fresh peer-to-peer call with the
//     page's own camera (without trickle: one description each way), timed
//     from createOffer to the first remote frame presented.
const probeJS = `(() => {
  const nx = { userId: '', arrived: {}, p2p: null };
  Object.defineProperty(window, '__nx', { value: nx });
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        const at = performance.now();
        try {
          const m = JSON.parse(ev.data);
          nx.arrived[m.type] = at;
          if (m.type === 'welcome') nx.userId = m.data.userId;
        } catch {}
      });
    }
  };
  nx.origin = () => performance.timeOrigin;
  const PC = window.RTCPeerConnection;
  const pcs = [];
  window.RTCPeerConnection = class extends PC {
    constructor(...args) { super(...args); pcs.push(this); }
  };
  // The video receive counters of the page's own (tandem's) PeerConnection.
  nx.inbound = async () => {
    const out = { pliCount: 0, freezeCount: 0 };
    const pc = pcs.find((p) => p !== nx.p2p?.pc && p.connectionState !== 'closed');
    if (!pc) return out;
    for (const s of (await pc.getStats()).values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.pliCount = s.pliCount || 0;
        out.freezeCount = s.freezeCount || 0;
      }
    }
    return out;
  };

  // The colour of a video's current frame, by its middle's average.
  const canvas = document.createElement('canvas');
  canvas.width = 32; canvas.height = 24;
  const g = canvas.getContext('2d', { willReadFrequently: true });
  nx.colour = (v) => {
    if (!v.videoWidth) return '';
    g.drawImage(v, 0, 0, 32, 24);
    const d = g.getImageData(8, 6, 16, 12).data;
    let r = 0, gr = 0, b = 0;
    for (let i = 0; i < d.length; i += 4) { r += d[i]; gr += d[i + 1]; b += d[i + 2]; }
    if (r > 1.5 * gr && r > 1.5 * b) return 'red';
    if (gr > 1.5 * r && gr > 1.5 * b) return 'green';
    if (b > 1.5 * r && b > 1.5 * gr) return 'blue';
    return 'other';
  };
  const remote = () => document.querySelector('#remote-video');
  nx.showing = () => nx.colour(remote());

  // Waits for n more frames presented in the remote video.
  nx.frames = (n) => new Promise((resolve) => {
    const v = remote();
    const step = () => { if (--n <= 0) resolve(true); else v.requestVideoFrameCallback(step); };
    v.requestVideoFrameCallback(step);
  });

  nx.next = (want) => new Promise((resolve, reject) => {
    const v = remote();
    const res = { others: 0, seen: [] };
    const onFrame = (now, meta) => {
      const c = nx.colour(v);
      if (c !== want) {
        res.others++;
        if (res.seen.length < 20) res.seen.push(c + '@' + Math.round(meta.presentationTime - res.press));
        v.requestVideoFrameCallback(onFrame);
        return;
      }
      Object.assign(res, { callback: now, presented: meta.presentationTime,
        expected: meta.expectedDisplayTime, received: meta.receiveTime ?? null,
        processing: meta.processingDuration ?? null, found: nx.arrived.partner_found ?? null });
      resolve(res);
    };
    v.requestVideoFrameCallback(onFrame);
    const btn = document.querySelector('#next');
    if (btn.hidden || btn.disabled) { reject(new Error('Next is not available')); return; }
    res.press = performance.now();
    btn.click();
  });

  // Peer to peer: the page's own camera and microphone, a fresh connection.
  const tracks = () => document.querySelector('#local-video').srcObject.getTracks().map((t) => t.clone());
  const gathered = (pc) => new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') resolve();
    });
  });
  const startP2P = () => {
    nx.p2p?.pc.close();
    nx.p2p?.video.remove();
    const pc = new window.RTCPeerConnection();
    const stream = new MediaStream(tracks());
    for (const t of stream.getTracks()) pc.addTrack(t, stream);
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true;
    video.style.cssText = 'position:fixed;right:0;bottom:0;width:160px;height:120px';
    document.body.append(video);
    const p = { pc, video, stream };
    p.first = new Promise((resolve) => {
      pc.addEventListener('track', (ev) => {
        if (ev.track.kind !== 'video') return;
        video.srcObject = new MediaStream([ev.track]);
        video.play().catch(() => {});
        video.requestVideoFrameCallback((now, meta) => resolve(meta.presentationTime));
      });
    });
    nx.p2p = p;
    return p;
  };
  nx.offer = async () => {
    const p = startP2P();
    p.start = performance.now();
    await p.pc.setLocalDescription(await p.pc.createOffer());
    await gathered(p.pc);
    return p.pc.localDescription.sdp;
  };
  nx.answer = async (sdp) => {
    const p = startP2P();
    await p.pc.setRemoteDescription({ type: 'offer', sdp });
    await p.pc.setLocalDescription(await p.pc.createAnswer());
    await gathered(p.pc);
    return p.pc.localDescription.sdp;
  };
  nx.accept = (sdp) => nx.p2p.pc.setRemoteDescription({ type: 'answer', sdp }).then(() => true);
  // The offerer's time from createOffer to its first remote frame presented.
  nx.firstFrame = () => nx.p2p.first.then((at) => at - nx.p2p.start);
  nx.closeP2P = () => {
    nx.p2p?.pc.close();
    nx.p2p?.video.remove();
    nx.p2p?.stream.getTracks().forEach((t) => t.stop());
    nx.p2p = null;
    return true;
  };
})();`
