//! What can be wrong with a config file, and what is only worth a warning.

use core::fmt::{self, Write};

/// Longest key path kept for messages, e.g. `users[12].dialPatterns[3]`.
const KEY_PATH_MAX: usize = 72;

/// Where in the config a value sits, for messages: `port`, `asterisk.port`,
/// `users[2].token`. Long unknown keys are cut short with `…`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct KeyPath(heapless::String<KEY_PATH_MAX>);

impl KeyPath {
    /// The empty path (the top-level object).
    pub const fn root() -> KeyPath {
        KeyPath(heapless::String::new())
    }

    /// A path of one top-level key.
    pub fn key(name: &str) -> KeyPath {
        let mut p = KeyPath::root();
        p.push_key(name);
        p
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Appends `.name` (or `name` at the root). Returns the length before, for
    /// [`KeyPath::truncate`].
    pub fn push_key(&mut self, name: &str) -> usize {
        let before = self.0.len();
        if !self.0.is_empty() {
            self.push_text(".");
        }
        // Keys come from the file: show them printable and short.
        for c in name.chars() {
            let c = if c.is_control() { '?' } else { c };
            if self.0.len() + c.len_utf8() + '…'.len_utf8() > KEY_PATH_MAX - 8 {
                self.push_text("…");
                break;
            }
            let _ = self.0.push(c);
        }
        before
    }

    /// Appends `[index]`. Returns the length before.
    pub fn push_index(&mut self, index: usize) -> usize {
        let before = self.0.len();
        let _ = write!(self.0, "[{index}]");
        before
    }

    /// Cuts the path back to a length returned by a `push_*` call.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    fn push_text(&mut self, s: &str) {
        let _ = self.0.push_str(s);
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(top level)")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.as_str())
    }
}

