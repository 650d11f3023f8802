//! serde-json-core reads the prepared text into bounded raw values: keys are
//! matched (without regard to case), unknown and duplicate keys refused,
//! shapes checked, strings bounded. Values are still text here; `build`
//! gives them meaning.
//!
//! Every leaf is a string after `text::prepare` (bare scalars carry the
//! [`BARE`] tag), so `deserialize_ignored_any` works as a type dispatch:
//! it calls `visit_str`, `visit_seq` or `visit_map` on the next byte.
//! Visitors carry a `&mut Ctx`: the key path for messages and the first
//! [`ConfigError`], which serde's own error type could not hold.

use super::error::{ConfigError, KeyPath};
use super::text::BARE;
use super::{build, Users, Warning, DIAL_PATTERN_MAX, PACKET_INFO_KEY_MAX};
use crate::limits::{MAX_DIAL_PATTERNS, MAX_PACKET_INFO_KEYS, MAX_USERS};
use core::fmt;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Longest raw scalar kept (the longest key limit, `screenPopUrl`).
const RAW_MAX: usize = 256;
/// Longest key kept; longer keys are unknown anyway and shown cut short.
const KEY_MAX: usize = 64;

/// Every top-level key. The first [`OLD_FIELDS`] are the old service's and
/// may also sit under `"asterisk"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Url,
    Port,
    UserName,
    Secret,
    OriginateContext,
    ParkingLotContext,
    AutoPauseOnCommutationStart,
    QueueExtensionFormat,
    AsyncOriginate,
    SendRingStartedOnRingingState,
    TraceQueuesState,
    Protocol,
    PacketInfoConfig,
    FilePath,
    WsListen,
    HealthListen,
    AmiAuth,
    Users,
    MaxChannels,
    MaxClients,
    ClientQueue,
    AmiBufferSize,
    AmiMaxLine,
    AmiMaxFields,
    LogLevel,
    ReplayGapMs,
    ReplayLoop,
    PingIntervalS,
    ActionTimeoutS,
    ConnectTimeoutS,
    TlsCert,
    TlsKey,
    ScreenPopUrl,
    OriginateRatePerMinute,
    Asterisk,
}

/// How many fields there are.
pub(super) const FIELDS: usize = Field::Asterisk as usize + 1;
// The duplicate check keeps one bit per field in a u64.
const _: () = assert!(FIELDS <= 64);

/// The old service's keys come first in [`Field`].
const OLD_FIELDS: usize = Field::FilePath as usize + 1;

/// Spelling of every key, in [`Field`] order.
pub(super) const KEYS: [(&str, Field); FIELDS] = {
    use Field::*;
    [
        ("url", Url),
        ("port", Port),
        ("userName", UserName),
        ("secret", Secret),
        ("originateContext", OriginateContext),
        ("parkingLotContext", ParkingLotContext),
        ("autoPauseOnCommutationStart", AutoPauseOnCommutationStart),
        ("queueExtensionFormat", QueueExtensionFormat),
        ("asyncOriginate", AsyncOriginate),
        (
            "sendRingStartedOnRingingState",
            SendRingStartedOnRingingState,
        ),
        ("traceQueuesState", TraceQueuesState),
        ("protocol", Protocol),
        ("packetInfoConfig", PacketInfoConfig),
        ("filePath", FilePath),
        ("wsListen", WsListen),
        ("healthListen", HealthListen),
        ("amiAuth", AmiAuth),
        ("users", Users),
        ("maxChannels", MaxChannels),
        ("maxClients", MaxClients),
        ("clientQueue", ClientQueue),
        ("amiBufferSize", AmiBufferSize),
        ("amiMaxLine", AmiMaxLine),
        ("amiMaxFields", AmiMaxFields),
        ("logLevel", LogLevel),
        ("replayGapMs", ReplayGapMs),
        ("replayLoop", ReplayLoop),
        ("pingIntervalS", PingIntervalS),
        ("actionTimeoutS", ActionTimeoutS),
        ("connectTimeoutS", ConnectTimeoutS),
        ("tlsCert", TlsCert),
        ("tlsKey", TlsKey),
        ("screenPopUrl", ScreenPopUrl),
        ("originateRatePerMinute", OriginateRatePerMinute),
        ("asterisk", Asterisk),
    ]
};

