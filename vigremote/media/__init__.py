"""The media path: the only part of vigremote that knows about aiortc.

- passthrough: taps the encoded frames aiortc assembles, so nothing is decoded on the server;
- feeds: one publisher's track fanned out to viewers (and later the recorder) as packets;
- peers: one RTCPeerConnection per browser, negotiated from a validated offer.
"""
