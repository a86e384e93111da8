// Generated from vigremote/messages.py: do not edit. After changing a message there, run
//     .venv/bin/python -m vigremote.messages_ts > web/messages.d.ts
// (tests/test_messages.py fails while this file is stale).

export type MediaKind = 'audio' | 'video';

export type RecordAction = 'start' | 'pause' | 'resume' | 'stop';

export type RecordingState = 'idle' | 'recording' | 'paused' | 'stopping' | 'stopped' | 'failed';

export type ReviewAction = 'play' | 'pause' | 'seek' | 'step' | 'speed' | 'loop' | 'select' | 'accept-pause' | 'dismiss-pause' | 'request-pause' | 'hand-over';

export type ReviewPlayState = 'empty' | 'still' | 'playing' | 'paused';

/**
 * One member of the call as the roster lists them: a person, or the server's recorder or
 * player (role "recorder", "player"). `media` is the state of their video connection (for
 * the recorder and player, their own state); `muted` lists what they turned off.
 */
export interface Participant {
  id: string;
  role: string;
  name: string;
  media: string;
  muted?: string[];
}

export interface SessionInfo {
  id: string;
  /** "filming" or "review" */
  kind: string;
}

/**
 * One media line of the browser's connection, in order: "camera" (people) or "clip" (the
 * review player); `send` says whether the browser's own camera or microphone goes out on it.
 */
export interface Slot {
  name: string;
  kind: MediaKind;
  send: boolean;
}

export interface IceServer {
  urls: string;
  username?: string;
  credential?: string;
}

/**
 * A browser's RTCIceCandidate.toJSON().
 */
