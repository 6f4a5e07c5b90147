//! The [`Event`] trait and the small value types every record carries.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A typed event: a payload with a dotted record name, a version and a kind.
///
/// Implement it with `#[derive(Event)]`, which also checks the name at compile time
/// and registers the type for decoding by name:
///
/// ```
/// use herald::Event;
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, Event)]
/// #[event(name = "order.placed", version = 2)]
/// pub struct OrderPlaced {
///     pub order_id: u64,
/// }
///
/// assert_eq!(OrderPlaced::NAME, "order.placed");
/// assert_eq!(OrderPlaced::VERSION, 2);
/// assert_eq!(OrderPlaced::KIND, herald::Kind::Notification);
/// ```
pub trait Event: Serialize + Send + Sync + 'static {
    /// The record name: dotted lowercase segments such as `order.placed`.
    const NAME: &'static str;
    /// The payload version, at least 1.
    const VERSION: u32 = 1;
    /// What the event is for.
    const KIND: Kind = Kind::Notification;
    /// Default time to live; an event older than this is not delivered.
    const TTL: Option<Duration> = None;
    /// Default phase of records of this type.
    const PHASE: Option<Phase> = None;

    /// A per-emission record name, for types whose name depends on their value
    /// (the lifecycle events of section 5). Not public API.
    #[doc(hidden)]
    fn __herald_record_name(&self) -> Option<String> {
        None
    }

    /// The type's routing slot: `#[derive(Event)]` gives each non-generic type its own.
    /// Not public API.
    #[doc(hidden)]
    #[inline]
    fn __herald_route_slot() -> &'static crate::route_slot::RouteSlot {
        crate::route_slot::RouteSlot::none()
    }
}

/// An event that is answered by a response: `#[event(kind = "query", response = R)]`.
pub trait Query: Event {
    /// What a request for this query returns.
    type Response: Event;
}

macro_rules! str_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lowercase name used in attributes, JSON and the command line.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = crate::error::ParseValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(crate::error::ParseValueError::new($what, other)),
                }
            }
        }
    };
}

str_enum! {
    /// What an event is for.
    Kind, "kind" {
        /// Asks for something to be done.
        Command => "command",
        /// Says that something happened (the default).
        #[default]
        Notification => "notification",
        /// Asks for an answer; see [`Query`].
        Query => "query",
        /// Answers a query.
        Response => "response",
        /// Reports an error.
        Error => "error",
    }
}

str_enum! {
    /// Where in its life an operation is.
    Phase, "phase" {
        /// Not started (the default).
        #[default]
        Pending => "pending",
        /// Started.
        Started => "started",
        /// Under way.
        Progress => "progress",
        /// Finishing.
        Completing => "completing",
        /// Finished successfully.
        Completed => "completed",
        /// Finished with an error or a panic.
        Failed => "failed",
        /// Dropped before it finished.
        Cancelled => "cancelled",
    }
}

/// How urgent an event or an operation is: higher runs first.
///
/// The named levels are `Low` (2), `Normal` (5, the default), `High` (8) and
/// `Critical` (10); any other `i32` is a valid priority too.
///
/// ```
/// use herald::Priority;
///
/// assert!(Priority::High > Priority::Normal);
/// assert_eq!(Priority::from(8), Priority::High);
/// assert_eq!(Priority::from(7).value(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(i32);

#[allow(non_upper_case_globals)]
impl Priority {
    /// Priority 2.
    pub const Low: Priority = Priority(2);
    /// Priority 5, the default.
    pub const Normal: Priority = Priority(5);
    /// Priority 8.
    pub const High: Priority = Priority(8);
    /// Priority 10.
    pub const Critical: Priority = Priority(10);

    /// The numeric value.
    pub const fn value(self) -> i32 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::Normal
    }
}

impl From<i32> for Priority {
    fn from(value: i32) -> Self {
        Priority(value)
    }
}

impl From<Priority> for i32 {
    fn from(p: Priority) -> Self {
        p.0
    }
}

impl fmt::Debug for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            2 => "Low",
            5 => "Normal",
            8 => "High",
            10 => "Critical",
            n => return write!(f, "Priority({n})"),
        };
        f.write_str(name)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A reference to an entity: its type name and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    #[serde(rename = "type")]
    type_name: Cow<'static, str>,
    id: uuid::Uuid,
}

impl EntityRef {
    /// An entity of the named type.
    pub fn new(type_name: impl Into<Cow<'static, str>>, id: uuid::Uuid) -> Self {
        EntityRef {
            type_name: type_name.into(),
            id,
        }
    }

    /// An entity of type `T`, named by the last segment of its Rust path.
    pub fn of<T: ?Sized>(id: uuid::Uuid) -> Self {
        EntityRef::new(short_type_name(std::any::type_name::<T>()), id)
    }

    /// The entity's type name.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The entity's id.
    pub fn id(&self) -> uuid::Uuid {
        self.id
    }
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.type_name, self.id)
    }
}

/// The last path segment of a Rust type name, without generic arguments:
/// `my_crate::store::Entity<u32>` gives `Entity`.
pub(crate) fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// `EntityStore` gives `entity_store`; `HTTPServer` gives `http_server`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0
                && (prev_lower || (next_lower && chars[i - 1].is_uppercase()))
                && !out.ends_with('_')
            {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_type_names() {
        assert_eq!(snake_case("EntityStore"), "entity_store");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("Store2"), "store2");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(short_type_name("a::b::Entity<c::D>"), "Entity");
    }

    #[test]
    fn priorities_order_and_parse() {
        assert!(Priority::Critical > Priority::High);
        assert_eq!(format!("{:?}", Priority::Low), "Low");
        assert_eq!("failed".parse::<Phase>().ok(), Some(Phase::Failed));
        assert!("nope".parse::<Kind>().is_err());
    }
}
