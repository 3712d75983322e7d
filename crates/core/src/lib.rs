//! The pure core of gcbridge: Genesys turns in, Direct Line activities out, and back.
//!
//! Every function here is a function of its inputs — configuration ([`profile::BotProfile`]),
//! the stored session, the Genesys request, the agent's activities and `now` (milliseconds,
//! passed in) — and returns a plan, a reply or a session update. The core does **no I/O**, reads
//! **no clock**, draws **no randomness** and does not depend on tokio: everything hard about the
//! translation and the end-of-turn decision is unit-testable with fixtures.
//!
//! Modules:
//! - [`botlist`]: the bot list declared to Genesys (v1 and DBC shapes) and its limits.
//! - [`profile`]: per-bot behaviour settings and their defaults.
//! - [`errors`]: the fixed `Failed` codes and sentences.
//! - [`request`]: validation of a Genesys turn request into a [`request::Turn`].
//! - [`locale`]: `languageCode` → BCP 47 locale.
//! - [`user_id`]: the stable, unlinkable Direct Line user id of a bot session.
//! - [`session`]: the versioned session record persisted between turns.
//! - [`transcript`]: the bounded, redacted bot transcript kept for the agent-side widget.
//! - [`offers`]: the payloads of the buttons gcbridge offers and what a click on one posts.
//! - [`plan`]: which activities to post this turn.
//! - [`quiet`]: the adaptive quiet period learned per bot.
//! - [`collect`]: the turn collector (what to deliver, when the turn ends, watermark bookkeeping).
//! - [`translate`]: the agent's activities → Genesys `replyMessages`, intents and slots.
//! - [`fuzz`]: the bodies of the fuzz targets in `fuzz/` (also run over a corpus by the tests).

pub mod botlist;
pub mod collect;
pub mod errors;
pub mod fuzz;
pub mod locale;
pub mod offers;
pub mod plan;
pub mod profile;
pub mod quiet;
pub mod request;
pub mod session;
pub mod transcript;
pub mod translate;
pub mod user_id;
