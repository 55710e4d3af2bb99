//! JSON from outside, handled without recursion: how deep it nests, whether
//! a string in it holds a NUL, and taking a value apart.
//!
//! serde_json serialises, compares, clones and drops a [`Value`]
//! recursively, one stack frame per level, so a value nested 100,000 deep
//! overflows the stack in any of them. Everything here works with an
//! explicit stack instead, so hookshot can look at such a value, refuse it
//! and let go of it.

use serde_json::Value;

/// What is wrong with a JSON value from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// It nests arrays and objects deeper than allowed.
    TooDeep,
    /// A string or an object key holds a NUL character.
    Nul,
}

/// Whether the JSON `text` nests arrays and objects at most `max_depth`
/// deep, counting brackets outside strings: a scan of the bytes, not a
/// parse, so it neither recurses nor allocates. Text that is not JSON gets
/// an answer too, which only matters until it is parsed and refused.
pub(crate) fn text_nests_within(text: &str, max_depth: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // `"` and `\` are ASCII, never part of a multi-byte UTF-8 character, so
    // a byte scan finds every one.
    for &byte in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// The first fault found in `value`: nesting deeper than `max_depth` and,
/// with `refuse_nul`, a NUL in a string or key. `None` when it has none.
pub(crate) fn fault(value: &Value, max_depth: usize, refuse_nul: bool) -> Option<Fault> {
    let has_nul = |text: &str| refuse_nul && text.contains('\0');
    // Each value with the depth of the arrays and objects around it.
    let mut stack = vec![(value, 0usize)];
    while let Some((value, around)) = stack.pop() {
        match value {
            Value::Array(items) => {
                let depth = around + 1;
                if depth > max_depth {
                    return Some(Fault::TooDeep);
                }
                stack.extend(items.iter().map(|item| (item, depth)));
            }
            Value::Object(members) => {
                let depth = around + 1;
                if depth > max_depth {
                    return Some(Fault::TooDeep);
                }
                for (key, member) in members {
                    if has_nul(key) {
                        return Some(Fault::Nul);
                    }
                    stack.push((member, depth));
                }
            }
            Value::String(text) if has_nul(text) => return Some(Fault::Nul),
            _ => {}
        }
    }
    None
}

/// Drops `value` one level at a time, however deep it nests.
pub(crate) fn dismantle(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        // Its members move to the stack, so what drops here holds nothing.
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.into_iter().map(|(_, member)| member)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `depth` arrays, one inside the next; built in a loop.
    fn nested(depth: usize) -> Value {
        let mut value = Value::Null;
        for _ in 0..depth {
            value = Value::Array(vec![value]);
        }
        value
    }

    #[test]
    fn text_depth_counts_brackets_outside_strings() {
        assert!(text_nests_within("1", 0));
        assert!(!text_nests_within("[]", 0));
        assert!(text_nests_within(r#"{"a": [1, {"b": []}]}"#, 4));
        assert!(!text_nests_within(r#"{"a": [1, {"b": []}]}"#, 3));
        assert!(text_nests_within(r#"["[[[", "\"[[[", "\\", {"{{": 1}]"#, 2));
        assert!(!text_nests_within(r#"["\\", [[]]]"#, 2));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(!text_nests_within(&deep, 128));
    }

    #[test]
    fn value_faults_are_found_without_recursion() {
        assert_eq!(fault(&nested(3), 3, true), None);
        assert_eq!(fault(&nested(4), 3, true), Some(Fault::TooDeep));
        let object = serde_json::json!({"a": {"b": [1, "x"]}});
        assert_eq!(fault(&object, 3, true), None);
        assert_eq!(fault(&object, 2, true), Some(Fault::TooDeep));
        let nul_value = serde_json::json!({"a": ["x\u{0}"]});
        assert_eq!(fault(&nul_value, 3, true), Some(Fault::Nul));
        assert_eq!(fault(&nul_value, 3, false), None);
        let nul_key = serde_json::json!([{"\u{0}": 1}]);
        assert_eq!(fault(&nul_key, 3, true), Some(Fault::Nul));

        let deep = nested(1_000_000);
        assert_eq!(fault(&deep, 128, true), Some(Fault::TooDeep));
        dismantle(deep);
    }
}