/// Top-level keys of an appsettings.json (or of the old service) that
/// ctibridge does not use: accepted with a warning, so a whole file can be
/// pasted.
const TOLERATED: [&str; 5] = [
    "$schema",
    "Logging",
    "AllowedHosts",
    "Kestrel",
    "ConnectionStrings",
];

/// The keys of one user object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserField {
    Name,
    Line,
    Token,
    Context,
    Debug,
    DialPatterns,
}

pub(super) const USER_KEYS: [(&str, UserField); 6] = [
    ("name", UserField::Name),
    ("line", UserField::Line),
    ("token", UserField::Token),
    ("context", UserField::Context),
    ("debug", UserField::Debug),
    ("dialPatterns", UserField::DialPatterns),
];

/// What is accepted, for messages.
const EXPECT_BOOL: &str = "true or false (the strings \"true\" and \"false\" work too)";
const EXPECT_NUMBER: &str = "a whole number (a number in double quotes works too)";
const EXPECT_STRING: &str = "a string in double quotes";
const EXPECT_LIST: &str = "a list of strings, [\"A\", \"B\"], or one string \"A,B\"";

impl Field {
    fn is_old(self) -> bool {
        (self as usize) < OLD_FIELDS
    }

    /// The most bytes a value may have.
    pub(super) fn max_len(self) -> usize {
        use super::*;
        match self {
            Field::Url => HOST_MAX,
            Field::UserName => USER_NAME_MAX,
            Field::Secret => SECRET_MAX,
            Field::OriginateContext | Field::ParkingLotContext => CONTEXT_MAX,
            Field::QueueExtensionFormat => QUEUE_FORMAT_MAX,
            Field::FilePath | Field::TlsCert | Field::TlsKey => PATH_MAX,
            Field::ScreenPopUrl => SCREEN_POP_URL_MAX,
            // Listen addresses, enums, numbers: short.
            _ => 64,
        }
    }

    fn expected(self) -> &'static str {
        use Field::*;
        match self {
            AutoPauseOnCommutationStart
            | AsyncOriginate
            | SendRingStartedOnRingingState
            | TraceQueuesState
            | ReplayLoop => EXPECT_BOOL,
            Port
            | MaxChannels
            | MaxClients
            | ClientQueue
            | AmiBufferSize
            | AmiMaxLine
            | AmiMaxFields
            | ReplayGapMs
            | PingIntervalS
            | ActionTimeoutS
            | ConnectTimeoutS
            | OriginateRatePerMinute => EXPECT_NUMBER,
            PacketInfoConfig => EXPECT_LIST,
            Users => "a list of users, [ { \"name\": ..., \"line\": ..., \"token\": ... } ]",
            Asterisk => "an object, { \"url\": ..., \"port\": ... }",
            _ => EXPECT_STRING,
        }
    }
}

/// One scalar as written: its text (without quotes, escapes resolved) and
/// whether it was bare (`true`, `5038`) or quoted.
#[derive(Debug, Clone)]
pub(super) struct Scalar {
    /// Where it was, for messages (`port` or `asterisk.port`).
    pub key: KeyPath,
    pub text: heapless::String<RAW_MAX>,
    pub bare: bool,
}

/// A list of short strings, from `["a","b"]` or `"a,b"`.
pub(super) type List<const L: usize, const C: usize> = heapless::Vec<heapless::String<L>, C>;

/// One user object as written.
#[derive(Debug, Default)]
pub(super) struct RawUser {
    pub name: Option<Scalar>,
    pub line: Option<Scalar>,
    pub token: Option<Scalar>,
    pub context: Option<Scalar>,
    pub debug: Option<Scalar>,
    pub dial_patterns: Option<(KeyPath, List<DIAL_PATTERN_MAX, MAX_DIAL_PATTERNS>)>,
}

