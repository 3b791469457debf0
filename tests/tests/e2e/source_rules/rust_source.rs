//! Rust source read just well enough to find paths: comments and the
//! insides of string and character literals blanked (lengths and line
//! breaks kept, so positions still point at the original), test-only
//! items cut out, and the inline modules a position lies in.

/// `source` with every comment and every literal's contents replaced by
/// spaces; line breaks stay where they were.
pub fn blank_comments_and_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br"…": no escapes, ends at a quote and as many #.
            let open = chars[i..].iter().position(|&c| c == '"').unwrap_or(0) + 1;
            out.extend(&chars[i..i + open]);
            i += open;
            while i < chars.len() {
                let closes =
                    chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
                if closes {
                    out.extend(&chars[i..=i + hashes]);
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let escaped = chars[i] == '\\';
                blank(&mut out, chars[i]);
                i += 1;
                if escaped && i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c == '\'' && is_char_literal(&chars, i) {
            out.push('\'');
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                let escaped = chars[i] == '\\';
                blank(&mut out, chars[i]);
                i += 1;
                if escaped && i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            out.push('\'');
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The number of `#` of a raw string starting at `i`, if one does.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let preceded_by_ident = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
    if preceded_by_ident {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some(hashes)
}

/// A quote that opens `'x'` or `'\n'` rather than a lifetime `'a`.
fn is_char_literal(chars: &[char], i: usize) -> bool {
    match chars.get(i + 1) {
        Some('\\') => true,
        Some(_) => chars.get(i + 2) == Some(&'\''),
        None => false,
    }
}

/// `code` (already blanked) with every item under `#[cfg(test)]` (or
/// `cfg(all(test, …))`) replaced by spaces, and the names of the modules
/// so declared without a body (`#[cfg(test)] mod tests;`), whose files
/// are test code too.
pub fn without_test_items(code: &str) -> (String, Vec<String>) {
    let mut bytes = code.as_bytes().to_vec();
    let mut test_modules = Vec::new();
    let mut from = 0;
    while let Some(start) = find_test_attribute(&bytes, from) {
        let end = item_end(&bytes, start);
        let item = String::from_utf8_lossy(&bytes[start..end]).into_owned();
        if let Some(name) = declared_module(&item) {
            test_modules.push(name);
        }
        for b in &mut bytes[start..end] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
        from = end;
    }
    (String::from_utf8_lossy(&bytes).into_owned(), test_modules)
}

fn find_test_attribute(bytes: &[u8], from: usize) -> Option<usize> {
    let text = std::str::from_utf8(&bytes[from..]).ok()?;
    let mut offset = 0;
    while let Some(found) = text[offset..].find("#[cfg(") {
        let at = offset + found;
        let rest: String = text[at + 6..]
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(8)
            .collect();
        if rest.starts_with("test)") || rest.starts_with("all(test") {
            return Some(from + at);
        }
        offset = at + 6;
    }
    None
}

/// Where the item an attribute at `start` belongs to ends: after its `;`
/// or its closing brace, whichever comes first at the outer level.
fn item_end(bytes: &[u8], start: usize) -> usize {
    let mut brackets = 0i32;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'[' | b'(' => brackets += 1,
            b']' | b')' => brackets -= 1,
            b';' if brackets == 0 => return i + 1,
            b'{' if brackets == 0 => {
                return matching_brace(bytes, i).map_or(bytes.len(), |e| e + 1)
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `mod name;` (any visibility, after its attributes): `Some(name)`.
fn declared_module(item: &str) -> Option<String> {
    let words: Vec<&str> = item
        .split(|c: char| c.is_whitespace() || c == ']' || c == ';')
        .filter(|w| !w.is_empty())
        .collect();
    let at = words.iter().position(|w| *w == "mod")?;
    let name = words.get(at + 1)?;
    item.trim_end().ends_with(';').then(|| name.to_string())
}

/// The inline modules (`mod name { … }`) of `code`: each name with the
/// byte range of its body, outermost first.
pub fn inline_modules(code: &str) -> Vec<(String, std::ops::Range<usize>)> {
    let bytes = code.as_bytes();
    let mut modules = Vec::new();
    let mut offset = 0;
    while let Some(found) = code[offset..].find("mod ") {
        let at = offset + found;
        offset = at + 4;
        let starts_word = at == 0 || !is_ident_byte(bytes[at - 1]);
        if !starts_word {
            continue;
        }
        let rest = &code[at + 4..];
        let name: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after_name = rest.trim_start()[name.len()..].trim_start();
        if name.is_empty() || !after_name.starts_with('{') {
            continue;
        }
        let open = code.len() - after_name.len();
        if let Some(close) = matching_brace(bytes, open) {
            modules.push((name, open..close));
        }
    }
    modules
}

pub fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
