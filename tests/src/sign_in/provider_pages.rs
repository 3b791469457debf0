//! Reading the provider's pages a sign-in fills in: the mock's sign-in
//! form and the login and consent forms of panva's `oidc-provider`.

use url::Url;

use crate::browser::Page;

/// The fields of a form a person fills in.
type Fields = Vec<(String, String)>;

/// The mock's sign-in form, filled in as `email` and approved: where it
/// posts and what. `None` when `page` is not that form.
pub(super) fn mock_form(page: &Page, email: &str) -> Option<(Url, Fields)> {
    if page.status != 200 || !page.body.contains("Mock provider") {
        return None;
    }
    let mut fields = hidden_fields(&page.body);
    fields.push(("email".into(), email.to_owned()));
    fields.push(("action".into(), "approve".into()));
    Some((page.url.join("/o/oauth2/v2/auth").ok()?, fields))
}

/// `oidc-provider`'s login form filled in as `email`, or its consent form
/// confirmed. `None` when `page` is neither.
pub(super) fn login_or_consent(page: &Page, email: &str) -> Option<(Url, Fields)> {
    if let Some(action) = interaction_form(page, "login") {
        let fields = [("prompt", "login"), ("login", email), ("password", "any")];
        return Some((action, owned(&fields)));
    }
    let action = interaction_form(page, "consent")?;
    Some((action, owned(&[("prompt", "consent")])))
}

/// The `action` of `oidc-provider`'s form for `prompt` (`login`,
/// `consent`), if `page` is one.
pub fn interaction_form(page: &Page, prompt: &str) -> Option<Url> {
    let marker = format!("name=\"prompt\" value=\"{prompt}\"");
    if !page.body.contains(&marker) {
        return None;
    }
    let start = page.body.find("action=\"")? + "action=\"".len();
    let end = start + page.body[start..].find('"')?;
    page.url
        .join(&page.body[start..end].replace("&amp;", "&"))
        .ok()
}

fn owned(fields: &[(&str, &str)]) -> Fields {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The hidden fields of a form, unescaped.
fn hidden_fields(form: &str) -> Fields {
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!(r#"{name}=""#))? + name.len() + 2;
        let end = start + tag[start..].find('"')?;
        Some(
            tag[start..end]
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&"),
        )
    };
    form.split("<input")
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter(|tag| tag.contains(r#"type="hidden""#))
        .filter_map(|tag| Some((attribute(tag, "name")?, attribute(tag, "value")?)))
        .collect()
}

/// The words of a page, without its markup, for a failure message.
pub(super) fn page_text(html: &str) -> String {
    let body = html.split("<body").nth(1).unwrap_or(html);
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
