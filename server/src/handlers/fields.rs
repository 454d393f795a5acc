//! Strict request bodies for the campus routes: every member is checked (type, range, length,
//! date, enumeration), unknown members are refused, and *every* problem is reported at once
//! as a 422 listing each bad field ([`ApiError::Invalid`]), so a client fixes a form in one
//! round trip. Nested objects (bulk records) report paths like `records[3].code`.

use campushub_db::pgtypes::Date;
use serde_json::{Map, Value};

use super::{json_body, Request};
use crate::api_error::{ApiError, FieldError};

/// A JSON object being read field by field, collecting what is wrong.
pub struct Fields {
    prefix: String,
    map: Map<String, Value>,
    known: Vec<&'static str>,
    errors: Vec<FieldError>,
}

/// Most bad fields one 422 lists: a body of thousands of unknown members must not buy an
/// answer larger than itself (a 167 KB request once produced a 1.31 MB answer).
pub const MAX_FIELD_ERRORS: usize = 50;

/// Longest member name echoed back in a 422 (longer ones are cut, marked with `...`).
const MAX_ECHOED_NAME: usize = 64;

/// Whether a string holds a control character or an invisible formatting character: names,
/// codes and titles never need one, a NUL cannot be stored, and bidirectional overrides or
/// zero-width characters make one name look like another (`admin\u{200B}` beside `admin`,
/// a right-to-left override that reverses what a list shows). The zero-width (non-)joiner is
/// part of spelling in Persian and Indic scripts, so it passes between two non-ASCII letters.
pub fn has_control(s: &str) -> bool {
    let letter = |c: Option<char>| c.is_some_and(|c| c.is_alphabetic() && !c.is_ascii());
    let mut prev = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let bad = c.is_control()
            || match c {
                '\u{200C}' | '\u{200D}' => !(letter(prev) && letter(chars.peek().copied())),
                // Zero-width space, LRM, RLM, bidi embeddings and overrides, word joiner and
                // the invisible operators, bidi isolates, the Arabic letter mark, the
                // Mongolian vowel separator, the byte-order mark (zero-width no-break space),
                // interlinear annotation, and the tag characters.
                '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}' => true,
                _ => false,
            };
        if bad {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// A JSON value whose objects, at every depth, name each member once: serde_json's map keeps
/// the last of two equal keys, so `{"role":"x","role":"y"}` would pass whatever checked the
/// first (a proxy, a WAF, a log) and store the second.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.contains_key(&k) {
                return Err(serde::de::Error::custom(format_args!(
                    "the member {:?} appears twice",
                    echo(&k)
                )));
            }
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// A member name as a 422 may echo it: at most [`MAX_ECHOED_NAME`] characters.
fn echo(name: &str) -> String {
    if name.chars().count() <= MAX_ECHOED_NAME {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(MAX_ECHOED_NAME).collect();
        s.push_str("...");
        s
    }
}

impl Fields {
    /// The request's body, which must be one JSON object naming each member once, at every
    /// depth (415 / 422 otherwise).
    pub fn parse(req: &Request<'_>) -> Result<Fields, ApiError> {
        let Strict(v) = json_body(req)?;
        match v {
            Value::Object(map) => Ok(Fields::of(map, String::new())),
            _ => Err(ApiError::Unprocessable(
                "The body is not a JSON object of the expected shape: expected an object.".into(),
            )),
        }
    }

    /// An object nested at `prefix` (e.g. `records[3]`).
    pub fn of(map: Map<String, Value>, prefix: String) -> Fields {
        Fields {
            prefix,
            map,
            known: Vec::new(),
            errors: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// Records that `name` is wrong because `detail`.
    pub fn bad(&mut self, name: &str, detail: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError::new(field, detail));
    }

    /// Whether the body has member `name` (null included).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The raw member: `None` when absent, or when required and absent (recorded).
    fn take(&mut self, name: &'static str, required: bool) -> Option<Value> {
        self.known.push(name);
        match self.map.get(name) {
            None => {
                if required {
                    self.bad(name, "is required");
                }
                None
            }
            Some(Value::Null) => {
                if required {
                    self.bad(name, "must not be null");
                }
                None
            }
            Some(v) => Some(v.clone()),
        }
    }

    /// A string of 1 to `max` characters without control characters, not only spaces.
    pub fn text(&mut self, name: &'static str, required: bool, max: usize) -> Option<String> {
        let v = self.take(name, required)?;
        let Value::String(s) = v else {
            return self.refuse(name, "must be a string");
        };
        if s.trim().is_empty() {
            self.bad(name, "must not be empty");
        } else if s.chars().count() > max {
            self.bad(name, format!("must be at most {max} characters"));
        } else if has_control(&s) {
            self.bad(
                name,
                "must not contain control or invisible formatting characters",
            );
        } else {
            return Some(s);
        }
        None
    }

    /// A member that may be set to null to clear it: `None` absent, `Some(None)` null.
    pub fn nullable_text(&mut self, name: &'static str, max: usize) -> Option<Option<String>> {
        match self.map.get(name) {
            None => {
                self.known.push(name);
                None
            }
            Some(Value::Null) => {
                self.known.push(name);
                Some(None)
            }
            Some(_) => self.text(name, false, max).map(Some),
        }
    }

    /// An email address: one `@` with something on both sides, no spaces, at most 254 bytes.
    pub fn email(&mut self, name: &'static str) -> Option<Option<String>> {
        let v = self.nullable_text(name, 254)?;
        if let Some(e) = &v {
            let ok = e.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }) && !e.contains(char::is_whitespace);
            if !ok {
                return self.refuse(name, "must be an email address like name@example.edu");
            }
        }
        Some(v)
    }

    /// One of `choices`.
    pub fn one_of(
        &mut self,
        name: &'static str,
        required: bool,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        let v = self.take(name, required)?;
        match v.as_str().and_then(|s| choices.iter().find(|c| **c == s)) {
            Some(c) => Some(*c),
            None => self.refuse(name, format!("must be one of {}", choices.join(", "))),
        }
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, name: &'static str, required: bool, min: i64, max: i64) -> Option<i64> {
        let v = self.take(name, required)?;
        match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => self.refuse(name, format!("must be between {min} and {max}")),
            None => self.refuse(name, "must be an integer"),
        }
    }

    /// A number in `min..=max` with at most `decimals` decimal places.
    pub fn number(
        &mut self,
        name: &'static str,
        required: bool,
        min: f64,
        max: f64,
        decimals: i32,
    ) -> Option<f64> {
        let v = self.take(name, required)?;
        let Some(n) = v.as_f64().filter(|n| n.is_finite()) else {
            return self.refuse(name, "must be a number");
        };
        if !(min..=max).contains(&n) {
            return self.refuse(name, format!("must be between {min} and {max}"));
        }
        let scaled = n * 10f64.powi(decimals);
        if (scaled - scaled.round()).abs() > 1e-6 {
            return self.refuse(name, format!("must have at most {decimals} decimal places"));
        }
        Some(n)
    }

    /// A boolean.
    pub fn boolean(&mut self, name: &'static str, required: bool) -> Option<bool> {
        let v = self.take(name, required)?;
        match v.as_bool() {
            Some(b) => Some(b),
            None => self.refuse(name, "must be true or false"),
        }
    }

    /// A public id.
    pub fn uuid(&mut self, name: &'static str, required: bool) -> Option<uuid::Uuid> {
        let v = self.take(name, required)?;
        match v.as_str().and_then(|s| uuid::Uuid::try_parse(s).ok()) {
            Some(u) => Some(u),
            None => self.refuse(name, "must be a UUID"),
        }
    }

    /// A calendar date `YYYY-MM-DD` that exists (no 2026-02-30).
    pub fn date(&mut self, name: &'static str, required: bool) -> Option<Date> {
        let v = self.take(name, required)?;
        match v.as_str().and_then(parse_date) {
            Some(d) => Some(d),
            None => self.refuse(name, "must be a date like 2026-11-30 that exists"),
        }
    }

    /// An array of at most `max` elements (each checked by the caller).
    pub fn array(&mut self, name: &'static str, required: bool, max: usize) -> Option<Vec<Value>> {
        let v = self.take(name, required)?;
        match v {
            Value::Array(a) if a.len() <= max => Some(a),
            Value::Array(_) => self.refuse(name, format!("must have at most {max} elements")),
            _ => self.refuse(name, "must be an array"),
        }
    }

    /// Object `name` (optional), to be read as fields of its own (`name.member` in errors) and
    /// then absorbed; a value that is not an object is reported.
    pub fn object(&mut self, name: &'static str) -> Option<Fields> {
        match self.take(name, false)? {
            Value::Object(m) => Some(Fields::of(m, self.path(name))),
            _ => self.refuse(name, "must be an object"),
        }
    }

    /// Reads array `name` (required, at most `max` entries): each entry is an object, read by
    /// `read` as fields of its own (`name[i].member` in errors), then absorbed; an entry that is
    /// not an object is reported.
    pub fn each_object(
        &mut self,
        name: &'static str,
        max: usize,
        mut read: impl FnMut(&mut Fields),
    ) {
        let list = self.array(name, true, max).unwrap_or_default();
        for (i, v) in list.into_iter().enumerate() {
            let Value::Object(m) = v else {
                self.bad(&format!("{name}[{i}]"), "must be an object");
                continue;
            };
            let mut entry = Fields::of(m, format!("{name}[{i}]"));
            read(&mut entry);
            self.absorb(entry);
        }
    }

    /// Reports `name` as bad (see [`Fields::bad`]): the value read, none.
    fn refuse<T>(&mut self, name: &str, detail: impl Into<String>) -> Option<T> {
        self.bad(name, detail);
        None
    }

    /// Adds the errors of a nested object.
    pub fn absorb(&mut self, nested: Fields) {
        let mut nested = nested;
        nested.refuse_unknown();
        self.errors.append(&mut nested.errors);
    }

    fn refuse_unknown(&mut self) {
        let mut unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.known.contains(&k.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        for k in unknown {
            self.bad(&echo(&k), "is not a member of this request");
        }
    }

    /// Whether nothing is wrong so far.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Done: 422 listing every bad field (unknown members included), or nothing. At most
    /// [`MAX_FIELD_ERRORS`] are listed; one last entry says how many more there were.
    pub fn finish(mut self) -> Result<(), ApiError> {
        self.refuse_unknown();
        if self.errors.is_empty() {
            return Ok(());
        }
        if self.errors.len() > MAX_FIELD_ERRORS {
            let more = self.errors.len() - MAX_FIELD_ERRORS;
            self.errors.truncate(MAX_FIELD_ERRORS);
            self.errors.push(FieldError::new(
                "body",
                format!("{more} more problems are not listed: fix these first"),
            ));
        }
        Err(ApiError::Invalid(self.errors))
    }
}