export interface IceCandidate {
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/**
 * The family's current consent for the case (their latest word), purpose by purpose.
 */
export interface Consent {
  id: string;
  purposes: string[];
  wording_version: string;
  given_by: string;
  how: string;
  given_at: number;
  /** the language the family answered in (None: a practitioner's entry) */
  language: string | null;
}

export interface PurposeWording {
  id: string;
  label: string;
  detail: string;
  required_for_recording: boolean;
}

export interface AfterCallWording {
  title: string;
  intro: string;
  saved: string;
}

/**
 * The consent question as the family reads it (vigremote/data/consent-wording.json, with
 * this kind of session's texts and the organisation's own lines).
 */
export interface ConsentWording {
  version: string;
  title: string;
  purposes: PurposeWording[];
  intro: string;
  records: string;
  will_record: string;
  will_not_record: string;
  after_call: AfterCallWording;
  retention_text: string;
  withdraw_text: string;
  contact_text: string;
  /** the language of these texts (web/i18n, vigremote/data/consent-wording.*) */
  language: string;
}

export interface ReviewItem {
  /** "clip", "still" or "recording" (a recorded shared review, in a supervision call) */
  kind: string;
  id: string;
  title: string;
}

/**
 * The family asked to pause on `frame` (the clip frame they saw), at `at` (Unix time).
 */
export interface PauseRequest {
  frame: number;
  by: string;
  at: number;
}

/**
 * The handshake: first on every socket, with the signed token from the link or login.
 */
export interface Hello {
  type: 'hello';
  version: number;
  token: string;
}

/**
 * A new RTCPeerConnection's offer, one m-line per slot of the welcome.
 */
export interface Offer {
  type: 'offer';
  sdp: string;
}

/**
 * A trickled ICE candidate; null ends the candidates.
 */
export interface Candidate {
  type: 'candidate';
  candidate: IceCandidate | null;
}

/**
 * Keeps a quiet socket alive; the server answers pong.
 */
export interface Ping {
  type: 'ping';
}

/**
 * The practitioner asks the family's phone to switch camera; the server passes it on to
 * the family as is.
 */
export interface Control {
  type: 'control';
  action: 'switch-camera';
}

/**
 * The practitioner ends the session for everyone.
 */
export interface End {
  type: 'end';
}

/**
 * The family agrees, or changes its mind, for the wording `version` they were shown; an
 * empty list withdraws everything.
 */
export interface GiveConsent {
  type: 'consent';
  version: string;
  purposes: string[];
  /** the language the question was read in (unknown: English) */
  language?: string;
}

/**
 * Start, pause, resume or stop the recording (the family may pause and resume).
 */
export interface Record {
  type: 'record';
  action: RecordAction;
}

/**
 * The practitioner marks this moment of the running recording.
 */
export interface Bookmark {
  type: 'bookmark';
  note?: string;
}

/**
 * Drive the shared review's player (the practitioner); the family may only send
 * request-pause. seek takes `frame`, step `delta` (-1 or 1), speed `speed` (0.25, 0.5, 1),
 * loop `on`, select `item` (an index in the playlist). In a supervision call the driver drives,
 * and hand-over gives that to the participant `to`.
 */
export interface ReviewCommand {
  type: 'review';
  action: ReviewAction;
  frame?: number;
  delta?: number;
  speed?: number;
  on?: boolean;
  item?: number;
  to?: string;
}

/**
 * What this browser turned off; sent again after every welcome (a new connection starts
 * with nothing off).
 */
export interface Muted {
  type: 'muted';
  off: MediaKind[];
}

/**
 * The handshake's answer: who you are, the session, ICE servers and the media slots to
 * offer, in order.
 */
export interface Welcome {
  type: 'welcome';
  version: number;
  you: Participant;
  session: SessionInfo;
  iceServers: IceServer[];
  slots: Slot[];
}

/**
 * The answer to an offer, and the video codec chosen.
 */
export interface Answer {
  type: 'answer';
  sdp: string;
  codec: string | null;
}

export interface Pong {
  type: 'pong';
}

/**
 * The roster, to everyone, whenever someone joins, leaves or changes state.
 */
export interface Participants {
  type: 'participants';
  participants: Participant[];
}

/**
 * The session is over; the socket closes with 4002.
 */
export interface Ended {
  type: 'ended';
}

/**
 * The family's current consent (null: never asked), what this session records
 * ("analysis" or "supervision") and whether the family has answered in this session. The
 * family's copy at join carries the wording of the question.
 */
export interface ConsentState {
  type: 'consent';
  consent: Consent | null;
  records: string;
  confirmed: boolean;
  wording?: ConsentWording;
}

/**
 * The recording's state, to everyone in the room (also at join: "idle" when none runs);
 * `message` says why it stopped or failed.
 */
export interface RecordingStatus {
  type: 'recording';
  state: RecordingState;
  paused_by: string | null;
  recording_id: string | null;
  elapsed_s: number;
  message: string | null;
}

/**
 * The practitioner's bookmark was kept, `t_s` seconds into the recording.
 */
export interface Bookmarked {
  type: 'bookmarked';
  t_s: number;
  note: string;
}

/**
 * Who drives the player in a supervision call (their participant id and name).
 */
export interface Driver {
  type: 'driver';
  id: string;
  name: string;
}

/**
 * The shared review's player: which item of the playlist shows (-1: none), which frame of
 * how many, the first frame's number in the recording, speed, loop, the family's pending
 * pause request, and a notice (why an item was taken off the screen).
 */
export interface ReviewState {
  type: 'review-state';
  state: ReviewPlayState;
  item: number;
  items: ReviewItem[];
  frame: number;
  frames: number;
  first_frame: number;
  /** a recorded review's cameras ("family", "practitioner") shown beside it */
  cameras: string[];
  speed: number;
  loop: boolean;
  pause_request: PauseRequest | null;
  notice: string | null;
  /** the notice as a stable key: the family's page says it in its language */
  notice_code: string | null;
}

/**
 * A user error: the message of type `about` changed nothing; the socket stays open.
 */
export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
  about: string;
}

/**
 * Every message a browser may send.
 */
export type ClientMessage = Hello | Offer | Candidate | Ping | Control | End | GiveConsent | Record | Bookmark | ReviewCommand | Muted;

/**
 * Every message the server sends (a page narrows it by `type`).
 */
export type ServerMessage = Welcome | Answer | Pong | Control | Participants | Ended | ConsentState | RecordingStatus | Bookmarked | ReviewState | Driver | ErrorMessage;
