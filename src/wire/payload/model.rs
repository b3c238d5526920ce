//! The webhook JSON as types: the post, its attachments, their fields and the priority,
//! with the members mmnotify writes or reads typed and everything else kept as given.
//!
//! A `--payload` file is the user's, not ours: any member may hold `null` or a value of
//! another type, and the server (or `validate`) decides what that means. So every member
//! is a [`Member`], which keeps such a value as it came, and every level keeps unknown
//! members in `extra`: parsing and serializing a payload gives back the same object.

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{MAX_POST_CHARS, TRUNCATION_MARKER};
use crate::error;

/// The props key under which mmnotify describes a post for machines.
pub(crate) const MACHINE_PROPS_KEY: &str = "mmnotify";
/// The props key Mattermost shows as the post's card (`--card`).
const CARD_PROPS_KEY: &str = "card";

/// One member of a payload object as given: absent, of the type mmnotify works with, or
/// any other JSON value (`null` included), passed on untouched for validation to judge.
/// Where and as whom a post appears, as plain values (the route flags, read once by the
/// command); `None` keeps what the payload says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Route {
    pub channel: Option<String>,
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub icon_emoji: Option<String>,
    /// `urgent` or `important`.
    pub priority: Option<&'static str>,
    pub requested_ack: bool,
    /// `--root-id`: the thread to post in. Servers with mattermost/mattermost#36415 honour
    /// it; older ones drop the unknown key and post in the channel.
    pub root_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Member<T> {
    #[default]
    Absent,
    Typed(T),
    Other(Value),
}

impl<T> Member<T> {
    /// The value when it has the expected type.
    pub(crate) fn typed(&self) -> Option<&T> {
        match self {
            Member::Typed(t) => Some(t),
            _ => None,
        }
    }

    pub(crate) fn is_absent(&self) -> bool {
        matches!(self, Member::Absent)
    }
}

impl<T> From<T> for Member<T> {
    fn from(t: T) -> Self {
        Member::Typed(t)
    }
}

impl<T> From<Option<T>> for Member<T> {
    fn from(t: Option<T>) -> Self {
        t.map_or(Member::Absent, Member::Typed)
    }
}

impl<T: Serialize> Serialize for Member<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Typed(t) => t.serialize(s),
            Member::Other(v) => v.serialize(s),
            // Skipped by every container (`skip_serializing_if`); `null` is its meaning.
            Member::Absent => s.serialize_none(),
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Member<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        Ok(match T::deserialize(&raw) {
            Ok(t) => Member::Typed(t),
            Err(_) => Member::Other(raw),
        })
    }
}

