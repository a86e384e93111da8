"""The shared-review call: the server plays clips into the call, everyone sees the same frame.

- store: a review session's playlist (clips and stills, in order);
- clipmedia: a clip's packets in memory, and the decoder/encoder used only when unavoidable;
- player: the room's system participant that paces the clip's frames to every viewer;
- control: the signalling messages that drive it and the REST routes that prepare it.
"""
