"""The media path: the only part of vigremote that knows about aiortc.

- aiortc_compat: every use of aiortc's private names, checked at import against the pin;
- passthrough: taps the encoded frames aiortc assembles, so nothing is decoded on the server;
- feeds: one publisher's track fanned out to viewers and the recorder as packets;
- peers: one RTCPeerConnection per browser, negotiated from a validated offer;
- candidates: which remote ICE candidates the server may probe.
"""