/// The whole file as read.
pub(super) struct Raw {
    /// Scalar values by [`Field`]; `None` when absent or `null`.
    pub scalars: [Option<Scalar>; FIELDS],
    pub packet_info: Option<(KeyPath, List<PACKET_INFO_KEY_MAX, MAX_PACKET_INFO_KEYS>)>,
    /// Users, each already checked on its own (see `build::user`).
    pub users: Option<Box<Users>>,
    /// Tolerated keys that were skipped, as warnings.
    pub warnings: heapless::Vec<Warning, { super::MAX_WARNINGS }>,
}

impl Raw {
    pub(super) fn get(&self, f: Field) -> Option<&Scalar> {
        self.scalars[f as usize].as_ref()
    }
}

struct Ctx {
    path: KeyPath,
    error: Option<ConfigError>,
    raw: Raw,
    /// Fields already given (bit per [`Field`]), for duplicates.
    seen: u64,
}

impl Ctx {
    /// Records `e` as the reason and returns serde's error to unwind with.
    fn fail<E: de::Error>(&mut self, e: ConfigError) -> E {
        if self.error.is_none() {
            self.error = Some(e);
        }
        E::custom("see ctx.error")
    }

    fn wrong_type<E: de::Error>(&mut self, expected: &'static str) -> E {
        let key = self.path.clone();
        self.fail(ConfigError::WrongType { key, expected })
    }
}

/// Reads prepared text (see `text::prepare`) into [`Raw`].
pub(super) fn read(prepared: &[u8]) -> Result<Raw, ConfigError> {
    let mut ctx = Ctx {
        path: KeyPath::root(),
        error: None,
        raw: Raw {
            scalars: core::array::from_fn(|_| None),
            packet_info: None,
            users: None,
            warnings: heapless::Vec::new(),
        },
        seen: 0,
    };
    // Unescaped strings are never longer than their escaped form.
    let mut unescape = vec![0u8; prepared.len()];
    let mut de = serde_json_core::de::Deserializer::new(prepared, Some(&mut unescape));
    let result = Top(&mut ctx)
        .deserialize(&mut de)
        .and_then(|()| de.end().map(|_| ()));
    match (result, ctx.error) {
        (Ok(()), None) => Ok(ctx.raw),
        (_, Some(e)) => Err(e),
        // The text pass has checked the syntax, so this is a value serde
        // could not read where no visitor said why.
        (Err(e), None) => Err(ConfigError::Invalid {
            key: ctx.path,
            fix: match e {
                serde_json_core::de::Error::InvalidType => "not the kind of value expected here",
                serde_json_core::de::Error::InvalidEscapeSequence => {
                    "an escape that cannot be read"
                }
                _ => "a value that cannot be read",
            },
        }),
    }
}

/// Matches `key` against `table` without regard to case.
fn lookup<T: Copy>(table: &[(&'static str, T)], key: &str) -> Option<T> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|&(_, v)| v)
}

/// The known key closest to a misspelt one, if close enough.
pub(super) fn suggest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = if key.chars().count() >= 6 { 2 } else { 1 };
    known
        .map(|k| (distance(key, k), k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Edit distance, ignoring ASCII case; keys are short.
fn distance(a: &str, b: &str) -> usize {
    let b: heapless::Vec<char, KEY_MAX> = b.chars().take(KEY_MAX).collect();
    let mut row: heapless::Vec<usize, { KEY_MAX + 1 }> = (0..=b.len()).collect();
    for (i, ca) in a.chars().take(KEY_MAX).enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(&b[j]));
            let next = (row[j] + 1).min(row[j + 1] + 1).min(diag + cost);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A key, cut to [`KEY_MAX`] bytes and marked `…` when longer (longer keys
/// are unknown anyway).
struct Key;

/// A key as read, with room for the `…` mark.
type KeyText = heapless::String<{ KEY_MAX + 3 }>;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = KeyText;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // `deserialize_str`: serde-json-core's key deserializer panics on
        // `deserialize_string` and `deserialize_any`.
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = KeyText;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let mut k = KeyText::new();
        for c in v.chars() {
            if k.len() + c.len_utf8() > KEY_MAX {
                let _ = k.push('…');
                break;
            }
            let _ = k.push(c);
        }
        Ok(k)
    }
}

/// The top-level object.
struct Top<'c>(&'c mut Ctx);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_ignored_any(Members {
            ctx: self.0,
            section: false,
        })
    }
}