/// Why a config file was refused. `Display` gives one line that names the
/// file position or the key and says how to fix it; it never contains the
/// AMI secret or a token.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read (missing, no permission, a directory...).
    Read {
        /// The path as given.
        path: String,
        /// What the operating system said.
        error: std::io::Error,
    },
    /// The file is larger than [`crate::limits::CONFIG_MAX_BYTES`].
    TooLarge {
        /// Size in bytes (at least the limit plus one).
        size: u64,
    },
    /// The text is not JSON (with `//` comments) or not one object.
    Syntax {
        /// 1-based line.
        line: u32,
        /// 1-based column, in characters.
        column: u32,
        /// What was expected or found, and the fix.
        what: &'static str,
    },
    /// A key ctibridge does not know.
    UnknownKey {
        /// Where it is.
        key: KeyPath,
        /// The known key it most resembles, if any.
        suggestion: Option<&'static str>,
        /// Extra advice (e.g. "move it to the top level").
        hint: &'static str,
    },
    /// The same key twice (keys are matched without regard to case, and an
    /// old-service key may sit at the top level or under `asterisk`).
    DuplicateKey {
        /// The second occurrence.
        key: KeyPath,
    },
    /// A value of the wrong JSON type.
    WrongType {
        /// Where it is.
        key: KeyPath,
        /// What is accepted, e.g. "true or false (or the strings \"true\"/\"false\")".
        expected: &'static str,
    },
    /// A string longer than its fixed capacity.
    TooLong {
        /// Where it is.
        key: KeyPath,
        /// Most characters (bytes of UTF-8) accepted.
        max: usize,
    },
    /// A list with more items than its fixed capacity.
    TooMany {
        /// The list.
        key: KeyPath,
        /// Most items accepted.
        max: usize,
    },
    /// A number outside its range.
    OutOfRange {
        /// Where it is.
        key: KeyPath,
        /// Smallest accepted.
        min: u64,
        /// Largest accepted (the ceiling from `limits.rs` for capacities).
        max: u64,
    },
    /// A value that is the right type but not acceptable; `fix` says what to
    /// write instead.
    Invalid {
        /// Where it is.
        key: KeyPath,
        /// What is wrong and how to fix it.
        fix: &'static str,
    },
    /// A value the running bridge needs is not set.
    Missing {
        /// The key to add.
        key: KeyPath,
        /// Why it is needed, how to fix it.
        fix: &'static str,
    },
    /// Two users with the same token.
    DuplicateToken {
        /// The later user's token key.
        key: KeyPath,
        /// Index of the earlier user with the same token.
        first: usize,
    },
    /// A token too short to stand against guessing, in a config that talks
    /// to a live PBX (originate costs real money).
    WeakToken {
        /// The token key.
        key: KeyPath,
        /// The shortest accepted.
        min: usize,
    },
    /// A file named by the config does not exist or is not a file.
    MissingFile {
        /// The key naming it.
        key: KeyPath,
        /// The resolved path.
        path: std::path::PathBuf,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConfigError::*;
        match self {
            Read { path, error } => write!(f, "cannot read the config file {path}: {error}"),
            TooLarge { size } => write!(
                f,
                "the config file is {size} bytes, more than the {} accepted: \
                 is it the right file?",
                crate::limits::CONFIG_MAX_BYTES
            ),
            Syntax { line, column, what } => {
                write!(f, "line {line}, column {column}: {what}")
            }
            UnknownKey {
                key,
                suggestion,
                hint,
            } => {
                write!(f, "unknown key {key}")?;
                if let Some(s) = suggestion {
                    write!(f, ": did you mean \"{s}\"?")?;
                } else if hint.is_empty() {
                    f.write_str(": remove it (docs/config.md lists every key)")?;
                }
                if !hint.is_empty() {
                    write!(f, " ({hint})")?;
                }
                Ok(())
            }
            DuplicateKey { key } => write!(
                f,
                "{key} is set twice (keys ignore case, and an old-service key may \
                 sit at the top level or under \"asterisk\", not both): keep one"
            ),
            WrongType { key, expected } => write!(f, "{key}: expected {expected}"),
            TooLong { key, max } => {
                write!(f, "{key}: too long, at most {max} bytes are accepted")
            }
            TooMany { key, max } => write!(f, "{key}: too many items, at most {max}"),
            OutOfRange { key, min, max } => {
                write!(
                    f,
                    "{key}: out of range, use a whole number from {min} to {max}"
                )
            }
            Invalid { key, fix } => write!(f, "{key}: {fix}"),
            Missing { key, fix } => write!(f, "{key} is not set: {fix}"),
            DuplicateToken { key, first } => write!(
                f,
                "{key} is the same as users[{first}].token: give each user its own token"
            ),
            WeakToken { key, min } => write!(
                f,
                "{key} is shorter than {min} characters, too easy to guess for a bridge \
                 that can place calls on a live PBX: use a long random one \
                 (e.g. `openssl rand -hex 16`)"
            ),
            MissingFile { key, path } => {
                write!(f, "{key}: no such file {}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Something in a config that works but deserves the operator's attention.
/// [`crate::config::load`] logs each one with `log::warn!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The file can be read by every local user, and it holds the AMI
    /// secret (not reported for a config without one, like the demo).
    ReadableByOthers {
        /// The config file.
        path: std::path::PathBuf,
    },
    /// Short tokens, accepted because the config replays a file
    /// (`filePath`) and cannot place real calls.
    ShortTokens {
        /// The first short token's key.
        first: KeyPath,
        /// How many tokens are short.
        count: usize,
    },
    /// No users: nobody can sign in over WebSocket.
    NoUsers,
    /// A key of the old .NET service (or of its appsettings.json) that
    /// ctibridge does not use.
    Ignored {
        /// The key.
        key: KeyPath,
    },
    /// `amiAuth` is `plain` and the PBX is not on this machine: the secret
    /// crosses the network in clear text.
    PlainAuthOverNetwork,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ReadableByOthers { path } => write!(
                f,
                "{} can be read by every user on this machine and holds the AMI secret: \
                 chmod 640 it (owner root, group of the service)",
                path.display()
            ),
            Warning::ShortTokens { first, count } => {
                if *count == 1 {
                    write!(f, "{first} is")?;
                } else {
                    write!(f, "{count} tokens ({first} first) are")?;
                }
                write!(
                    f,
                    " shorter than {} characters: fine for a replay, refused against a live PBX",
                    super::TOKEN_MIN_LIVE
                )
            }
            Warning::NoUsers => f.write_str(
                "no users: nobody can sign in over WebSocket (add entries to \"users\")",
            ),
            Warning::Ignored { key } => write!(
                f,
                "{key} is a setting of the old .NET service that ctibridge does not use: ignored"
            ),
            Warning::PlainAuthOverNetwork => f.write_str(
                "amiAuth is \"plain\" and the PBX is not on this machine: the AMI secret \
                 crosses the network in clear text (use \"md5\")",
            ),
        }
    }
}