/// A date `YYYY-MM-DD` between 1900 and 9999 that exists.
pub fn parse_date(v: &str) -> Option<Date> {
    let b = v.as_bytes();
    // Digits only: `str::parse` would take `+1` for a month (`2026-+1-+1` was 2026-01-01).
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return None;
    }
    let y: i32 = v.get(0..4)?.parse().ok()?;
    let m: u32 = v.get(5..7)?.parse().ok()?;
    let d: u32 = v.get(8..10)?.parse().ok()?;
    if !(1900..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = campushub_db::pgtypes::days_from_civil(y, m, d);
    (campushub_db::pgtypes::civil_from_days(days) == (y, m, d)).then_some(Date(days))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Fields {
        match v {
            Value::Object(m) => Fields::of(m, String::new()),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let mut f = fields(serde_json::json!({
            "name": "", "year": 11, "when": "2026-02-30", "id": "nope", "extra": 1,
            "kind": "x", "email": "a@b", "score": 1.234
        }));
        assert_eq!(f.text("name", true, 10), None);
        assert_eq!(f.int("year", true, 1, 10), None);
        assert_eq!(f.date("when", true), None);
        assert_eq!(f.uuid("id", true), None);
        assert_eq!(f.one_of("kind", true, &["a", "b"]), None);
        assert_eq!(f.email("email"), None);
        assert_eq!(f.number("score", true, 0.0, 10.0, 2), None);
        assert_eq!(f.text("missing", true, 10), None);
        let Err(ApiError::Invalid(errors)) = f.finish() else {
            panic!("not invalid")
        };
        let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            names,
            ["name", "year", "when", "id", "kind", "email", "score", "missing", "extra"]
        );
    }

    #[test]
    fn good_fields_pass_and_null_clears() {
        let mut f = fields(serde_json::json!({
            "name": "Ada", "year": 2, "when": "2024-02-29", "email": null, "score": 9.5
        }));
        assert_eq!(f.text("name", true, 10).as_deref(), Some("Ada"));
        assert_eq!(f.int("year", true, 1, 10), Some(2));
        assert!(f.date("when", true).is_some());
        assert_eq!(f.email("email"), Some(None));
        assert_eq!(f.number("score", true, 0.0, 10.0, 2), Some(9.5));
        assert!(f.finish().is_ok());
    }

    #[test]
    fn control_characters_are_refused() {
        let mut f = fields(serde_json::json!({"name": "a\u{7}b"}));
        assert_eq!(f.text("name", true, 10), None);
        assert!(f.finish().is_err());
    }

    /// Security review: `2026-+1-+1` was stored as 2026-01-01.
    #[test]
    fn dates_are_digits_only() {
        assert!(parse_date("2026-+1-+1").is_none());
        assert!(parse_date("+026-01-01").is_none());
        assert!(parse_date("2026-01- 1").is_none());
        assert!(parse_date("2026-01-01").is_some());
    }

    /// Security review: names with right-to-left overrides or zero-width characters passed.
    #[test]
    fn invisible_formatting_characters_are_refused() {
        for bad in [
            "adm\u{202E}nim",
            "admin\u{200B}",
            "\u{FEFF}Ada",
            "Ad\u{2066}a",
            "Ad\u{200D}a",
            "\u{200C}",
        ] {
            let mut f = fields(serde_json::json!({ "name": bad }));
            assert_eq!(f.text("name", true, 20), None, "{bad:?}");
        }
        // Persian spelling keeps its zero-width non-joiner between letters.
        let mut f =
            fields(serde_json::json!({"name": "\u{0645}\u{06CC}\u{200C}\u{0631}\u{0648}\u{062F}"}));
        assert!(f.text("name", true, 20).is_some());
        assert!(f.finish().is_ok());
    }

    /// Security review: `{"a":1,"a":2}` was read as `{"a":2}`.
    #[test]
    fn duplicate_members_are_refused_at_every_depth() {
        for body in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"records":[{"code":"P","code":"A"}]}"#,
        ] {
            let e = sonic_rs::from_slice::<Strict>(body).err().expect("refused");
            assert!(e.to_string().contains("appears twice"), "{e}");
        }
        let Strict(v) = sonic_rs::from_slice(br#"{"a":[1,2.5,"x",null,true,{"b":{}}]}"#).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": [1, 2.5, "x", null, true, {"b": {}}]})
        );
    }

    /// Security review: a 167 KB body of bad members produced a 1.31 MB answer.
    #[test]
    fn the_list_of_bad_fields_is_capped() {
        let mut m = Map::new();
        for i in 0..5000 {
            m.insert(format!("{i}{}", "x".repeat(200)), Value::from(i));
        }
        let Err(ApiError::Invalid(errors)) = Fields::of(m, String::new()).finish() else {
            panic!("not invalid")
        };
        assert_eq!(errors.len(), MAX_FIELD_ERRORS + 1);
        assert!(errors.iter().all(|e| e.field.len() <= MAX_ECHOED_NAME + 3));
        assert!(errors[MAX_FIELD_ERRORS].detail.starts_with("4950 more"));
    }
}
