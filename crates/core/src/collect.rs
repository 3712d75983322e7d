//! Collecting a turn's replies (`direct-line.md` §10): what to deliver, when the turn ends, and
//! the watermark bookkeeping that makes sure no bot activity is lost or repeated.
//!
//! The collector is a state machine driven by the app: it is fed ActivitySets (from the
//! catch-up read, polling or the stream) with the time they arrived, and asked [`Collector::decide`]
//! what to do at a given time. It never reads a clock itself.

use std::collections::{HashMap, HashSet};

use gcbridge_directline::{Activity, ActivitySet, InputHint};

use crate::profile::{BotProfile, Timings};

/// Why collection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// A handoff or end-of-conversation activity (from this turn or carried).
    StopSignal,
    /// A configured turn-end event (`turn.complete`).
    TurnEndEvent,
    /// A message expecting input, plus the grace period.
    ExpectingInput,
    /// The quiet period after the last bot activity passed.
    Quiet,
    /// The hard ceiling before Genesys' deadline.
    Deadline,
    /// Nothing was posted this turn, so there is nothing to wait for.
    NothingPosted,
    /// A newer customer message for the same session took over (asynchronous replies only).
    Superseded,
    /// Genesys closed the session while replies were being pushed (asynchronous replies only).
    Closed,
}

impl EndReason {
    /// Low-cardinality label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::StopSignal => "stop_signal",
            EndReason::TurnEndEvent => "turn_end_event",
            EndReason::ExpectingInput => "expecting_input",
            EndReason::Quiet => "quiet",
            EndReason::Deadline => "deadline",
            EndReason::NothingPosted => "nothing_posted",
            EndReason::Superseded => "superseded",
            EndReason::Closed => "closed",
        }
    }
}

/// What the app should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Stop collecting and answer.
    Done(EndReason),
    /// Keep receiving; decide again at the latest at this time (ms).
    WaitUntil(u64),
}

/// The outcome of a turn's collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    /// Activities to translate, in server order: carried ones first.
    pub activities: Vec<Activity>,
    /// How many of them were carried from earlier turns.
    pub carried: usize,
    /// New `delivered_watermark` (the previous one when no set brought one).
    pub watermark: Option<String>,
    /// Ids of every bot activity consumed this turn (forwarded or not).
    pub delivered_ids: Vec<String>,
    /// Gaps (ms) between consecutive bot activities that arrived during this turn, typing
    /// included, except gaps a typing indicator's hold covered: what the adaptive quiet period
    /// learns from.
    pub gaps_ms: Vec<u64>,
}

/// State of one turn's collection. Times are milliseconds on any monotonic scale the caller
/// uses consistently.
#[derive(Debug)]
pub struct Collector<'p> {
    profile: &'p BotProfile,
    started_at: u64,
    deadline_ms: u64,
    seen: HashSet<String>,
    posted: HashSet<String>,
    /// Echoes of the user's own activities seen: `clientActivityID` → Direct Line id.
    echoes: HashMap<String, String>,
    out: Vec<Activity>,
    carried: usize,
    new_ids: Vec<String>,
    watermark: Option<String>,
    replied: bool,
    last_bot_at: Option<u64>,
    gaps_ms: Vec<u64>,
    quiet_ms: u64,
    busy_until: u64,
    stop: Option<(u64, EndReason)>,
    /// Only a reply to this activity starts the quiet period (see [`Collector::expect_reply_to`]).
    awaited: Option<String>,
}

