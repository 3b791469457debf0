//! `application/x-www-form-urlencoded` as the WHATWG URL standard's
//! parser reads it (section 5.1), written out plainly: the model the form
//! body and query targets compare the services' readers with.

/// The name/value pairs of `input`, in order, repeated names kept.
pub fn pairs(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|sequence| !sequence.is_empty())
        .map(|sequence| {
            let (name, value) = match sequence.iter().position(|&b| b == b'=') {
                Some(i) => (&sequence[..i], &sequence[i + 1..]),
                None => (sequence, &[][..]),
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// The values of `name`'s pairs, in order.
pub fn values(input: &[u8], name: &str) -> Vec<String> {
    pairs(input)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v)
        .collect()
}

/// `+` is a space, `%XX` (two hex digits) a byte, anything else itself;
/// then UTF-8 with U+FFFD for what is not.
fn decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let [first, tail @ ..] = rest {
        match (first, tail) {
            (b'+', _) => out.push(b' '),
            (b'%', [high, low, ..]) if hex(*high).is_some() && hex(*low).is_some() => {
                out.push(hex(*high).unwrap_or(0) * 16 + hex(*low).unwrap_or(0));
                rest = &tail[2..];
                continue;
            }
            (b, _) => out.push(*b),
        }
        rest = tail;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}