/// The members of the top-level object (`section: false`) or of the
/// `"asterisk"` object (`section: true`).
struct Members<'c> {
    ctx: &'c mut Ctx,
    section: bool,
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        // Only reachable for "asterisk": null means "not set".
        if v.strip_prefix(BARE) == Some("null") {
            return Ok(());
        }
        Err(self.ctx.wrong_type(Field::Asterisk.expected()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.ctx.wrong_type(Field::Asterisk.expected()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        while let Some(key) = map.next_key_seed(Key)? {
            let mark = ctx.path.push_key(&key);
            match lookup(&KEYS, &key) {
                Some(field) if self.section && (!field.is_old()) => {
                    let key = ctx.path.clone();
                    return Err(ctx.fail(ConfigError::UnknownKey {
                        key,
                        suggestion: None,
                        hint: "only the old service's settings go under \"asterisk\": \
                               move it to the top level",
                    }));
                }
                Some(field) => {
                    let bit = 1u64 << field as usize;
                    if ctx.seen & bit != 0 {
                        let key = ctx.path.clone();
                        return Err(ctx.fail(ConfigError::DuplicateKey { key }));
                    }
                    ctx.seen |= bit;
                    match field {
                        Field::Asterisk => map.next_value_seed(Section(&mut *ctx))?,
                        Field::Users => map.next_value_seed(UsersSeed(&mut *ctx))?,
                        Field::PacketInfoConfig => {
                            let list = map.next_value_seed(ListSeed::<
                                PACKET_INFO_KEY_MAX,
                                MAX_PACKET_INFO_KEYS,
                            > {
                                ctx: &mut *ctx,
                            })?;
                            ctx.raw.packet_info = list.map(|l| (ctx.path.clone(), l));
                        }
                        _ => {
                            let v = map.next_value_seed(ScalarSeed {
                                ctx: &mut *ctx,
                                max: field.max_len(),
                                expected: field.expected(),
                            })?;
                            ctx.raw.scalars[field as usize] = v;
                        }
                    }
                }
                None if !self.section && lookup(&TOLERATED.map(|k| (k, ())), &key).is_some() => {
                    map.next_value::<IgnoredAny>()?;
                    let _ = ctx.raw.warnings.push(Warning::Ignored {
                        key: ctx.path.clone(),
                    });
                }
                None => {
                    let known = KEYS[..if self.section { OLD_FIELDS } else { FIELDS }]
                        .iter()
                        .map(|&(k, _)| k);
                    let suggestion = suggest(&key, known);
                    let key = ctx.path.clone();
                    return Err(ctx.fail(ConfigError::UnknownKey {
                        key,
                        suggestion,
                        hint: "",
                    }));
                }
            }
            ctx.path.truncate(mark);
        }
        Ok(())
    }
}

/// The `"asterisk"` object.
struct Section<'c>(&'c mut Ctx);

impl<'de> DeserializeSeed<'de> for Section<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_ignored_any(Members {
            ctx: self.0,
            section: true,
        })
    }
}

/// One scalar of at most `max` bytes; `None` for `null`.
struct ScalarSeed<'c> {
    ctx: &'c mut Ctx,
    max: usize,
    expected: &'static str,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed<'_> {
    type Value = Option<Scalar>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_ignored_any(self)
    }
}