impl<'p> Collector<'p> {
    /// A collector for a turn that started (request arrival) at `started_at`, for a session that
    /// already delivered `delivered_ids` and read up to `watermark`.
    pub fn new<'a, I>(
        profile: &'p BotProfile,
        started_at: u64,
        delivered_ids: I,
        watermark: Option<String>,
    ) -> Self
    where
        I: IntoIterator<Item = &'a String>,
    {
        Self {
            profile,
            started_at,
            deadline_ms: profile.timings.deadline_ms,
            seen: delivered_ids.into_iter().cloned().collect(),
            posted: HashSet::new(),
            echoes: HashMap::new(),
            out: Vec::new(),
            carried: 0,
            new_ids: Vec::new(),
            watermark,
            replied: false,
            last_bot_at: None,
            gaps_ms: Vec::new(),
            quiet_ms: profile.timings.quiet_ms,
            busy_until: 0,
            stop: None,
            awaited: None,
        }
    }

    /// Uses another quiet period than the profile's `quiet_ms` (the adaptive one learned per bot).
    pub fn with_quiet_ms(mut self, quiet_ms: u64) -> Self {
        self.quiet_ms = quiet_ms;
        self
    }

    /// Uses another hard ceiling than the profile's v1 `deadline_ms` (the Digital Bot
    /// Connector has its own).
    pub fn with_deadline_ms(mut self, deadline_ms: u64) -> Self {
        self.deadline_ms = deadline_ms;
        self
    }

    fn timings(&self) -> &Timings {
        &self.profile.timings
    }

    /// The watermark to read from next.
    pub fn watermark(&self) -> Option<&str> {
        self.watermark.as_deref()
    }

    /// Absolute time after which the turn must be answered.
    pub fn hard_stop_at(&self) -> u64 {
        self.started_at
            .saturating_add(self.deadline_ms)
            .saturating_sub(self.timings().response_margin_ms)
    }

    /// Feeds the catch-up read made before posting: bot activities not yet delivered are
    /// carried into this turn's output. They do not start the quiet timer. Returns true when a
    /// carried activity ends the session (then nothing should be posted).
    pub fn catch_up(&mut self, set: ActivitySet, now: u64) -> bool {
        let before = self.out.len();
        self.absorb(set, now, false);
        self.carried += self.out.len() - before;
        matches!(self.stop, Some((_, EndReason::StopSignal)))
    }

    /// Records the id Direct Line gave to an activity posted this turn: replies pointing at it
    /// count as this turn's answer.
    pub fn posted(&mut self, activity_id: &str) {
        self.posted.insert(activity_id.to_owned());
    }

    /// Makes only a reply to `activity_id` (or a message without `replyToId`) start the quiet
    /// period: replies to other posts of the turn (the greeting answering `startConversation`)
    /// do not end it. For callers that deliver replies as they come, where waiting is free.
    pub fn expect_reply_to(&mut self, activity_id: &str) {
        self.awaited = Some(activity_id.to_owned());
    }

    /// Records an activity of this turn that an earlier, interrupted attempt of the same request
    /// already posted (its echo was found, see [`Collector::echo_of`]). Replies to it may
    /// already have been carried: they count as this turn's answer, and the quiet period runs
    /// from `now` instead of waiting for a reply that already came.
    pub fn posted_earlier(&mut self, activity_id: &str, now: u64) {
        self.posted(activity_id);
        let answered = self
            .out
            .iter()
            .any(|a| a.kind == Activity::MESSAGE && a.reply_to_id.as_deref() == Some(activity_id));
        if answered && !self.replied {
            self.replied = true;
            self.last_bot_at = self.last_bot_at.or(Some(now));
        }
    }

    /// The Direct Line id of the user's own activity with this `clientActivityID`, when its
    /// echo was among the activities read (catch-up, stream or polling).
    pub fn echo_of(&self, client_activity_id: &str) -> Option<&str> {
        self.echoes.get(client_activity_id).map(String::as_str)
    }

    /// Feeds an ActivitySet received during collection at time `now`.
    pub fn receive(&mut self, set: ActivitySet, now: u64) {
        self.absorb(set, now, true);
    }

    fn absorb(&mut self, set: ActivitySet, now: u64, live: bool) {
        if set.watermark.is_some() {
            self.watermark = set.watermark;
        }
        for activity in set.activities {
            if !activity.is_from_bot() {
                if let (Some(client_id), Some(id)) = (activity.client_activity_id(), &activity.id) {
                    self.echoes.insert(client_id, id.clone());
                }
                continue;
            }
            if let Some(id) = &activity.id {
                if !self.seen.insert(id.clone()) {
                    continue;
                }
                self.new_ids.push(id.clone());
            }
            if live {
                // A gap the typing indicator covered needs no quiet period (the typing hold
                // keeps the turn open): only uncovered gaps teach the adaptive quiet period.
                if let Some(previous) = self.last_bot_at
                    && now > self.busy_until
                {
                    self.gaps_ms.push(now.saturating_sub(previous));
                }
                self.last_bot_at = Some(now);
            }
            self.classify(activity, now, live);
        }
    }

    fn classify(&mut self, activity: Activity, now: u64, live: bool) {
        let name = activity.name.as_deref().unwrap_or_default();
        match activity.kind.as_str() {
            // Typing only matters while the turn is live: carried typing is history.
            Activity::TYPING if live => {
                self.busy_until = self
                    .busy_until
                    .max(now.saturating_add(self.timings().typing_hold_ms));
            }
            Activity::END_OF_CONVERSATION => self.stop_now(activity, now),
            Activity::EVENT if self.profile.is_handoff_event(name) => self.stop_now(activity, now),
            Activity::EVENT if self.profile.is_end_event(name) => self.stop_now(activity, now),
            Activity::EVENT if live && self.profile.is_turn_end_event(name) => {
                self.set_stop(now, EndReason::TurnEndEvent);
            }
            Activity::MESSAGE => {
                if live {
                    // A message replaces the typing indicator that announced it (as in every
                    // chat client): only typing *after* the latest message keeps the turn busy.
                    self.busy_until = 0;
                    let answers_this_turn = activity
                        .reply_to_id
                        .as_ref()
                        .is_none_or(|id| self.posted.contains(id));
                    let answers_awaited = match (&self.awaited, &activity.reply_to_id) {
                        (Some(awaited), Some(id)) => awaited == id,
                        _ => answers_this_turn,
                    };
                    if answers_awaited {
                        self.replied = true;
                    }
                    if activity.input_hint() == Some(InputHint::Expecting) && answers_this_turn {
                        let at = now.saturating_add(self.timings().expecting_input_grace_ms);
                        self.set_stop(at, EndReason::ExpectingInput);
                    }
                }
                self.out.push(activity);
            }
            // Other events, traces, conversation updates and unknown types are consumed
            // (their ids are remembered) but not forwarded.
            _ => {}
        }
    }

    /// A stop signal is forwarded and ends the turn after the current set.
    fn stop_now(&mut self, activity: Activity, now: u64) {
        self.out.push(activity);
        self.stop = Some((now, EndReason::StopSignal));
    }

    fn set_stop(&mut self, at: u64, reason: EndReason) {
        match self.stop {
            Some((existing, _)) if existing <= at => {}
            _ => self.stop = Some((at, reason)),
        }
    }

    /// What to do at time `now`.
    pub fn decide(&self, now: u64) -> Decision {
        if let Some((at, reason)) = self.stop
            && (now >= at || reason == EndReason::StopSignal)
        {
            return Decision::Done(reason);
        }
        if self.posted.is_empty() {
            return Decision::Done(EndReason::NothingPosted);
        }
        let hard = self.hard_stop_at();
        if now >= hard {
            return Decision::Done(EndReason::Deadline);
        }
        let mut wake = hard;
        if let Some((at, _)) = self.stop {
            wake = wake.min(at);
        }
        if self.replied {
            let last = self.last_bot_at.unwrap_or(now);
            let quiet_end = last.saturating_add(self.quiet_ms).max(self.busy_until);
            if now >= quiet_end {
                return Decision::Done(EndReason::Quiet);
            }
            wake = wake.min(quiet_end);
        }
        Decision::WaitUntil(wake)
    }

    /// Takes the activities to forward that arrived since the last call, in server order, for
    /// callers that deliver replies as they come (the Digital Bot Connector's asynchronous
    /// replies). Their ids stay remembered: [`Collector::finish`] reports them as delivered.
    pub fn take_new(&mut self) -> Vec<Activity> {
        std::mem::take(&mut self.out)
    }

    /// True once a stop signal (handoff, end) was forwarded.
    pub fn stopped(&self) -> bool {
        matches!(self.stop, Some((_, EndReason::StopSignal)))
    }

    /// Ends collection.
    pub fn finish(self) -> Collected {
        Collected {
            activities: self.out,
            carried: self.carried,
            watermark: self.watermark,
            delivered_ids: self.new_ids,
            gaps_ms: self.gaps_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile() -> BotProfile {
        BotProfile::default()
    }

    fn bot(id: &str, kind: &str, reply_to: Option<&str>) -> Activity {
        let mut v = json!({"type": kind, "id": id, "from": {"id": "b", "role": "bot"}, "text": format!("t-{id}")});
        if let Some(r) = reply_to {
            v["replyToId"] = json!(r);
        }
        serde_json::from_value(v).expect("activity")
    }

    fn set(wm: &str, activities: Vec<Activity>) -> ActivitySet {
        ActivitySet {
            activities,
            watermark: Some(wm.to_owned()),
            ..ActivitySet::default()
        }
    }

    fn ids(c: &Collected) -> Vec<&str> {
        c.activities
            .iter()
            .filter_map(|a| a.id.as_deref())
            .collect()
    }

    #[test]
    fn waits_for_first_reply_then_quiet_period() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        // Before any reply the quiet timer does not run: wait up to the hard stop.
        assert_eq!(c.decide(100), Decision::WaitUntil(7_700));
        c.receive(set("2", vec![bot("a1", "message", Some("u1"))]), 400);
        assert_eq!(c.decide(500), Decision::WaitUntil(1_600));
        c.receive(set("3", vec![bot("a2", "message", Some("u1"))]), 1_000);
        assert_eq!(c.decide(1_700), Decision::WaitUntil(2_200));
        assert_eq!(c.decide(2_200), Decision::Done(EndReason::Quiet));
        let done = c.finish();
        assert_eq!(ids(&done), ["a1", "a2"]);
        assert_eq!(done.watermark.as_deref(), Some("3"));
    }

    #[test]
    fn replies_taken_as_they_come_are_still_delivered_once() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("start");
        c.posted("u1");
        c.expect_reply_to("u1");
        // The greeting answers startConversation: it is forwarded but does not start the
        // quiet period when a reply to the customer's message is awaited.
        c.receive(set("1", vec![bot("g1", "message", Some("start"))]), 100);
        assert_eq!(c.decide(2_000), Decision::WaitUntil(7_700));
        let first = c.take_new();
        assert_eq!(first.len(), 1);
        assert!(c.take_new().is_empty());
        c.receive(set("2", vec![bot("a1", "message", Some("u1"))]), 3_000);
        assert_eq!(c.decide(3_000), Decision::WaitUntil(4_200));
        assert_eq!(c.take_new()[0].id.as_deref(), Some("a1"));
        // A repeat of an activity already taken is dropped.
        c.receive(set("2", vec![bot("a1", "message", Some("u1"))]), 3_100);
        assert!(c.take_new().is_empty());
        assert!(!c.stopped());
        c.receive(set("3", vec![bot("h1", "event", None)]), 3_200);
        let done = c.finish();
        assert!(done.activities.is_empty());
        assert_eq!(done.delivered_ids, ["g1", "a1", "h1"]);
        assert_eq!(done.watermark.as_deref(), Some("3"));
    }

    #[test]
    fn typing_extends_the_quiet_period() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        c.receive(
            set(
                "2",
                vec![bot("a1", "message", Some("u1")), bot("t1", "typing", None)],
            ),
            100,
        );
        assert_eq!(c.decide(1_400), Decision::WaitUntil(3_100));
        assert_eq!(c.decide(3_100), Decision::Done(EndReason::Quiet));
        let done = c.finish();
        assert_eq!(ids(&done), ["a1"]);
        assert!(done.delivered_ids.contains(&"t1".to_owned()));
    }

    #[test]
    fn deadline_can_be_overridden() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None).with_deadline_ms(25_000);
        c.posted("u1");
        assert_eq!(c.decide(10_000), Decision::WaitUntil(24_700));
    }

    #[test]
    fn a_message_clears_the_typing_hold_that_announced_it() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        c.receive(set("1", vec![bot("t1", "typing", None)]), 0);
        c.receive(set("2", vec![bot("a1", "message", Some("u1"))]), 300);
        // Quiet period from the message, not the 3 s typing hold.
        assert_eq!(c.decide(400), Decision::WaitUntil(1_500));
        assert_eq!(c.decide(1_500), Decision::Done(EndReason::Quiet));
    }

    #[test]
    fn gaps_between_live_activities_are_reported_and_quiet_can_be_overridden() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None).with_quiet_ms(300);
        c.posted("u1");
        c.receive(set("1", vec![bot("a1", "message", Some("u1"))]), 100);
        c.receive(set("2", vec![bot("a2", "message", Some("u1"))]), 250);
        assert_eq!(c.decide(400), Decision::WaitUntil(550));
        assert_eq!(c.decide(550), Decision::Done(EndReason::Quiet));
        assert_eq!(c.finish().gaps_ms, [150]);
    }

    #[test]
    fn gaps_covered_by_typing_are_not_learned() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        c.receive(set("1", vec![bot("a1", "message", Some("u1"))]), 100);
        // Typing right after the first message, the second message 390 ms later: the typing
        // hold (3 s) covered that wait, so only the 10 ms gap needs a quiet period.
        c.receive(set("2", vec![bot("t1", "typing", None)]), 110);
        c.receive(set("3", vec![bot("a2", "message", Some("u1"))]), 500);
        // A pause after the hold ran out must be learned.
        c.receive(set("4", vec![bot("t2", "typing", None)]), 510);
        c.receive(set("5", vec![bot("a3", "message", Some("u1"))]), 3_600);
        assert_eq!(c.finish().gaps_ms, [10, 10, 3_090]);
    }

    #[test]
    fn deadline_without_reply() {
        let p = profile();
        let mut c = Collector::new(&p, 1_000, [], None);
        c.posted("u1");
        assert_eq!(c.decide(8_699), Decision::WaitUntil(8_700));
        assert_eq!(c.decide(8_700), Decision::Done(EndReason::Deadline));
    }

    #[test]
    fn late_reply_to_an_earlier_turn_is_kept_but_does_not_count_as_the_answer() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u2");
        c.receive(set("4", vec![bot("old", "message", Some("u1"))]), 100);
        assert_eq!(c.decide(5_000), Decision::WaitUntil(7_700));
        assert_eq!(ids(&c.finish()), ["old"]);
    }

    #[test]
    fn stop_signals_end_after_the_current_set() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        let mut handoff = bot("h", "event", Some("u1"));
        handoff.name = Some("handoff.initiate".into());
        c.receive(
            set("5", vec![handoff, bot("after", "message", Some("u1"))]),
            200,
        );
        assert_eq!(c.decide(200), Decision::Done(EndReason::StopSignal));
        assert_eq!(ids(&c.finish()), ["h", "after"]);

        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        c.receive(set("6", vec![bot("e", "endOfConversation", None)]), 10);
        assert_eq!(c.decide(10), Decision::Done(EndReason::StopSignal));
    }

    #[test]
    fn expecting_input_ends_after_grace() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        let mut q = bot("q", "message", Some("u1"));
        q.input_hint = Some("expectingInput".into());
        c.receive(set("2", vec![q]), 300);
        assert_eq!(c.decide(300), Decision::WaitUntil(450));
        assert_eq!(c.decide(450), Decision::Done(EndReason::ExpectingInput));
    }

    #[test]
    fn turn_end_event_ends_collection_and_is_not_forwarded() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], None);
        c.posted("u1");
        let mut tc = bot("tc", "event", Some("u1"));
        tc.name = Some("turn.complete".into());
        c.receive(set("3", vec![bot("a", "message", Some("u1")), tc]), 50);
        assert_eq!(c.decide(50), Decision::Done(EndReason::TurnEndEvent));
        assert_eq!(ids(&c.finish()), ["a"]);
    }

    #[test]
    fn dedupe_user_echoes_and_delivered_ids() {
        let p = profile();
        let delivered = vec!["a1".to_owned()];
        let mut c = Collector::new(&p, 0, &delivered, Some("1".into()));
        c.posted("u1");
        let user: Activity = serde_json::from_value(
            json!({"type":"message","id":"u1","from":{"id":"dl_x","role":"user"},"text":"hi"}),
        )
        .expect("user");
        c.receive(
            set(
                "3",
                vec![
                    bot("a1", "message", None),
                    user,
                    bot("a2", "message", Some("u1")),
                ],
            ),
            10,
        );
        // The same activity again (stream + polling overlap).
        c.receive(set("3", vec![bot("a2", "message", Some("u1"))]), 20);
        let done = c.finish();
        assert_eq!(ids(&done), ["a2"]);
        assert_eq!(done.delivered_ids, ["a2"]);
    }

    #[test]
    fn carried_activities_come_first_and_a_carried_stop_signal_ends_at_once() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], Some("2".into()));
        let stop = c.catch_up(set("4", vec![bot("late", "message", Some("u0"))]), 0);
        assert!(!stop);
        c.posted("u1");
        c.receive(set("6", vec![bot("now", "message", Some("u1"))]), 100);
        assert_eq!(c.decide(1_300), Decision::Done(EndReason::Quiet));
        let done = c.finish();
        assert_eq!(ids(&done), ["late", "now"]);
        assert_eq!(done.carried, 1);

        let mut c = Collector::new(&p, 0, [], None);
        let mut h = bot("h", "event", None);
        h.name = Some("handoff.initiate".into());
        assert!(c.catch_up(set("9", vec![h]), 0));
        assert_eq!(c.decide(0), Decision::Done(EndReason::StopSignal));
    }

    #[test]
    fn nothing_posted_ends_at_once_and_missing_watermark_keeps_previous() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], Some("7".into()));
        c.catch_up(ActivitySet::default(), 0);
        assert_eq!(c.decide(0), Decision::Done(EndReason::NothingPosted));
        assert_eq!(c.finish().watermark.as_deref(), Some("7"));
    }

    #[test]
    fn an_earlier_attempts_post_and_its_carried_reply_are_recognised() {
        let p = profile();
        let mut c = Collector::new(&p, 0, [], Some("1".to_owned()));
        let echo: Activity = serde_json::from_value(json!({
            "type": "message", "id": "u7", "from": {"id": "dl_gcb_x", "role": "user"},
            "text": "hi", "channelData": {"clientActivityID": "gcb-x-0003-abcdef"}
        }))
        .expect("activity");
        c.catch_up(set("3", vec![echo, bot("a8", "message", Some("u7"))]), 50);
        assert_eq!(c.echo_of("gcb-x-0003-abcdef"), Some("u7"));
        assert_eq!(c.echo_of("gcb-x-0003-000000"), None);
        c.posted_earlier("u7", 100);
        // The carried reply answers it: the quiet period runs from now, not from the deadline.
        assert_eq!(c.decide(100), Decision::WaitUntil(100 + p.timings.quiet_ms));
        assert_eq!(
            c.decide(100 + p.timings.quiet_ms),
            Decision::Done(EndReason::Quiet)
        );
        let out = c.finish();
        assert_eq!(ids(&out), ["a8"]);
        assert_eq!(out.carried, 1);
    }
}
