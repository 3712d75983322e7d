//! The bot list gcbridge declares to Genesys (`mapping.md` §2, `genesys-bot-connector.md` §5.9
//! and §6): the v1 shape pushed through the Platform API and the DBC shape served from
//! `GET /genesys/dbc/bots`, both generated from the same bot profiles, so the intents and slots
//! a turn can return are always the declared ones.

use std::collections::{BTreeMap, HashSet};

use gcbridge_genesys::{
    BotList, BotListBot, BotListIntent, BotListVersion, DbcBot, DbcBotList, DbcBotVersion,
    DbcIntent, SlotDecl,
};

use crate::profile::BotProfile;
use crate::translate::slots::escalate_slots;

/// Shown by Genesys as the DBC bot's provider.
pub const PROVIDER: &str = "Microsoft Copilot Studio";

/// Genesys limits of a bot list (`genesys-bot-connector.md` §5.9).
pub const MAX_BOTS: usize = 50;
pub const MAX_INTENTS: usize = 50;
pub const MAX_SLOTS: usize = 50;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// Slot types Genesys accepts.
pub const SLOT_TYPES: [&str; 14] = [
    "String",
    "Integer",
    "Decimal",
    "Boolean",
    "Duration",
    "Datetime",
    "Currency",
    "StringCollection",
    "IntegerCollection",
    "DecimalCollection",
    "BooleanCollection",
    "DurationCollection",
    "DatetimeCollection",
    "CurrencyCollection",
];

/// The intents of one bot with their slots, in declaration order.
pub fn intents(profile: &BotProfile) -> Vec<(String, Vec<SlotDecl>)> {
    let escalate = escalate_slots(profile)
        .into_iter()
        .map(|s| SlotDecl {
            name: s.name,
            kind: s.kind,
        })
        .collect();
    let end = if profile.end_code_slot {
        vec![SlotDecl {
            name: "va_EndCode".to_owned(),
            kind: "String".to_owned(),
        }]
    } else {
        Vec::new()
    };
    vec![
        (profile.escalate_intent.clone(), escalate),
        (profile.end_intent.clone(), end),
    ]
}

fn description(profile: &BotProfile) -> Option<String> {
    Some(profile.description.clone()).filter(|d| !d.trim().is_empty())
}

fn languages(profile: &BotProfile) -> Vec<String> {
    profile
        .languages
        .iter()
        .map(|l| l.to_ascii_lowercase())
        .collect()
}

/// The v1 list (`PUT /api/v2/integrations/botconnector/{integrationId}/bots`).
pub fn v1_bot_list<'a>(profiles: impl IntoIterator<Item = &'a BotProfile>) -> BotList {
    BotList {
        chat_bots: profiles
            .into_iter()
            .map(|p| BotListBot {
                id: p.id.clone(),
                name: p.name.clone(),
                description: description(p),
                versions: vec![BotListVersion {
                    version: p.version.clone(),
                    supported_languages: languages(p),
                    intents: intents(p)
                        .into_iter()
                        .map(|(name, slots)| BotListIntent {
                            name,
                            slots: (!slots.is_empty()).then(|| {
                                slots
                                    .into_iter()
                                    .map(|s| (s.name.clone(), s))
                                    .collect::<BTreeMap<_, _>>()
                            }),
                        })
                        .collect(),
                }],
            })
            .collect(),
    }
}

/// One DBC bot (`GET /genesys/dbc/bots/{botId}`).
pub fn dbc_bot(profile: &BotProfile) -> DbcBot {
    DbcBot {
        id: profile.id.clone(),
        name: profile.name.clone(),
        provider: PROVIDER.to_owned(),
        description: description(profile),
        versions: vec![DbcBotVersion {
            version: profile.version.clone(),
            supported_languages: languages(profile),
            intents: intents(profile)
                .into_iter()
                .map(|(name, entities)| DbcIntent { name, entities })
                .collect(),
        }],
    }
}

/// The DBC list (`GET /genesys/dbc/bots`).
pub fn dbc_bot_list<'a>(profiles: impl IntoIterator<Item = &'a BotProfile>) -> DbcBotList {
    DbcBotList {
        entities: profiles.into_iter().map(dbc_bot).collect(),
    }
}