impl<'de> Visitor<'de> for ScalarSeed<'_> {
    type Value = Option<Scalar>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let (bare, text) = match v.strip_prefix(BARE) {
            Some(t) => (true, t),
            None => (false, v),
        };
        if bare && text == "null" {
            return Ok(None);
        }
        let key = self.ctx.path.clone();
        if text.len() > self.max {
            return Err(self.ctx.fail(ConfigError::TooLong { key, max: self.max }));
        }
        let text = heapless::String::try_from(text).map_err(|_| {
            self.ctx.fail(ConfigError::TooLong {
                key: self.ctx.path.clone(),
                max: RAW_MAX,
            })
        })?;
        Ok(Some(Scalar { key, text, bare }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.ctx.wrong_type(self.expected))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.ctx.wrong_type(self.expected))
    }
}

/// A list of at most `C` strings of at most `L` bytes, from an array or from
/// one string separated by commas, semicolons or spaces. `None` for `null`.
struct ListSeed<'c, const L: usize, const C: usize> {
    ctx: &'c mut Ctx,
}

impl<'de, const L: usize, const C: usize> DeserializeSeed<'de> for ListSeed<'_, L, C> {
    type Value = Option<List<L, C>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_ignored_any(self)
    }
}

impl<const L: usize, const C: usize> ListSeed<'_, L, C> {
    fn add<E: de::Error>(&mut self, list: &mut List<L, C>, item: &str) -> Result<(), E> {
        let Ok(s) = heapless::String::try_from(item) else {
            let mark = self.ctx.path.push_index(list.len());
            let key = self.ctx.path.clone();
            self.ctx.path.truncate(mark);
            return Err(self.ctx.fail(ConfigError::TooLong { key, max: L }));
        };
        if list.push(s).is_err() {
            let key = self.ctx.path.clone();
            return Err(self.ctx.fail(ConfigError::TooMany { key, max: C }));
        }
        Ok(())
    }
}

impl<'de, const L: usize, const C: usize> Visitor<'de> for ListSeed<'_, L, C> {
    type Value = Option<List<L, C>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECT_LIST)
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<Self::Value, E> {
        match v.strip_prefix(BARE) {
            Some("null") => return Ok(None),
            Some(_) => return Err(self.ctx.wrong_type(EXPECT_LIST)),
            None => {}
        }
        let mut list = List::new();
        for item in v.split([',', ';', ' ', '\t']).filter(|s| !s.is_empty()) {
            self.add(&mut list, item)?;
        }
        Ok(Some(list))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = List::new();
        loop {
            let mark = self.ctx.path.push_index(list.len());
            let item = seq.next_element_seed(ScalarSeed {
                ctx: &mut *self.ctx,
                max: L,
                expected: EXPECT_STRING,
            })?;
            let Some(item) = item else {
                self.ctx.path.truncate(mark);
                break;
            };
            let Some(item) = item else {
                let key = self.ctx.path.clone();
                return Err(self.ctx.fail(ConfigError::Invalid {
                    key,
                    fix: "a null item: remove it",
                }));
            };
            let text = item.text.trim();
            if item.bare && (text == "true" || text == "false") {
                return Err(self.ctx.wrong_type(EXPECT_STRING));
            }
            if text.is_empty() {
                let key = self.ctx.path.clone();
                return Err(self.ctx.fail(ConfigError::Invalid {
                    key,
                    fix: "an empty item: remove it",
                }));
            }
            self.ctx.path.truncate(mark);
            self.add(&mut list, text)?;
        }
        Ok(Some(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.ctx.wrong_type(EXPECT_LIST))
    }
}

/// The `users` list.
struct UsersSeed<'c>(&'c mut Ctx);

impl<'de> DeserializeSeed<'de> for UsersSeed<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_ignored_any(self)
    }
}