/// One post (`model.IncomingWebhookRequest`). Members mmnotify never writes (`type`,
/// `silent`, `root_id`, ...) stay in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Payload {
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub text: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub channel: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub username: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub icon_url: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub icon_emoji: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub attachments: Member<Vec<Member<Attachment>>>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub props: Member<Map<String, Value>>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub priority: Member<Priority>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One attachment (`model.SlackAttachment`): the members mmnotify sets or derives the
/// fallback from; `author_*`, `actions`, `ts` and the rest stay in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Attachment {
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub fallback: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub color: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub pretext: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub title: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub title_link: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub text: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub fields: Member<Vec<Member<Field>>>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub image_url: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub thumb_url: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub footer: Member<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One attachment field (`model.SlackAttachmentField`). The server takes any JSON as the
/// value, and `short` as a boolean or the string `true`/`false` (kept as given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Field {
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub title: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub value: Member<Value>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub short: Member<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The post priority (`model.PostPriority`); `persistent_notifications` stays in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Priority {
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub priority: Member<String>,
    #[serde(skip_serializing_if = "Member::is_absent")]
    pub requested_ack: Member<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Field {
    pub(crate) fn new(title: &str, value: String, short: bool) -> Field {
        Field {
            title: title.to_string().into(),
            value: Value::String(value).into(),
            short: short.into(),
            extra: Map::new(),
        }
    }
}

impl Payload {
    /// A JSON object read from the user, whatever its members hold; nothing is lost.
    pub(crate) fn from_object(obj: Map<String, Value>) -> Result<Payload> {
        serde_json::from_value(Value::Object(obj)).context("reading the payload")
    }

    /// The object to validate and send. Its keys are sorted at every level, as bodies
    /// have always been sent, so that equal payloads are equal bytes.
    pub(crate) fn to_object(&self) -> Result<Map<String, Value>> {
        match serde_json::to_value(self).context("serializing the payload")? {
            Value::Object(m) => Ok(m),
            _ => Err(anyhow::anyhow!(
                "the payload did not serialize to a JSON object"
            )),
        }
    }

    /// Props that hold `machine` (what mmnotify says about the post for machines) as
    /// `props.mmnotify`.
    pub(crate) fn machine_props(machine: impl Serialize) -> Result<Map<String, Value>> {
        let value = serde_json::to_value(machine).context("serializing the post's props")?;
        Ok(Map::from_iter([(MACHINE_PROPS_KEY.to_string(), value)]))
    }

    /// Applies channel, username, icon and priority flags.
    pub(crate) fn apply_route(&mut self, route: &Route) {
        for (member, flag) in [
            (&mut self.channel, &route.channel),
            (&mut self.username, &route.username),
            (&mut self.icon_url, &route.icon_url),
            (&mut self.icon_emoji, &route.icon_emoji),
        ] {
            if let Some(v) = flag {
                *member = v.clone().into();
            }
        }
        if let Some(root) = &route.root_id {
            self.extra
                .insert("root_id".into(), Value::from(root.as_str()));
        }
        if route.priority.is_some() || route.requested_ack {
            self.priority = Priority {
                priority: route.priority.unwrap_or("").to_string().into(),
                requested_ack: route.requested_ack.then_some(true).into(),
                extra: Map::new(),
            }
            .into();
        }
    }

    /// Adds an attachment after those given; a non-list `attachments` is replaced.
    pub(crate) fn push_attachment(&mut self, att: Attachment) {
        match &mut self.attachments {
            Member::Typed(list) => list.push(att.into()),
            other => *other = vec![att.into()].into(),
        }
    }

    /// The props to add to, created when missing.
    pub(crate) fn props_mut(&mut self) -> Result<&mut Map<String, Value>> {
        if self.props.is_absent() {
            self.props = Map::new().into();
        }
        match &mut self.props {
            Member::Typed(p) => Ok(p),
            _ => Err(error::input("`props` in the payload must be an object")),
        }
    }

    /// Sets `props.card` (`--card`).
    pub(crate) fn set_card(&mut self, card: &str) -> Result<()> {
        self.props_mut()?
            .insert(CARD_PROPS_KEY.to_string(), Value::String(card.to_string()));
        Ok(())
    }

    /// Mobile clients show an attachment-only post as empty unless each attachment
    /// carries a fallback, so derive one from what the attachment shows.
    pub(crate) fn ensure_fallbacks(&mut self) {
        let Member::Typed(atts) = &mut self.attachments else {
            return;
        };
        for att in atts.iter_mut() {
            let Member::Typed(a) = att else { continue };
            if a.fallback.typed().is_some_and(|s| !s.trim().is_empty()) {
                continue;
            }
            a.fallback = first_line(&a.derived_fallback(), 300).into();
        }
    }

    /// Cuts text longer than one post on a character boundary and marks the cut.
    /// Returns whether anything was cut.
    pub(crate) fn truncate_text(&mut self) -> bool {
        let Member::Typed(text) = &mut self.text else {
            return false;
        };
        if text.chars().count() <= MAX_POST_CHARS {
            return false;
        }
        let keep = MAX_POST_CHARS - TRUNCATION_MARKER.chars().count() - 1;
        let cut = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
        text.truncate(cut);
        text.push('\n');
        text.push_str(TRUNCATION_MARKER);
        true
    }

    /// Adds `line` as the last paragraph of the post's text (creating `text` for an
    /// attachment-only post), keeping a text that fitted one post within it: the old
    /// text is cut, with the truncation marker, to make room.
    pub(crate) fn append_last_line(&mut self, line: &str) {
        const SEP: &str = "\n\n";
        let text = match &self.text {
            Member::Typed(t) if !t.trim().is_empty() => t.clone(),
            _ => {
                self.text = line.to_string().into();
                return;
            }
        };
        let len = text.chars().count();
        let room = MAX_POST_CHARS.saturating_sub(SEP.len() + line.chars().count());
        // Longer than a post already: it was sent with `--split`, so the server splits it.
        let text = if len > room && len <= MAX_POST_CHARS {
            let keep = room.saturating_sub(TRUNCATION_MARKER.chars().count() + 1);
            let cut: String = text.chars().take(keep).collect();
            format!("{cut}\n{TRUNCATION_MARKER}")
        } else {
            text
        };
        self.text = format!("{text}{SEP}{line}").into();
    }
}

impl Attachment {
    /// Lays `over` on top: each member it sets replaces this one's, and its fields come
    /// after these (`run`'s attachment flags on the report's own attachment).
    pub(crate) fn overlay(&mut self, over: Attachment) {
        for (member, given) in [
            (&mut self.fallback, over.fallback),
            (&mut self.color, over.color),
            (&mut self.pretext, over.pretext),
            (&mut self.title, over.title),
            (&mut self.title_link, over.title_link),
            (&mut self.text, over.text),
            (&mut self.image_url, over.image_url),
            (&mut self.thumb_url, over.thumb_url),
            (&mut self.footer, over.footer),
        ] {
            if !given.is_absent() {
                *member = given;
            }
        }
        if let Member::Typed(more) = over.fields {
            match &mut self.fields {
                Member::Typed(list) => list.extend(more),
                other => *other = more.into(),
            }
        }
        self.extra.extend(over.extra);
    }

    /// The first of title, pretext, text and footer that says something, else the
    /// fields as `title: value` pairs.
    fn derived_fallback(&self) -> String {
        let shown = [&self.title, &self.pretext, &self.text, &self.footer]
            .into_iter()
            .find_map(|m| m.typed().filter(|s| !s.trim().is_empty()));
        if let Some(s) = shown {
            return s.clone();
        }
        let parts: Vec<String> = self
            .fields
            .typed()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let f = f.typed()?;
                let title = f.title.typed()?;
                let value = match f.value.typed()? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some(format!("{title}: {value}"))
            })
            .collect();
        if parts.is_empty() {
            "attachment".to_string()
        } else {
            parts.join(", ")
        }
    }
}

fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    line.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Payload {
        Payload::from_object(v.as_object().unwrap().clone()).unwrap()
    }

    fn object(p: &Payload) -> Value {
        Value::Object(p.to_object().unwrap())
    }

    #[test]
    fn members_of_any_type_survive_a_round_trip() {
        for given in [
            json!({}),
            json!({"text": null, "channel": 5, "username": ["x"], "attachments": {}, "props": "p"}),
            json!({"text": "t", "Text": "u", "x_custom": {"n": [1, 2.5, -3, 1e300, null]}}),
            json!({"attachments": [null, 7, "s", [], {"title": null, "fields": 3, "ts": 1}]}),
            json!({"attachments": [{"fields": [null, 1, {"short": "TRUE", "value": null, "x": 1}]}]}),
            json!({"priority": {"priority": 1, "requested_ack": "yes", "persistent_notifications": true}}),
            json!({"priority": null, "props": null, "attachments": null, "silent": false, "type": ""}),
        ] {
            assert_eq!(object(&payload(given.clone())), given);
        }
    }

    /// Any JSON under the member names of every level (and others): what goes in as a
    /// `--payload` comes out unchanged.
    #[test]
    fn any_payload_round_trips() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        const KEYS: &[&str] = &[
            "text",
            "channel",
            "username",
            "icon_url",
            "icon_emoji",
            "attachments",
            "props",
            "priority",
            "requested_ack",
            "fallback",
            "color",
            "pretext",
            "title",
            "title_link",
            "fields",
            "image_url",
            "thumb_url",
            "footer",
            "value",
            "short",
            "type",
            "x",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            "[a-zA-Z ]{0,6}".prop_map(Value::String),
            Just(json!("TRUE")),
        ];
        let value = leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(proptest::sample::select(KEYS), inner, 0..6)
                    .prop_map(|m| Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                    )),
            ]
        });
        let payload = proptest::collection::btree_map(proptest::sample::select(KEYS), value, 0..8);
        let mut runner = TestRunner::new(Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&payload, |m| {
                let given: Map<String, Value> =
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                let back = Payload::from_object(given.clone())
                    .unwrap()
                    .to_object()
                    .unwrap();
                prop_assert_eq!(back, given);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn well_typed_members_are_typed() {
        let p = payload(json!({
            "text": "t", "attachments": [{"title": "a", "fields": [{"short": true, "value": 1}]}],
            "priority": {"priority": "urgent"}, "root_id": "r"
        }));
        assert_eq!(p.text, Member::Typed("t".to_string()));
        let att = p.attachments.typed().unwrap()[0].typed().unwrap();
        assert_eq!(att.title.typed().map(String::as_str), Some("a"));
        let field = att.fields.typed().unwrap()[0].typed().unwrap();
        assert_eq!(field.short, Member::Typed(true));
        assert_eq!(field.value, Member::Typed(json!(1)));
        assert_eq!(
            p.priority.typed().unwrap().priority,
            Member::Typed("urgent".into())
        );
        assert_eq!(p.extra["root_id"], "r");
        // A null is kept as given, not read as absent.
        assert_eq!(
            payload(json!({"text": null})).text,
            Member::Other(Value::Null)
        );
    }

    #[test]
    fn attachments_are_added_after_a_list_and_replace_anything_else() {
        let att = || Attachment {
            title: "new".to_string().into(),
            ..Attachment::default()
        };
        for (given, expected) in [
            (json!({}), json!({"attachments": [{"title": "new"}]})),
            (
                json!({"attachments": {}}),
                json!({"attachments": [{"title": "new"}]}),
            ),
            (
                json!({"attachments": null}),
                json!({"attachments": [{"title": "new"}]}),
            ),
            (
                json!({"attachments": [null, 5]}),
                json!({"attachments": [null, 5, {"title": "new"}]}),
            ),
        ] {
            let mut p = payload(given);
            p.push_attachment(att());
            assert_eq!(object(&p), expected);
        }
    }

    #[test]
    fn props_are_added_to_an_object_only() {
        let mut p = payload(json!({"props": {"a": 1}}));
        p.set_card("c").unwrap();
        p.props_mut().unwrap().insert("n".into(), json!(3));
        assert_eq!(object(&p)["props"], json!({"a": 1, "card": "c", "n": 3}));
        let mut fresh = Payload::default();
        fresh.set_card("c").unwrap();
        assert_eq!(object(&fresh), json!({"props": {"card": "c"}}));
        for bad in [json!({"props": null}), json!({"props": [1]})] {
            let e = payload(bad).set_card("c").unwrap_err();
            assert_eq!(error::exit_kind(&e), error::ExitKind::Input);
        }
    }

    #[test]
    fn machine_props_sit_under_their_key() {
        let props = Payload::machine_props(json!({"kind": "x"})).unwrap();
        assert_eq!(Value::Object(props), json!({"mmnotify": {"kind": "x"}}));
    }

    #[test]
    fn fallbacks_skip_members_of_another_type() {
        let mut p = payload(json!({"attachments": [
            {"title": null, "pretext": 5, "text": "shown"},
            {"fallback": null, "fields": [{"title": "N", "value": 2}, {"title": 1, "value": "x"}]},
            {"fallback": "  ", "footer": "f"},
            {"fields": "none"}
        ]}));
        p.ensure_fallbacks();
        let v = object(&p);
        assert_eq!(v["attachments"][0]["fallback"], "shown");
        assert_eq!(v["attachments"][0]["title"], Value::Null);
        assert_eq!(v["attachments"][1]["fallback"], "N: 2");
        assert_eq!(v["attachments"][2]["fallback"], "f");
        assert_eq!(v["attachments"][3]["fallback"], "attachment");
    }

    #[test]
    fn text_of_another_type_is_not_truncated() {
        let mut p = payload(json!({"text": 5}));
        assert!(!p.truncate_text());
        assert_eq!(object(&p), json!({"text": 5}));
    }
}