/// Checks a list against Genesys' limits; every problem is one readable line.
pub fn validate<'a>(profiles: impl IntoIterator<Item = &'a BotProfile>) -> Result<(), Vec<String>> {
    let profiles: Vec<&BotProfile> = profiles.into_iter().collect();
    let mut problems = Vec::new();
    if profiles.is_empty() {
        problems.push("the bot list is empty".to_owned());
    }
    if profiles.len() > MAX_BOTS {
        problems.push(format!(
            "{} bots configured; Genesys accepts at most {MAX_BOTS}",
            profiles.len()
        ));
    }
    let mut ids = HashSet::new();
    for p in profiles {
        let bot = format!("bot {:?}", p.id);
        if !ids.insert(p.id.as_str()) {
            problems.push(format!("{bot}: id listed twice"));
        }
        check_name(&mut problems, &bot, "id", &p.id);
        check_name(&mut problems, &bot, "name", &p.name);
        check_name(&mut problems, &bot, "version", &p.version);
        if p.description.chars().count() > MAX_DESCRIPTION_CHARS {
            problems.push(format!(
                "{bot}: description longer than {MAX_DESCRIPTION_CHARS} characters"
            ));
        }
        if p.languages.is_empty() {
            problems.push(format!("{bot}: no supported language"));
        }
        for l in &p.languages {
            if l.trim().is_empty() || l.trim() != l {
                problems.push(format!("{bot}: language {l:?} is not a language tag"));
            }
        }
        let intents = intents(p);
        if intents.len() > MAX_INTENTS {
            problems.push(format!("{bot}: more than {MAX_INTENTS} intents"));
        }
        let mut intent_names = HashSet::new();
        for (intent, slots) in &intents {
            check_name(&mut problems, &bot, "intent", intent);
            if !intent_names.insert(intent.as_str()) {
                problems.push(format!("{bot}: intent {intent:?} declared twice"));
            }
            if slots.len() > MAX_SLOTS {
                problems.push(format!(
                    "{bot}: intent {intent:?} has {} slots; Genesys accepts at most {MAX_SLOTS}",
                    slots.len()
                ));
            }
            for slot in slots {
                check_name(&mut problems, &bot, "slot", &slot.name);
                if !SLOT_TYPES.contains(&slot.kind.as_str()) {
                    problems.push(format!(
                        "{bot}: slot {:?} has type {:?}; use one of {}",
                        slot.name,
                        slot.kind,
                        SLOT_TYPES.join(", ")
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_name(problems: &mut Vec<String>, bot: &str, what: &str, value: &str) {
    if value.is_empty() {
        problems.push(format!("{bot}: {what} is empty"));
    } else if value.trim() != value {
        problems.push(format!(
            "{bot}: {what} {value:?} has leading or trailing spaces"
        ));
    } else if value.chars().count() > MAX_NAME_CHARS {
        problems.push(format!(
            "{bot}: {what} {value:?} is longer than {MAX_NAME_CHARS} characters"
        ));
    } else if value.chars().any(char::is_control) {
        problems.push(format!(
            "{bot}: {what} {value:?} contains control characters"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::HandoffVariable;

    fn contoso() -> BotProfile {
        BotProfile {
            id: "contoso-support".into(),
            name: "Contoso Support".into(),
            languages: vec!["en-us".into(), "fr-fr".into()],
            handoff_variables: vec![HandoffVariable {
                name: "OrderNumber".into(),
                kind: "String".into(),
            }],
            system_slots: vec!["va_LastTopic".into()],
            ..BotProfile::default()
        }
    }

    fn fixture(name: &str) -> serde_json::Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
    }

    #[test]
    fn v1_and_dbc_lists_match_the_fixtures() {
        let p = contoso();
        assert_eq!(
            serde_json::to_value(v1_bot_list([&p])).expect("json"),
            fixture("genesys-v1-botlist.json")
        );
        assert_eq!(
            serde_json::to_value(dbc_bot_list([&p])).expect("json"),
            fixture("genesys-dbc-bots.json")
        );
        assert_eq!(validate([&p]), Ok(()));
    }

    #[test]
    fn limits_are_explained() {
        let mut p = contoso();
        p.name = " Padded".into();
        p.handoff_variables = (0..60)
            .map(|i| HandoffVariable {
                name: format!("V{i}"),
                kind: "String".into(),
            })
            .collect();
        p.system_slots = vec!["va_Topics".into()];
        p.handoff_variables.push(HandoffVariable {
            name: "Odd".into(),
            kind: "DateTime".into(),
        });
        let problems = validate([&p, &contoso()]).expect_err("invalid");
        let text = problems.join("\n");
        assert!(
            text.contains("name \" Padded\" has leading or trailing spaces"),
            "{text}"
        );
        assert!(text.contains("Genesys accepts at most 50"), "{text}");
        assert!(
            text.contains("slot \"va_Odd\" has type \"DateTime\""),
            "{text}"
        );
        assert!(text.contains("id listed twice"), "{text}");
    }

    #[test]
    fn end_code_slot_is_declared_when_on() {
        let p = BotProfile {
            end_code_slot: true,
            ..BotProfile::default()
        };
        let list = dbc_bot(&p);
        let end = &list.versions[0].intents[1];
        assert_eq!(end.name, "EndConversation");
        assert_eq!(end.entities[0].name, "va_EndCode");
    }
}