impl<'de> Visitor<'de> for UsersSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Field::Users.expected())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if v.strip_prefix(BARE) == Some("null") {
            return Ok(());
        }
        Err(self.0.wrong_type(Field::Users.expected()))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.0.wrong_type(Field::Users.expected()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.0;
        let mut users: Box<Users> = Box::default();
        loop {
            let index = users.len();
            let mark = ctx.path.push_index(index);
            let Some(raw) = seq.next_element_seed(UserSeed(&mut *ctx))? else {
                ctx.path.truncate(mark);
                break;
            };
            if users.is_full() {
                ctx.path.truncate(mark);
                let key = ctx.path.clone();
                return Err(ctx.fail(ConfigError::TooMany {
                    key,
                    max: MAX_USERS,
                }));
            }
            let user = build::user(raw, &ctx.path).map_err(|e| ctx.fail(e))?;
            let _ = users.push(user);
            ctx.path.truncate(mark);
        }
        ctx.raw.users = Some(users);
        Ok(())
    }
}

/// One user object.
struct UserSeed<'c>(&'c mut Ctx);

impl<'de> DeserializeSeed<'de> for UserSeed<'_> {
    type Value = RawUser;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawUser, D::Error> {
        d.deserialize_ignored_any(self)
    }
}

const EXPECT_USER: &str = "a user object, { \"name\": ..., \"line\": ..., \"token\": ... }";

impl<'de> Visitor<'de> for UserSeed<'_> {
    type Value = RawUser;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXPECT_USER)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<RawUser, E> {
        Err(self.0.wrong_type(EXPECT_USER))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<RawUser, A::Error> {
        Err(self.0.wrong_type(EXPECT_USER))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawUser, A::Error> {
        let ctx = self.0;
        let mut user = RawUser::default();
        let mut seen = 0u8;
        while let Some(key) = map.next_key_seed(Key)? {
            let mark = ctx.path.push_key(&key);
            let Some(field) = lookup(&USER_KEYS, &key) else {
                let suggestion = suggest(&key, USER_KEYS.iter().map(|&(k, _)| k));
                let key = ctx.path.clone();
                return Err(ctx.fail(ConfigError::UnknownKey {
                    key,
                    suggestion,
                    hint: "",
                }));
            };
            let bit = 1u8 << field as u8;
            if seen & bit != 0 {
                let key = ctx.path.clone();
                return Err(ctx.fail(ConfigError::DuplicateKey { key }));
            }
            seen |= bit;
            let (slot, max, expected) = match field {
                UserField::Name => (&mut user.name, super::NAME_MAX, EXPECT_STRING),
                UserField::Line => (
                    &mut user.line,
                    super::LINE_MAX,
                    "the line number, e.g. \"1000\"",
                ),
                UserField::Token => (&mut user.token, super::TOKEN_MAX, EXPECT_STRING),
                UserField::Context => (&mut user.context, super::CONTEXT_MAX, EXPECT_STRING),
                UserField::Debug => (&mut user.debug, 8, EXPECT_BOOL),
                UserField::DialPatterns => {
                    let list =
                        map.next_value_seed(ListSeed::<DIAL_PATTERN_MAX, MAX_DIAL_PATTERNS> {
                            ctx: &mut *ctx,
                        })?;
                    user.dial_patterns = list.map(|l| (ctx.path.clone(), l));
                    ctx.path.truncate(mark);
                    continue;
                }
            };
            *slot = map.next_value_seed(ScalarSeed {
                ctx: &mut *ctx,
                max,
                expected,
            })?;
            ctx.path.truncate(mark);
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_its_key_in_order() {
        for (i, (_, f)) in KEYS.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }

    #[test]
    fn misspelt_keys_get_the_nearest_known_one() {
        let all = || KEYS.iter().map(|&(k, _)| k);
        assert_eq!(suggest("wsListn", all()), Some("wsListen"));
        assert_eq!(suggest("secrect", all()), Some("secret"));
        assert_eq!(suggest("USERNAM", all()), Some("userName"));
        assert_eq!(suggest("prt", all()), Some("port"));
        assert_eq!(suggest("completelydifferent", all()), None);
    }
}
